import FuzzSupport

/// libFuzzer target: see FuzzEntries.fixations.
@_cdecl("fuzz_fixations_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv, FuzzEntries.fixations)
}
