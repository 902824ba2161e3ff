import Foundation
import RemoteProtocol

// libFuzzer harness for RemoteProtocol's decoders:
//   swift build --product remote-fuzzer -Xswiftc -sanitize=fuzzer -Xswiftc -DLIBFUZZER
//   .build/debug/remote-fuzzer -max_total_time=60 CORPUS_DIR
// Without LIBFUZZER it is a corpus replayer: `remote-fuzzer FILE...` runs each file once.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRemoteProtocol(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    RemoteProtocolFuzz.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

#if !LIBFUZZER
@main
struct Replay {
    static func main() throws {
        for path in CommandLine.arguments.dropFirst() {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            print("\(path): \(RemoteProtocolFuzz.run(bytes)) values decoded")
        }
    }
}
#endif
