import FuzzSupport

/// libFuzzer target: see FuzzEntries.safetensors.
@_cdecl("fuzz_safetensors_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv, FuzzEntries.safetensors)
}
