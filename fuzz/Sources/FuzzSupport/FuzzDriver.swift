import Foundation

@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

/// The input handler of this process (libFuzzer calls back through a C function pointer, which cannot capture).
private var handler: ((Data) -> Void)?

/// Runs libFuzzer with the process's arguments, handing each input to `body`.
///
/// SwiftPM links an executable target with its `main` renamed to `<module>_main`; each target defines that
/// symbol and calls this, so libFuzzer's own `main` is never needed (it clashes with SwiftPM's renaming).
public func runFuzzer(argc: CInt, argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
                      _ body: @escaping (Data) -> Void) -> CInt {
    handler = body
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { bytes, size in
        handler!(size == 0 ? Data() : Data(bytes: bytes!, count: size))
        return 0
    }
}
