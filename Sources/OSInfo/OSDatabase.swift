import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// osinfo-db loaded from its directory (Debian: /usr/share/osinfo): every `os/*/*.xml` (and the
/// `*.d/*.xml` fragments that add to an OS), with inheritance resolved. Files that do not parse
/// are skipped and listed in `errors`: one bad file must not take the wizard down.
public final class OSDatabase: Sendable {
    public struct LoadError: Sendable, Equatable, CustomStringConvertible {
        public var file: String
        public var message: String
        public var description: String { "\(file): \(message)" }
    }

    public let root: String
    /// By URI.
    public let variants: [String: OSVariant]
    public let errors: [LoadError]
    /// Short id → URI (every short id of every OS, plus "generic").
    private let shortIDIndex: [String: String]
    /// Device URI → class name ("net", "controller.usb", ...) and name ("virtio1.0-net"), from device/.
    public let deviceNames: [String: String]

    /// Parses the whole database now (about a second for Debian's 900 files; see `shared`).
    public init(root: String) {
        self.root = root
        var errors: [LoadError] = []
        var raw: [String: RawOS] = [:]
        var order: [String] = []
        let fm = FileManager.default
        let osDir = (root as NSString).appendingPathComponent("os")
        // libxml2 under FoundationXML is not safe to drive from several threads at once.
        Self.parseLock.lock()
        defer { Self.parseLock.unlock() }
        // An OS's own file first, then the NAME.d/ fragments that add driver data to it.
        let files = Self.xmlFiles(under: osDir)
        let isFragment = { (file: String) in file.dropFirst(osDir.count).contains(".d/") }
        for file in files.filter({ !isFragment($0) }) + files.filter(isFragment) {
            do {
                for os in try Self.parseOSFile(file) {
                    if var existing = raw[os.id] {
                        existing.merge(os)          // a .d fragment adding drivers to the same OS
                        raw[os.id] = existing
                    } else {
                        raw[os.id] = os
                        order.append(os.id)
                    }
                }
            } catch {
                errors.append(LoadError(file: file, message: "\(error)"))
            }
        }
        if !fm.fileExists(atPath: osDir) {
            errors.append(LoadError(file: osDir, message: "no such directory"))
        }
        var names: [String: String] = [:]
        for file in Self.xmlFiles(under: (root as NSString).appendingPathComponent("device")) {
            guard let rootEl = try? Self.document(file) else { continue }
            for dev in rootEl.elements(forName: "device") {
                guard let id = dev.attribute(forName: "id")?.stringValue,
                      let name = dev.elements(forName: "name").first(where: { $0.attribute(forName: "xml:lang") == nil })?.stringValue
                else { continue }
                names[id] = name
            }
        }
        deviceNames = names

        var resolved: [String: OSVariant] = [:]
        for id in order { _ = Self.resolve(id, raw: raw, resolved: &resolved, visiting: []) }
        var index: [String: String] = ["generic": OSVariant.generic.id]
        for id in order {
            guard let v = resolved[id] else { continue }
            for s in v.shortIDs where index[s] == nil { index[s] = id }
        }
        resolved[OSVariant.generic.id] = OSVariant.generic
        variants = resolved
        shortIDIndex = index
        self.errors = errors
    }

    private static let parseLock = NSLock()
    private static let cache = Locked<[String: OSDatabase]>([:])

    /// The database for `root`, parsed once per process (the wizard asks on every keystroke).
    public static func shared(root: String = "/usr/share/osinfo") -> OSDatabase {
        if let db = cache.withLock({ $0[root] }) { return db }
        // Callers that arrive during the first parse wait for it instead of parsing again.
        loadLock.lock()
        defer { loadLock.unlock() }
        if let db = cache.withLock({ $0[root] }) { return db }
        let db = OSDatabase(root: root)
        cache.withLock { $0[root] = db }
        return db
    }

    private static let loadLock = NSLock()

