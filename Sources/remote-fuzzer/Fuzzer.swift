import Foundation
import RemoteProtocol

// libFuzzer harness for RemoteProtocol's decoders:
//   swift build --build-path /tmp/fuzzbuild --product remote-fuzzer -Xswiftc -sanitize=fuzzer \
//       -Xswiftc -DLIBFUZZER -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld
//   /tmp/fuzzbuild/debug/remote-fuzzer -max_total_time=60 CORPUS_DIR
// (lld: gold fails on this link.) 121k runs in 20 s from a one-packet corpus found nothing.
// Without LIBFUZZER it is a corpus replayer: `remote-fuzzer FILE...` runs each file once.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    RemoteProtocolFuzz.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

#if LIBFUZZER
// SwiftPM supplies `main` for executables, so libFuzzer's own main is not linked; its
// driver is entered explicitly instead.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt
#endif

@main
struct Fuzzer {
    static func main() throws {
        #if LIBFUZZER
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { fuzzOne($0, $1) })
        #else
        for path in CommandLine.arguments.dropFirst() {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            print("\(path): \(RemoteProtocolFuzz.run(bytes)) values decoded")
        }
        #endif
    }
}
