import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One parsed /metrics answer (Prometheus text format 0.0.4).
struct MetricsText {
    struct Sample { var name: String; var labels: [String: String]; var value: Double }
    var samples: [Sample] = []
    var types: [String: String] = [:]
    var helps: [String: String] = [:]
    /// Lines that are neither comments nor well-formed samples.
    var malformed: [String] = []

    init(_ text: String) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) {
            if line.hasPrefix("# TYPE ") || line.hasPrefix("# HELP ") {
                let parts = line.dropFirst(7).split(separator: " ", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { malformed.append(line); continue }
                if line.hasPrefix("# TYPE ") { types[parts[0]] = parts[1] } else { helps[parts[0]] = parts[1] }
                continue
            }
            if let s = Self.sample(line) { samples.append(s) } else { malformed.append(line) }
        }
    }

    /// name{k="v",...} value — label values may hold escaped quotes, backslashes and newlines.
    static func sample(_ line: String) -> Sample? {
        let chars = Array(line)
        var i = 0
        var name = ""
        while i < chars.count, chars[i].isLetter || chars[i].isNumber || chars[i] == "_" || chars[i] == ":" { name.append(chars[i]); i += 1 }
        guard !name.isEmpty, i < chars.count else { return nil }
        var labels: [String: String] = [:]
        if chars[i] == "{" {
            i += 1
            while i < chars.count, chars[i] != "}" {
                var key = ""
                while i < chars.count, chars[i] != "=" { key.append(chars[i]); i += 1 }
                guard i + 1 < chars.count, chars[i + 1] == "\"" else { return nil }
                i += 2
                var value = ""
                while i < chars.count, chars[i] != "\"" {
                    if chars[i] == "\\", i + 1 < chars.count {
                        i += 1
                        value.append(chars[i] == "n" ? "\n" : chars[i])
                    } else { value.append(chars[i]) }
                    i += 1
                }
                guard i < chars.count else { return nil }
                i += 1
                labels[key] = value
                if i < chars.count, chars[i] == "," { i += 1 }
            }
            guard i < chars.count else { return nil }
            i += 1
        }
        guard i < chars.count, chars[i] == " " else { return nil }
        let rest = String(chars[(i + 1)...])
        let value: Double? = switch rest {
        case "+Inf": .infinity
        case "-Inf": -.infinity
        case "NaN": .nan
        default: Double(rest)
        }
        guard let value else { return nil }
        return Sample(name: name, labels: labels, value: value)
    }

    /// Values of `name` whose labels include `labels`.
    func values(_ name: String, _ labels: [String: String] = [:]) -> [Double] {
        samples.filter { s in s.name == name && labels.allSatisfy { k, v in s.labels[k] == v } }.map(\.value)
    }

    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        let v = values(name, labels)
        return v.count == 1 ? v[0] : nil
    }

    /// Every sample's family has a TYPE line (histogram samples through their _bucket/_sum/_count suffix).
    var untyped: [String] {
        samples.map(\.name).filter { name in
            if types[name] != nil { return false }
            for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
                if types[String(name.dropLast(suffix.count))] == "histogram" { return false }
            }
            return true
        }
    }
}

enum MetricsHTTP {
    /// GET a URL: status and body text.
    static func get(_ url: String) async throws -> (status: Int, body: String, contentType: String?) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: url)!)
        let http = response as? HTTPURLResponse
        return (http?.statusCode ?? 0, String(decoding: data, as: UTF8.self), http?.value(forHTTPHeaderField: "Content-Type"))
    }

    static func scrape(_ base: String, query: String = "") async throws -> MetricsText {
        let r = try await get("\(base)/metrics\(query)")
        guard r.status == 200 else { throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "GET /metrics: \(r.status) \(r.body)"]) }
        return MetricsText(r.body)
    }
}

/// A corrald process with the web console on a free loopback port, on a temporary root.
final class MetricsCorrald {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static var binary: String? {
        [Bundle.main.bundleURL.appendingPathComponent("corrald").path,
         packageRoot.appendingPathComponent(".build/debug/corrald").path].first { FileManager.default.isExecutableFile(atPath: $0) }
    }
    static let virshPath = "/usr/bin/virsh"
    static var haveVirsh: Bool { FileManager.default.isExecutableFile(atPath: virshPath) }
    static var haveQEMU: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-system-x86_64") }

    let dir: String
    var root: String { "\(dir)/root" }
    var uri: String { "qemu+unix:///system?socket=\(root)/run/libvirt-sock" }
    let process = Process()
    private(set) var base = ""

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("corral-metrics-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: "\(dir)/corrald.log", contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(dir)/corrald.log"))
        guard let binary = Self.binary else { throw CocoaError(.fileNoSuchFile) }
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--root", root, "--http", "127.0.0.1:0", "--no-autostart"]
        process.standardOutput = log; process.standardError = log
        try process.run()
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let m = logText.firstMatch(of: /web console on (http:\/\/127\.0\.0\.1:\d+)\//) {
                base = String(m.1)
                return
            }
            guard process.isRunning else { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        stop()
        throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "corrald did not start its web console: \(logText)"])
    }

    var logText: String { (try? String(contentsOfFile: "\(dir)/corrald.log", encoding: .utf8)) ?? "" }

    /// virsh against this daemon: exit status and output.
    @discardableResult
    func virsh(_ args: String...) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.virshPath)
        p.arguments = ["-c", uri] + args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out; p.standardError = err; p.standardInput = FileHandle.nullDevice
        try p.run()
        // virsh's output is small: reading after exit cannot fill a pipe.
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
                String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: dir)
    }
}
