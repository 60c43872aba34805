import FuzzSupport

/// libFuzzer target: see FuzzEntries.pickle.
@_cdecl("fuzz_pickle_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv, FuzzEntries.pickle)
}
