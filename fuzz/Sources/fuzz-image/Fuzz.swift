import FuzzSupport

/// libFuzzer target: see FuzzEntries.image.
@_cdecl("fuzz_image_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv, FuzzEntries.image)
}
