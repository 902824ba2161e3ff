import Foundation
import Testing
import Hypervisor
@testable import Storage

/// A fresh state root, removed when the test ends.
final class TempRoot {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "corral-storage-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

func dirPoolXML(_ name: String, _ path: String, uuid: String? = nil) -> String {
    "<pool type='dir'><name>\(name)</name>\(uuid.map { "<uuid>\($0)</uuid>" } ?? "")<target><path>\(path)</path></target></pool>"
}

func volXML(_ name: String, capacity: UInt64, allocation: UInt64? = nil, format: String = "raw", extra: String = "") -> String {
    "<volume><name>\(name)</name><capacity unit='bytes'>\(capacity)</capacity>"
        + (allocation.map { "<allocation unit='bytes'>\($0)</allocation>" } ?? "")
        + "<target><format type='\(format)'/></target>\(extra)</volume>"
}

/// A started dir pool under the root.
func startedDirPool(_ m: StorageManager, _ root: TempRoot, name: String = "p") async throws -> StoragePoolRef {
    let ref = try await m.defineStoragePool(xml: dirPoolXML(name, root.path + "/" + name), flags: 0)
    try await m.buildStoragePool(ref, flags: [])
    try await m.startStoragePool(ref, flags: [])
    return ref
}

/// The message of the error `body` throws, nil if it succeeds.
func errorText(_ body: () async throws -> Void) async -> String? {
    do { try await body(); return nil } catch { return "\(error)" }
}

func run(_ argv: [String]) -> (status: Int32, out: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = argv
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return (-1, "") }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

func readAll(_ stream: any ByteStream) async throws -> [UInt8] {
    var out: [UInt8] = []
    while let chunk = try await stream.read() { out += chunk }
    return out
}

func allocatedBytes(_ path: String) -> UInt64 {
    var st = stat()
    guard stat(path, &st) == 0 else { return 0 }
    return UInt64(st.st_blocks) * 512
}

let isRoot = getuid() == 0
let haveQemuImg = FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-img")
let haveLVM = ["/usr/sbin/lvcreate", "/sbin/lvcreate"].contains { FileManager.default.isExecutableFile(atPath: $0) }
    && ["/usr/sbin/losetup", "/sbin/losetup"].contains { FileManager.default.isExecutableFile(atPath: $0) }
