import Foundation
import Testing
@testable import GuestFS

/// Builds the image fixtures once per test process with scripts/guest-images.sh (idempotent), into
/// .build/guest-images or $GUEST_IMAGES_DIR.
enum ImageFixtures {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static let built: Result<String, FixtureError> = {
        let dir = ProcessInfo.processInfo.environment["GUEST_IMAGES_DIR"] ?? root + "/.build/guest-images"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [root + "/scripts/guest-images.sh", dir]
        do { try p.run() } catch { return .failure(FixtureError(text: "cannot run guest-images.sh: \(error)")) }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            return .failure(FixtureError(text: "guest-images.sh exited with \(p.terminationStatus)"))
        }
        return .success(dir)
    }()

    struct FixtureError: Error, CustomStringConvertible { var text: String; var description: String { text } }

    static func path(_ name: String) throws -> String { try built.get() + "/" + name }

    /// Whether the script could build a fixture (the 4096-byte-sector disk needs loop devices).
    static func exists(_ name: String) -> Bool {
        (try? path(name)).map { FileManager.default.fileExists(atPath: $0) } ?? false
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(name))))
    }

    static func json(_ name: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(bytes(name)))
        return try #require((object as? [String: Any])?["partitiontable"] as? [String: Any])
    }

    /// A scratch directory for hostile variants of the fixtures; the caller removes it.
    static func scratch(_ label: String) throws -> String {
        let dir = try built.get() + "/scratch-\(label)-\(getpid())"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}

/// An in-memory device for hand-built structures.
struct MemoryDevice: BlockDevice {
    var bytes: [UInt8]
    var size: UInt64 { UInt64(bytes.count) }
    func read(at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] {
        guard count >= 0, offset <= size, UInt64(count) <= size - offset else { throw GuestFSError("memory device: out of range") }
        return Array(bytes[Int(offset)..<(Int(offset) + count)])
    }
}

extension Array where Element == UInt8 {
    mutating func putBE(_ v: UInt64, at o: Int, width: Int) {
        for i in 0..<width { self[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(width - 1 - i))) }
    }
    mutating func putLE(_ v: UInt64, at o: Int, width: Int) {
        for i in 0..<width { self[o + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
    }
}

/// Reads a whole device in 1 MiB chunks.
func readAll(_ device: any BlockDevice) throws -> [UInt8] {
    var out: [UInt8] = []
    var pos: UInt64 = 0
    while pos < device.size {
        let n = Int(Swift.min(UInt64(1 << 20), device.size - pos))
        out += try device.read(at: pos, count: n)
        pos += UInt64(n)
    }
    return out
}
