import FuzzSupport

/// libFuzzer target: see FuzzEntries.imageNetCSV.
@_cdecl("fuzz_imagenet_csv_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc: argc, argv: argv, FuzzEntries.imageNetCSV)
}
