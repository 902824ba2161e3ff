import Foundation
import DomainXML
import Hypervisor
import HostNetworks
import Storage

/// The QEMU hypervisor driver for `qemu:///embed?root=DIR`: every piece of state lives in files
/// under DIR, so any process opening the same root sees the same domains, including guests
/// started by an earlier process. Cross-process exclusion uses flock on per-domain lock files.
public actor QEMUDriver: HypervisorDriver {
    let state: StateDir
    var eventSinks: [UUID: AsyncStream<DomainEvent>.Continuation] = [:]
    /// Domains started with VIR_DOMAIN_START_AUTODESTROY: destroyed when this connection closes.
    var autodestroy: [DomainRef] = []
    /// While someone listens to events, notices guests that stop on their own (no QMP connection is kept).
    var watcher: Task<Void, Never>?
    /// Configs and live XML parsed once per change on disk.
    var parsed = ParsedFileCache()
    /// The config directory's listing as last read, with the stamp it was read at.
    var configs: (stamp: FileStamp, entries: [String: DomainEntry])?
    var configPaths = Set<String>()
    /// Pools and volumes under the same root (forwarded in QEMUDriver+Storage.swift).
    let storage: StorageManager
    /// Virtual networks under the same root (forwarded in QEMUDriver+Network.swift).
    let networks: NetworkManager

    /// Opens (creating if needed) the state root, as the CLI does for `qemu:///embed?root=DIR`.
    /// Networks are user-mode (session) unless the privileged daemon asks for system networking.
    public static func open(root: String, networkMode: NetworkMode = .session) throws -> QEMUDriver {
        guard root.hasPrefix("/") else {
            throw VirError(.invalidArg, "invalid argument: embed root '\(root)' must be an absolute path", domain: .qemu)
        }
        let dir = StateDir(root: root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root)
        try dir.create()
        return QEMUDriver(state: dir, networkMode: networkMode)
    }

    init(state: StateDir, networkMode: NetworkMode = .session) {
        self.state = state
        storage = StorageManager(root: state.root)
        networks = NetworkManager(root: state.root, mode: networkMode)
    }

    public var root: String { state.root }

    // MARK: Connection

    public func uri() async throws -> String {
        // Percent-encoded so a root with spaces, '&' or '#' survives a round trip through the URI parser.
        var allowed = CharacterSet.urlQueryAllowed
        allowed.remove(charactersIn: "&+=#%")
        return "qemu:///embed?root=" + (state.root.addingPercentEncoding(withAllowedCharacters: allowed) ?? state.root)
    }
    public func hypervisorType() async throws -> String { "QEMU" }

    public func hostname() async throws -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { throw FileIO.systemError("cannot get hostname") }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public func close() async {
        watcher?.cancel()
        watcher = nil
        let doomed = autodestroy
        autodestroy = []
        for ref in doomed { try? await destroyDomain(ref, flags: 0) }
        for (_, sink) in eventSinks { sink.finish() }
        eventSinks = [:]
    }

    // MARK: Events

    public func events() async throws -> AsyncStream<DomainEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: DomainEvent.self, bufferingPolicy: .bufferingNewest(1024))
        let key = UUID()
        eventSinks[key] = continuation
        continuation.onTermination = { [weak self] _ in
            Task { await self?.removeSink(key) }
        }
        if watcher == nil {
            watcher = Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(nanoseconds: 500_000_000)
                    guard let self, await self.watchOnce() else { return }
                }
            }
        }
        return stream
    }

    private func removeSink(_ key: UUID) { eventSinks[key] = nil }

    /// One watcher round: reconciles (which emits "stopped" for exited guests); false ends the watcher.
    private func watchOnce() -> Bool {
        guard !eventSinks.isEmpty else {
            watcher = nil
            return false
        }
        reconcileAll()
        return true
    }

    func emit(_ ref: DomainRef, _ kind: DomainEvent.Kind, _ detail: Int32) {
        let event = DomainEvent(domain: ref, kind: kind, detail: detail)
        for (_, sink) in eventSinks { sink.yield(event) }
    }

    // MARK: Loading domains from disk

    /// Every domain under the root, by name, after settling domains whose QEMU has exited.
    func loadEntries() -> [DomainEntry] {
        let all = entriesByName()
        return all.keys.sorted().compactMap { all[$0] }
    }

    func entriesByName() -> [String: DomainEntry] {
        reconcileAll()
        var byName = persistentEntries()
        var seen = configPaths
        for name in state.runDirNames() {
            seen.insert(state.statusXML(name))
            overlayRunning(name, on: &byName)
        }
        parsed.retain(only: seen)
        return byName
    }

    /// Adds a running domain's live XML and status to its entry (or makes a transient one).
    private func overlayRunning(_ name: String, on byName: inout [String: DomainEntry]) {
        guard let (live, status) = loadRunning(name), let uuid = live.uuid else { return }
        if byName[name] != nil {
            byName[name]?.live = live
            byName[name]?.status = status
        } else {
            byName[name] = DomainEntry(name: name, uuid: uuid, live: live, status: status)
        }
    }

    /// The persistent configs by name, re-listed only when the config directory changed (every
    /// write there is an atomic rename, which bumps the directory's mtime), so a lookup costs
    /// a stat, not a pass over every defined domain.
    func persistentEntries() -> [String: DomainEntry] {
        let stamp = FileStamp(state.configDir)
        if let stamp, let cached = configs, cached.stamp == stamp { return cached.entries }
        var entries: [String: DomainEntry] = [:]
        var paths = Set<String>()
        for file in (try? FileManager.default.contentsOfDirectory(atPath: state.configDir)) ?? [] where file.hasSuffix(".xml") {
            let name = String(file.dropLast(4))
            let path = state.configPath(name)
            paths.insert(path)
            guard let def = parsed.domain(at: path), def.name == name, let uuid = def.uuid else { continue }
            entries[name] = DomainEntry(name: name, uuid: uuid, config: def)
        }
        configPaths = paths
        configs = stamp.flatMap { $0.isSettled ? ($0, entries) : nil }
        return entries
    }

    /// The live XML and status of a running domain; nil while it is starting or when absent.
    func loadRunning(_ name: String) -> (Domain, DomainStatus)? {
        guard let status = loadStatus(name), let live = parsed.domain(at: state.statusXML(name)) else { return nil }
        return (live, status)
    }

    /// Just the status side file (written last at start, so its presence means the start completed).
    func loadStatus(_ name: String) -> DomainStatus? {
        guard let data = FileIO.read(state.statusJSON(name)) else { return nil }
        return try? JSONDecoder().decode(DomainStatus.self, from: data)
    }

    /// One domain by name, reading only its own files (lookups must not cost a pass over every domain).
    func entry(named name: String) -> DomainEntry? {
        reconcileAll()
        var one: [String: DomainEntry] = [:]
        one[name] = persistentEntries()[name]
        overlayRunning(name, on: &one)
        return one[name]
    }

    /// Re-resolves a reference by UUID, so a stale id or name never reaches another guest.
    func resolve(_ ref: DomainRef) throws -> DomainEntry {
        if let e = entry(named: ref.name), e.uuid == ref.uuid { return e }
        guard let e = entriesByName().values.first(where: { $0.uuid == ref.uuid }) else {
            throw VirError.noDomain(uuid: ref.uuid.uuidString.lowercased())
        }
        return e
    }

    func writeStatus(_ name: String, _ status: DomainStatus) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FileIO.writeAtomically(try enc.encode(status), to: state.statusJSON(name), durable: false)
    }

    func writeShutoff(_ name: String, _ s: DomainStateReason) {
        let rec = ShutoffRecord(state: s.state.rawValue, reason: s.reason)
        if let data = try? JSONEncoder().encode(rec) { try? FileIO.writeAtomically(data, to: state.shutoffRecord(name)) }
    }

    func shutoffState(_ name: String) -> DomainStateReason {
        guard let data = FileIO.read(state.shutoffRecord(name)),
              let rec = try? JSONDecoder().decode(ShutoffRecord.self, from: data),
              let st = DomainState(rawValue: rec.state) else { return DomainStateReason(.shutoff, 0) }
        return DomainStateReason(st, rec.reason)
    }

    // MARK: Lookup and listing

    public func listAllDomains(flags: ListDomainsFlags) async throws -> [DomainRef] {
        let entries = loadEntries()
        return entries.filter { e in
            let st = e.status?.domainState.state ?? .shutoff
            func group(_ bits: ListDomainsFlags, _ matches: [(ListDomainsFlags, Bool)]) -> Bool {
                flags.intersection(bits).isEmpty || matches.contains { flags.contains($0.0) && $0.1 }
            }
            let auto = FileIO.exists(state.autostartPath(e.name))
            return group([.active, .inactive], [(.active, e.isActive), (.inactive, !e.isActive)])
                && group([.persistent, .transient], [(.persistent, e.isPersistent), (.transient, !e.isPersistent)])
                && group([.running, .paused, .shutoff, .other], [
                    (.running, e.isActive && st == .running), (.paused, e.isActive && st == .paused),
                    (.shutoff, !e.isActive), (.other, e.isActive && st != .running && st != .paused)])
                && group([.autostart, .noAutostart], [(.autostart, auto), (.noAutostart, !auto)])
        }.map(\.ref)
    }

    public func lookupDomain(name: String) async throws -> DomainRef {
        guard let e = entry(named: name) else { throw VirError.noDomain(name: name) }
        return e.ref
    }

    public func lookupDomain(uuid: UUID) async throws -> DomainRef {
        guard let e = loadEntries().first(where: { $0.uuid == uuid }) else {
            throw VirError.noDomain(uuid: uuid.uuidString.lowercased())
        }
        return e.ref
    }

    public func lookupDomain(id: Int32) async throws -> DomainRef {
        guard let e = loadEntries().first(where: { $0.isActive && $0.status?.id == id }) else {
            throw VirError.noDomain(id: id)
        }
        return e.ref
    }

    // MARK: Definitions

    /// Parses, validates and fills in defaults, as libvirt does before defining or creating.
    func parseDefinition(_ xml: String) throws -> Domain {
        var def: Domain
        do { def = try Domain(xml: xml) } catch { throw VirError.xml(error) }
        def.applyDefaults()
        if def.uuid == nil { def.uuid = UUID() }
        def.id = nil
        guard !def.name.isEmpty else { throw VirError(.noName, "missing name information in domain XML", domain: .domain) }
        guard !def.name.contains("/"), def.name != ".", def.name != ".." else {
            throw VirError(.xmlError, "XML error: name '\(def.name)' cannot contain '/'", domain: .domain)
        }
        // These would collide with the state root's own files next to the run directories.
        guard !def.name.hasSuffix(".lock"), def.name != "next-id" else {
            throw VirError(.xmlError, "XML error: domain name '\(def.name)' is reserved by the embedded driver's state directory", domain: .domain)
        }
        return def
    }

    /// libvirt's name/uuid clash rules (virDomainObjListAddLocked).
    func checkClash(_ def: Domain, entries: [DomainEntry]) throws -> DomainEntry? {
        let uuidText = def.uuid?.uuidString.lowercased() ?? ""
        if let same = entries.first(where: { $0.uuid == def.uuid }) {
            if same.name != def.name {
                throw VirError.operationFailed("domain '\(same.name)' is already defined with uuid \(uuidText)")
            }
            return same
        }
        if let other = entries.first(where: { $0.name == def.name }) {
            throw VirError.operationFailed("domain '\(def.name)' already exists with uuid \(other.uuid.uuidString.lowercased())")
        }
        return nil
    }

    public func defineDomain(xml: String, validate: Bool) async throws -> DomainRef {
        let def = try parseDefinition(xml)
        let lock = try await FileLock.acquire(state.domainLock(def.name), what: "domain")
        defer { lock.release() }
        let existing = try checkClash(def, entries: loadEntries())
        try FileIO.writeAtomically(def.formatXML([.inactive, .secure]), to: state.configPath(def.name))
        var ref = DomainRef(name: def.name, uuid: def.uuid ?? UUID(), id: -1)
        if let e = existing, e.isActive { ref.id = e.status?.id ?? -1 }
        emit(ref, .defined, existing?.isPersistent == true ? EventDetail.definedUpdated : EventDetail.definedAdded)
        return ref
    }

    public func undefineDomain(_ dom: DomainRef, flags: UInt32) async throws {
        let e = try resolve(dom)
        let lock = try await FileLock.acquire(state.domainLock(e.name), what: "domain")
        defer { lock.release() }
        guard e.isPersistent else { throw VirError.operationInvalid("cannot undefine transient domain") }
        // A running domain stays up as a transient one, as in libvirt.
        FileIO.remove(state.configPath(e.name))
        FileIO.remove(state.autostartPath(e.name))
        FileIO.remove(state.shutoffRecord(e.name))
        emit(e.ref, .undefined, EventDetail.undefinedRemoved)
    }

    public func domainXML(_ dom: DomainRef, flags: DomainXMLFlags) async throws -> String {
        let e = try resolve(dom)
        var options: FormatOptions = []
        if flags.contains(.secure) { options.insert(.secure) }
        if flags.contains(.inactive) {
            options.insert(.inactive)
            guard let def = e.config ?? e.live else { throw VirError.noDomain(name: e.name) }
            return def.formatXML(options)
        }
        if e.isActive, var live = e.live {
            live.id = Int(e.status?.id ?? -1)
            return live.formatXML(options)
        }
        guard let def = e.config else { throw VirError.noDomain(name: e.name) }
        return def.formatXML(options.union(.inactive))
    }

    public func isPersistent(_ dom: DomainRef) async throws -> Bool { try resolve(dom).isPersistent }

    public func autostart(_ dom: DomainRef) async throws -> Bool {
        FileIO.exists(state.autostartPath(try resolve(dom).name))
    }

    public func setAutostart(_ dom: DomainRef, _ on: Bool) async throws {
        let e = try resolve(dom)
        guard e.isPersistent else { throw VirError.operationInvalid("cannot set autostart for transient domain") }
        let path = state.autostartPath(e.name)
        if on {
            guard !FileIO.exists(path) else { return }
            do {
                try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: state.configPath(e.name))
            } catch {
                throw VirError(.systemError, "Failed to create symlink '\(path)': \(error.localizedDescription)", domain: .qemu)
            }
        } else {
            FileIO.remove(path)
        }
    }
}
