#if canImport(Glibc)
    import Glibc
#endif

// libFuzzer entry point for Gatehouse's two parsers, through the real pipelines in memory.
//
// Built only on request (it needs the fuzzer runtime; see the end of Package.swift):
//
//     GATEHOUSE_LIBFUZZER=1 swift build --product gatehouse-fuzz -Xswiftc -sanitize=fuzzer
//     .build/debug/gatehouse-fuzz -max_total_time=600 -max_len=2048 Fuzz/corpus
//
// The first input byte chooses the direction (even: the bytes are a client's request stream;
// odd: an upstream's response), the rest are the bytes. A crash, a trap or a failed invariant
// (`fatalError` below) is a finding; the seeded fuzz tests in GatehouseCoreTests check the full
// set of invariants on every CI run.

/// SwiftPM links an executable target's own `main`, so libFuzzer is started through its
/// `LLVMFuzzerRunDriver` (the runtime's `main` is then not linked in).
@main
enum GatehouseFuzzMain {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, gatehouseFuzzOneInput))
    }
}

@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

@_cdecl("LLVMFuzzerTestOneInput")
public func gatehouseFuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let selector = bytes.first else { return 0 }
    let payload = Array(bytes.dropFirst())
    if selector & 1 == 0 {
        FuzzHarness.request(payload)
    } else {
        FuzzHarness.response(payload, isHead: selector & 2 != 0)
    }
    return 0
}