    /// By short id ("debian11", "win11", "generic") or URI.
    public func lookup(_ key: String) -> OSVariant? {
        if let v = variants[key] { return v }
        return shortIDIndex[key].flatMap { variants[$0] }
    }

    public var all: [OSVariant] { Array(variants.values) }

    // MARK: Files

    static func xmlFiles(under dir: String) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: dir) else { return [] }
        var out: [String] = []
        while let rel = e.nextObject() as? String {
            if rel.hasSuffix(".xml") { out.append((dir as NSString).appendingPathComponent(rel)) }
        }
        return out.sorted()
    }

    // MARK: Parsing

    /// One `<os>` as written, before inheritance.
    struct RawOS {
        var v: OSVariant
        var removedDevices: Set<String> = []
        var inheritResources = false
        var id: String { v.id }

        mutating func merge(_ other: RawOS) {
            for s in other.v.shortIDs where !v.shortIDs.contains(s) { v.shortIDs.append(s) }
            v.devices.formUnion(other.v.devices)
            removedDevices.formUnion(other.removedDevices)
            for (arch, r) in other.v.resources where v.resources[arch] == nil { v.resources[arch] = r }
            v.firmware += other.v.firmware.filter { f in !v.firmware.contains { $0.arch == f.arch && $0.type == f.type } }
        }
    }

    struct ParseError: Error, CustomStringConvertible {
        var description: String
    }

    static func parseOSFile(_ file: String) throws -> [RawOS] {
        let rootEl = try document(file)
        return try rootEl.elements(forName: "os").map(parseOS)
    }

    /// The file's <libosinfo> root element.
    static func document(_ file: String) throws -> XMLElement {
        guard let data = FileManager.default.contents(atPath: file) else { throw ParseError(description: "cannot read the file") }
        guard !data.isEmpty else { throw ParseError(description: "the file is empty") }
        guard data.count <= 16 << 20 else { throw ParseError(description: "the file is larger than 16 MiB") }
        // XMLDocument traps on some malformed input instead of throwing, so a streaming parse
        // (which reports errors) vets the bytes first.
        let vet = XMLParser(data: data)
        let balance = ElementBalance()
        vet.delegate = balance
        guard vet.parse(), balance.failed == nil else {
            let why = (balance.failed ?? vet.parserError).map { "line \(vet.lineNumber): \(($0 as NSError).localizedDescription)" } ?? "line \(vet.lineNumber)"
            throw ParseError(description: "not well-formed XML (\(why))")
        }
        // The Linux XMLParser accepts a document that just stops; an unclosed element must not pass.
        guard balance.depth == 0, balance.elements > 0 else {
            throw ParseError(description: "not well-formed XML (the document ends inside an element)")
        }
        let doc: XMLDocument
        do {
            doc = try XMLDocument(data: data, options: [])
        } catch {
            throw ParseError(description: "not well-formed XML (\((error as NSError).localizedDescription))")
        }
        guard let rootEl = doc.rootElement(), rootEl.name == "libosinfo" else {
            throw ParseError(description: "the root element is not <libosinfo>")
        }
        return rootEl
    }

    /// Text of the first child named `name` without xml:lang (the untranslated one).
    private static func text(_ el: XMLElement, _ name: String) -> String? {
        let s = el.elements(forName: name).first { $0.attribute(forName: "xml:lang") == nil }?.stringValue?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return s?.isEmpty == false ? s : nil
    }

    static func parseOS(_ el: XMLElement) throws -> RawOS {
        guard let id = el.attribute(forName: "id")?.stringValue, !id.isEmpty else {
            throw ParseError(description: "an <os> without an id attribute")
        }
        let shortIDs = el.elements(forName: "short-id").compactMap { $0.stringValue?.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard !shortIDs.isEmpty else { throw ParseError(description: "<os id='\(id)'> has no <short-id>") }
        func ids(_ name: String) -> [String] { el.elements(forName: name).compactMap { $0.attribute(forName: "id")?.stringValue } }

        var resources: [String: OSResourceSet] = [:]
        var inherit = false
        for r in el.elements(forName: "resources") {
            let arch = r.attribute(forName: "arch")?.stringValue ?? "all"
            if r.attribute(forName: "inherit")?.stringValue == "true" { inherit = true }
            func block(_ name: String) -> OSResources? {
                guard let b = r.elements(forName: name).first else { return nil }
                let res = OSResources(nCPUs: text(b, "n-cpus").flatMap { Int($0) },
                                      ramBytes: text(b, "ram").flatMap { UInt64($0) },
                                      storageBytes: text(b, "storage").flatMap { UInt64($0) })
                return res.isEmpty ? nil : res
            }
            let set = OSResourceSet(minimum: block("minimum"), recommended: block("recommended"),
                                    maximum: block("maximum"), networkInstall: block("network-install"))
            if set != OSResourceSet() { resources[arch] = set }
        }
        var devices = Set<String>(), removed = Set<String>()
        for d in el.elements(forName: "devices").flatMap({ $0.elements(forName: "device") }) {
            guard let did = d.attribute(forName: "id")?.stringValue else { continue }
            if d.attribute(forName: "supported")?.stringValue == "false" { removed.insert(did) } else { devices.insert(did) }
        }
        let firmware = el.elements(forName: "firmware").compactMap { f -> OSFirmware? in
            guard let type = f.attribute(forName: "type")?.stringValue else { return nil }
            return OSFirmware(arch: f.attribute(forName: "arch")?.stringValue ?? "all", type: type,
                              supported: f.attribute(forName: "supported")?.stringValue != "false")
        }
        let v = OSVariant(
            id: id, shortIDs: shortIDs, name: text(el, "name") ?? shortIDs[0], vendor: text(el, "vendor"),
            family: text(el, "family"), distro: text(el, "distro"), version: text(el, "version"),
            codename: text(el, "codename"), releaseDate: text(el, "release-date"), eolDate: text(el, "eol-date"),
            releaseStatus: text(el, "release-status") ?? "released", derivesFrom: ids("derives-from"),
            upgrades: ids("upgrades"), kernelURLArgument: text(el, "kernel-url-argument"),
            variants: el.elements(forName: "variant").compactMap { $0.attribute(forName: "id")?.stringValue },
            resources: resources, devices: devices, firmware: firmware)
        return RawOS(v: v, removedDevices: removed, inheritResources: inherit)
    }

    // MARK: Inheritance

    /// Folds in what `id` inherits along derives-from (libosinfo's rules): devices always (minus
    /// those the OS marks supported="false"), firmware entries it does not set itself, resources
    /// when it has none or says inherit="true". A cycle in the data stops at the repeat.
    static func resolve(_ id: String, raw: [String: RawOS], resolved: inout [String: OSVariant], visiting: Set<String>) -> OSVariant? {
        if let done = resolved[id] { return done }
        guard let r = raw[id], !visiting.contains(id) else { return nil }
        var v = r.v
        let parents = r.v.derivesFrom.compactMap { resolve($0, raw: raw, resolved: &resolved, visiting: visiting.union([id])) }
        for p in parents {
            v.devices.formUnion(p.devices.subtracting(r.removedDevices))
            for f in p.firmware where !v.firmware.contains(where: { $0.arch == f.arch && $0.type == f.type }) {
                v.firmware.append(f)
            }
            if r.inheritResources || r.v.resources.isEmpty {
                for (arch, set) in p.resources where r.v.resources[arch] == nil { v.resources[arch] = set }
            }
        }
        v.devices.subtract(r.removedDevices)
        resolved[id] = v
        return v
    }
}

/// Counts open elements during the vetting parse.
final class ElementBalance: NSObject, XMLParserDelegate {
    var depth = 0
    var elements = 0
    var failed: Error?
    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
        depth += 1; elements += 1
    }
    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        depth -= 1
    }
    func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) { failed = parseError }
}

/// A lock-protected value .
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock(); defer { lock.unlock() }
        return try body(&value)
    }
}
