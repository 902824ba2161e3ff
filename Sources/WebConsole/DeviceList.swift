import DomainXML
import Foundation

/// The hardware list of a guest: each `<devices>` child with a one-line summary and its own XML
/// (what the hardware page shows and what detach/update take back).
struct DeviceJSON: Codable, Sendable, Equatable {
    var kind: String
    var summary: String
    var xml: String
}

enum DeviceList {
    /// Devices in document order. The XML of each comes from the parsed model formatted as
    /// libvirt prints it; the summary from the model's fields (the n-th <disk> element is
    /// `devices.disks[n]`, and so on). Elements Corral does not model still get a row.
    static func list(_ def: Domain) -> [DeviceJSON] {
        var seen: [String: Int] = [:]
        return elements(ofDevicesIn: def.formatXML()).compactMap { el in
            guard el.name != "emulator" else { return nil }
            let n = seen[el.name, default: 0]
            seen[el.name] = n + 1
            return DeviceJSON(kind: el.name, summary: summary(def, el.name, n) ?? el.name, xml: el.xml)
        }
    }

    // MARK: Summaries

    static func summary(_ def: Domain, _ kind: String, _ n: Int) -> String? {
        let d = def.devices
        func at<T>(_ list: [T]) -> T? { list.indices.contains(n) ? list[n] : nil }
        func join(_ parts: String?...) -> String { parts.compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ") }
        switch kind {
        case "disk":
            guard let x = at(d.disks) else { return nil }
            var source = x.sourcePath
            if x.type == "volume" {
                let a = x.sourceExtra.attributes
                if let pool = a.first(where: { $0.name == "pool" })?.value, let vol = a.first(where: { $0.name == "volume" })?.value {
                    source = "\(pool)/\(vol)"
                }
            }
            let bus = x.targetBus ?? Domain.diskBus(forTarget: x.targetDev)
            return join(x.device, x.targetDev, bus, source ?? "(empty)", x.readonly && x.device != "cdrom" ? "readonly" : nil)
        case "interface":
            guard let x = at(d.interfaces) else { return nil }
            return join("interface", x.type, x.sourceNetwork ?? x.sourceBridge, x.model, x.mac)
        case "controller":
            guard let x = at(d.controllers) else { return nil }
            return join("controller", x.type, String(x.index), x.model)
        case "graphics":
            guard let x = at(d.graphics) else { return nil }
            let port = x.port.flatMap { $0 > 0 ? "port \($0)" : nil } ?? ((x.autoport ?? true) ? "autoport" : nil)
            return join("graphics", x.type, port, x.listen.map { "listen \($0)" })
        case "video":
            return at(d.videos).map { join("video", $0.model, $0.heads.map { "heads \($0)" }) }
        case "input":
            return at(d.inputs).map { join("input", $0.type, $0.bus) }
        case "sound":
            return at(d.sounds).map { join("sound", $0.model) }
        case "audio":
            return at(d.audios).map { join("audio", $0.type, "id \($0.id)") }
        case "serial", "console", "parallel", "channel":
            let list = kind == "serial" ? d.serials : kind == "console" ? d.consoles : kind == "parallel" ? d.parallels : d.channels
            return at(list).map { join(kind, $0.type, $0.targetName ?? $0.targetType, $0.targetPort.map { "port \($0)" }, $0.sourcePath) }
        case "hostdev":
            guard let x = at(d.hostdevs) else { return nil }
            if let v = x.vendorID, let p = x.productID { return join("hostdev", x.type, "\(v):\(p)") }
            if let b = x.sourceBus, let dv = x.sourceDevice { return join("hostdev", x.type, String(format: "%03d.%03d", b, dv)) }
            return join("hostdev", x.type)
        case "redirdev":
            return at(d.redirdevs).map { join("redirdev", $0.bus, $0.type) }
        case "filesystem":
            return at(d.filesystems).map { join("filesystem", $0.driverType, $0.sourceDir, $0.targetDir.map { "-> \($0)" }) }
        case "rng":
            return at(d.rngs).map { join("rng", $0.model, $0.backendModel, $0.backendPath) }
        case "watchdog":
            return at(d.watchdogs).map { join("watchdog", $0.model, $0.action) }
        case "tpm":
            return at(d.tpms).map { join("tpm", $0.model, $0.backendType, $0.backendVersion) }
        case "memballoon":
            return n == 0 ? d.memballoon.map { join("memballoon", $0.model) } : nil
        default:
            return nil
        }
    }

    // MARK: Splitting the formatted document

    /// The children of /domain/devices in `xml` (the formatter's own output: well-formed, quoted
    /// attributes, escaped text), each re-indented to stand alone. A small scanner rather than a
    /// second XML parser; anything it does not understand ends the list instead of trapping.
    static func elements(ofDevicesIn xml: String) -> [(name: String, xml: String)] {
        let b = Array(xml.utf8)
        var out: [(String, String)] = []
        var stack: [String] = []
        var start: Int?
        var i = 0
        func matches(_ p: [UInt8], at j: Int) -> Bool {
            j + p.count <= b.count && p.indices.allSatisfy { b[j + $0] == p[$0] }
        }
        func find(_ pattern: String, from: Int) -> Int? {
            let p = Array(pattern.utf8)
            var j = from
            while j + p.count <= b.count {
                if matches(p, at: j) { return j }
                j += 1
            }
            return nil
        }
        func inDevices() -> Bool { stack.count == 2 && stack[0] == "domain" && stack[1] == "devices" }
        while i < b.count {
            guard b[i] == UInt8(ascii: "<") else { i += 1; continue }
            if matches(Array("<!--".utf8), at: i) {
                guard let close = find("-->", from: i + 4) else { break }
                i = close + 3
                continue
            }
            if i + 1 < b.count, b[i + 1] == UInt8(ascii: "?") {
                guard let close = find("?>", from: i + 2) else { break }
                i = close + 2
                continue
            }
            // Find the tag's end, skipping quoted attribute values.
            var j = i + 1
            var quote: UInt8?
            while j < b.count {
                let c = b[j]
                if let q = quote { if c == q { quote = nil } } else if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") { quote = c } else if c == UInt8(ascii: ">") { break }
                j += 1
            }
            guard j < b.count else { break }
            let closing = b[i + 1] == UInt8(ascii: "/")
            let selfClosing = b[j - 1] == UInt8(ascii: "/")
            var k = closing ? i + 2 : i + 1
            let nameStart = k
            while k < j, !isSpace(b[k]), b[k] != UInt8(ascii: "/"), b[k] != UInt8(ascii: ">") { k += 1 }
            let name = String(decoding: b[nameStart..<k], as: UTF8.self)
            if closing {
                guard stack.last == name else { break }
                stack.removeLast()
                if inDevices(), let s = start {
                    out.append((name, reindent(String(decoding: b[s...j], as: UTF8.self))))
                    start = nil
                }
            } else {
                if inDevices() {
                    if selfClosing { out.append((name, reindent(String(decoding: b[i...j], as: UTF8.self)))) } else { start = i }
                }
                if !selfClosing { stack.append(name) }
            }
            i = j + 1
        }
        return out
    }

    private static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x09 || c == 0x0D }

    /// Drops the indentation the element had inside `<devices>` (4 spaces in libvirt's layout).
    private static func reindent(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().map { i, line in
            i > 0 && line.hasPrefix("    ") ? String(line.dropFirst(4)) : String(line)
        }.joined(separator: "\n") + "\n"
    }
}
