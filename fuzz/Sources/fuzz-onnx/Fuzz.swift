import FuzzSupport

/// libFuzzer target: see FuzzEntries.onnx.
@_cdecl("fuzz_onnx_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv, FuzzEntries.onnx)
}
