import Foundation
import GuestFS

// libFuzzer harness for the image readers: one target per reader, chosen by GUESTFS_FUZZ_TARGET
// (or a first argument --target=NAME, removed before libFuzzer parses its flags):
//   qcow2       the input is a qcow2 file (backing files refused), then read as a disk
//   partition   the input is a disk: partition table, LVM, filesystems on what they find
//   lvm         the same path as partition, seeded with PVs
//   ext4 fat iso9660 xfs
//               the input is a filesystem opened through openFilesystem (so each reader is
//               reached as soon as detection dispatches to it) and walked within a budget
// Build and run: scripts/fuzz.sh (release, -sanitize=fuzzer,address, -DLIBFUZZER, linked with lld
// into .build/fuzz-guestfs, like remote-fuzzer, whose link gold fails).
// Without LIBFUZZER it replays files: `GUESTFS_FUZZ_TARGET=ext4 guestfs-fuzzer FILE...`.

nonisolated(unsafe) var target = FuzzTarget.partition

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    _ = target.run(bytes)
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
        var args = CommandLine.arguments
        var name = ProcessInfo.processInfo.environment["GUESTFS_FUZZ_TARGET"]
        var dropped = 0
        if args.count > 1, args[1].hasPrefix("--target=") {
            name = String(args[1].dropFirst("--target=".count))
            args.remove(at: 1)
            dropped = 1
        }
        guard let chosen = FuzzTarget(rawValue: name ?? "partition") else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
            FileHandle.standardError.write(Data("guestfs-fuzzer: unknown target \"\(name ?? "")\" (\(names))\n".utf8))
            exit(2)
        }
        target = chosen
        #if LIBFUZZER
        var argc = CommandLine.argc - CInt(dropped)
        // argv[0] stays; a consumed --target= argument is skipped by moving argv[0] over it.
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv + dropped
        if dropped > 0 { CommandLine.unsafeArgv[dropped] = CommandLine.unsafeArgv[0] }
        exit(LLVMFuzzerRunDriver(&argc, &argv) { fuzzOne($0, $1) })
        #else
        _ = dropped
        for path in args.dropFirst() {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            let stats = target.run(bytes)
            print("\(path): \(stats.summary)")
        }
        #endif
    }
}
