import Foundation
import Hypervisor
import TestDriver

/// TestDriver's domains plus in-memory storage pools, volumes and networks, and a log of
/// device changes: enough to check that every storage/network/device procedure reaches the
/// driver with its arguments and brings back its answer.
struct FakeObjectsDriver: HypervisorDriver {
    let base = TestDriver()
    let store = FakeStore()

    // MARK: Domains (TestDriver's)
    func uri() async throws -> String { try await base.uri() }
    func hypervisorType() async throws -> String { try await base.hypervisorType() }
    func hypervisorVersion() async throws -> UInt64 { try await base.hypervisorVersion() }
    func hostname() async throws -> String { try await base.hostname() }
    func capabilitiesXML() async throws -> String { try await base.capabilitiesXML() }
    func domainCapabilitiesXML(emulator: String?, arch: String?, machine: String?, virtType: String?) async throws -> String {
        try await base.domainCapabilitiesXML(emulator: emulator, arch: arch, machine: machine, virtType: virtType)
    }
    func nodeInfo() async throws -> NodeInfo { try await base.nodeInfo() }
    func close() async {}
    func listAllDomains(flags: ListDomainsFlags) async throws -> [DomainRef] { try await base.listAllDomains(flags: flags) }
    func lookupDomain(name: String) async throws -> DomainRef { try await base.lookupDomain(name: name) }
    func lookupDomain(uuid: UUID) async throws -> DomainRef { try await base.lookupDomain(uuid: uuid) }
    func lookupDomain(id: Int32) async throws -> DomainRef { try await base.lookupDomain(id: id) }
    func defineDomain(xml: String, validate: Bool) async throws -> DomainRef { try await base.defineDomain(xml: xml, validate: validate) }
    func undefineDomain(_ dom: DomainRef, flags: UInt32) async throws { try await base.undefineDomain(dom, flags: flags) }
    func startDomain(_ dom: DomainRef, flags: DomainCreateFlags) async throws -> DomainRef { try await base.startDomain(dom, flags: flags) }
    func createDomain(xml: String, flags: DomainCreateFlags) async throws -> DomainRef { try await base.createDomain(xml: xml, flags: flags) }
    func shutdownDomain(_ dom: DomainRef, flags: UInt32) async throws { try await base.shutdownDomain(dom, flags: flags) }
    func destroyDomain(_ dom: DomainRef, flags: UInt32) async throws { try await base.destroyDomain(dom, flags: flags) }
    func rebootDomain(_ dom: DomainRef, flags: UInt32) async throws { try await base.rebootDomain(dom, flags: flags) }
    func resetDomain(_ dom: DomainRef) async throws { try await base.resetDomain(dom) }
    func suspendDomain(_ dom: DomainRef) async throws { try await base.suspendDomain(dom) }
    func resumeDomain(_ dom: DomainRef) async throws { try await base.resumeDomain(dom) }
    func domainInfo(_ dom: DomainRef) async throws -> DomainInfo { try await base.domainInfo(dom) }
    func domainState(_ dom: DomainRef) async throws -> DomainStateReason { try await base.domainState(dom) }
    func domainXML(_ dom: DomainRef, flags: DomainXMLFlags) async throws -> String { try await base.domainXML(dom, flags: flags) }
    func isPersistent(_ dom: DomainRef) async throws -> Bool { try await base.isPersistent(dom) }
    func autostart(_ dom: DomainRef) async throws -> Bool { try await base.autostart(dom) }
    func setAutostart(_ dom: DomainRef, _ on: Bool) async throws { try await base.setAutostart(dom, on) }
    func vcpuInfo(_ dom: DomainRef) async throws -> [VCPUInfo] { try await base.vcpuInfo(dom) }
    func allDomainStats(_ doms: [DomainRef]?, types: StatsTypes) async throws -> [DomainStatsRecord] { try await base.allDomainStats(doms, types: types) }
    func openConsole(_ dom: DomainRef, devName: String?, force: Bool) async throws -> any ByteStream {
        try await base.openConsole(dom, devName: devName, force: force)
    }
    func domainXMLToNative(format: String, xml: String) async throws -> String { try await base.domainXMLToNative(format: format, xml: xml) }
    func events() async throws -> AsyncStream<DomainEvent> { try await base.events() }

    // MARK: Storage
    func listAllStoragePools(flags: ListStoragePoolsFlags) async throws -> [StoragePoolRef] { await store.pools(flags) }
    func lookupStoragePool(name: String) async throws -> StoragePoolRef { try await store.pool(name).ref }
    func lookupStoragePool(uuid: UUID) async throws -> StoragePoolRef {
        guard let p = await store.poolList.first(where: { $0.ref.uuid == uuid }) else { throw VirError.noStoragePool(uuid: uuid.uuidString.lowercased()) }
        return p.ref
    }
    func lookupStoragePool(volume: StorageVolRef) async throws -> StoragePoolRef { try await store.pool(volume.pool).ref }
    func defineStoragePool(xml: String, flags: UInt32) async throws -> StoragePoolRef { try await store.define(xml: xml, active: false) }
    func createStoragePool(xml: String, flags: StoragePoolCreateFlags) async throws -> StoragePoolRef { try await store.define(xml: xml, active: true) }
    func buildStoragePool(_ pool: StoragePoolRef, flags: StoragePoolBuildFlags) async throws { try await store.log("build \(pool.name) \(flags.rawValue)") }
    func startStoragePool(_ pool: StoragePoolRef, flags: StoragePoolCreateFlags) async throws { try await store.setActive(pool.name, true) }
    func destroyStoragePool(_ pool: StoragePoolRef) async throws { try await store.setActive(pool.name, false) }
    func deleteStoragePool(_ pool: StoragePoolRef, flags: UInt32) async throws { try await store.log("delete \(pool.name)") }
    func undefineStoragePool(_ pool: StoragePoolRef) async throws { try await store.undefine(pool.name) }
    func refreshStoragePool(_ pool: StoragePoolRef, flags: UInt32) async throws { try await store.log("refresh \(pool.name)") }
    func storagePoolInfo(_ pool: StoragePoolRef) async throws -> StoragePoolInfo {
        let p = try await store.pool(pool.name)
        return StoragePoolInfo(state: p.active ? .running : .inactive, capacity: 1 << 40, allocation: 1 << 30, available: (1 << 40) - (1 << 30))
    }
    func storagePoolXML(_ pool: StoragePoolRef, flags: StorageXMLFlags) async throws -> String {
        "<pool type='dir'><name>\(try await store.pool(pool.name).ref.name)</name></pool>"
    }
    func storagePoolAutostart(_ pool: StoragePoolRef) async throws -> Bool { try await store.pool(pool.name).autostart }
    func setStoragePoolAutostart(_ pool: StoragePoolRef, _ on: Bool) async throws { try await store.setAutostart(pool.name, on) }
    func storagePoolIsActive(_ pool: StoragePoolRef) async throws -> Bool { try await store.pool(pool.name).active }
    func storagePoolIsPersistent(_ pool: StoragePoolRef) async throws -> Bool { try await store.pool(pool.name).persistent }
    func listAllStorageVolumes(_ pool: StoragePoolRef, flags: UInt32) async throws -> [StorageVolRef] {
        try await store.pool(pool.name).vols.keys.sorted().map { FakeStore.volRef(pool.name, $0) }
    }
    func lookupStorageVolume(pool: StoragePoolRef, name: String) async throws -> StorageVolRef {
        guard try await store.pool(pool.name).vols[name] != nil else { throw VirError.noStorageVol(name: name) }
        return FakeStore.volRef(pool.name, name)
    }
    func lookupStorageVolume(key: String) async throws -> StorageVolRef { try await store.volume(path: key) }
    func lookupStorageVolume(path: String) async throws -> StorageVolRef { try await store.volume(path: path) }
    func createStorageVolume(_ pool: StoragePoolRef, xml: String, flags: StorageVolCreateFlags) async throws -> StorageVolRef {
        try await store.createVolume(pool.name, xml: xml, content: [])
    }
    func createStorageVolume(_ pool: StoragePoolRef, xml: String, from source: StorageVolRef, flags: StorageVolCreateFlags) async throws -> StorageVolRef {
        try await store.createVolume(pool.name, xml: xml, content: try await store.content(source))
    }
    func deleteStorageVolume(_ vol: StorageVolRef, flags: StorageVolDeleteFlags) async throws { try await store.setContent(vol, nil) }
    func wipeStorageVolume(_ vol: StorageVolRef, algorithm: StorageVolWipeAlgorithm, flags: UInt32) async throws {
        guard algorithm == .zero else { throw VirError(.noSupport, "unsupported algorithm \(algorithm.virshName)") }
        let n = try await store.content(vol).count
        try await store.setContent(vol, [UInt8](repeating: 0, count: n))
    }
    func storageVolumeInfo(_ vol: StorageVolRef) async throws -> StorageVolInfo {
        let n = UInt64(try await store.content(vol).count)
        return StorageVolInfo(type: .file, capacity: n, allocation: n)
    }
    func storageVolumeXML(_ vol: StorageVolRef, flags: UInt32) async throws -> String {
        _ = try await store.content(vol)
        return "<volume><name>\(vol.name)</name></volume>"
    }
    func storageVolumePath(_ vol: StorageVolRef) async throws -> String { _ = try await store.content(vol); return vol.key }
    func resizeStorageVolume(_ vol: StorageVolRef, capacity: UInt64, flags: StorageVolResizeFlags) async throws {
        var c = try await store.content(vol)
        guard capacity <= 64 << 20 else { throw VirError(.invalidArg, "invalid argument: too large") }
        c = Array(c.prefix(Int(capacity))) + [UInt8](repeating: 0, count: max(0, Int(capacity) - c.count))
        try await store.setContent(vol, c)
    }
    func uploadStorageVolume(_ vol: StorageVolRef, offset: UInt64, length: UInt64, flags: StorageVolTransferFlags) async throws -> any ByteStream {
        let old = try await store.content(vol)
        return FakeUpload(store: store, vol: vol, original: old, offset: Int(offset), limit: length == 0 ? nil : Int(length))
    }
    func downloadStorageVolume(_ vol: StorageVolRef, offset: UInt64, length: UInt64, flags: StorageVolTransferFlags) async throws -> any ByteStream {
        let c = try await store.content(vol)
        let start = min(Int(offset), c.count)
        let end = length == 0 ? c.count : min(c.count, start + Int(length))
        return FakeDownload(data: Array(c[start..<end]))
    }

    // MARK: Networks
    func listAllNetworks(flags: ListNetworksFlags) async throws -> [NetworkRef] { await store.networks(flags) }
    func lookupNetwork(name: String) async throws -> NetworkRef { try await store.network(name).ref }
    func lookupNetwork(uuid: UUID) async throws -> NetworkRef {
        guard let n = await store.netList.first(where: { $0.ref.uuid == uuid }) else { throw VirError.noNetwork(uuid: uuid.uuidString.lowercased()) }
        return n.ref
    }
    func defineNetwork(xml: String, flags: UInt32) async throws -> NetworkRef { try await store.defineNetwork(xml: xml, active: false) }
    func createNetwork(xml: String, flags: UInt32) async throws -> NetworkRef { try await store.defineNetwork(xml: xml, active: true) }
    func undefineNetwork(_ net: NetworkRef) async throws { try await store.undefineNetwork(net.name) }
    func startNetwork(_ net: NetworkRef) async throws { try await store.setNetworkActive(net.name, true) }
    func destroyNetwork(_ net: NetworkRef) async throws { try await store.setNetworkActive(net.name, false) }
    func networkXML(_ net: NetworkRef, flags: NetworkXMLFlags) async throws -> String {
        "<network><name>\(try await store.network(net.name).ref.name)</name><bridge name='virbr9'/></network>"
    }
    func networkBridgeName(_ net: NetworkRef) async throws -> String { _ = try await store.network(net.name); return "virbr9" }
    func networkAutostart(_ net: NetworkRef) async throws -> Bool { try await store.network(net.name).autostart }
    func setNetworkAutostart(_ net: NetworkRef, _ on: Bool) async throws { try await store.setNetworkAutostart(net.name, on) }
    func networkIsActive(_ net: NetworkRef) async throws -> Bool { try await store.network(net.name).active }
    func networkIsPersistent(_ net: NetworkRef) async throws -> Bool { try await store.network(net.name).persistent }
    func networkDHCPLeases(_ net: NetworkRef, mac: String?) async throws -> [NetworkDHCPLease] {
        _ = try await store.network(net.name)
        return FakeStore.leases.filter { mac == nil || $0.mac == mac }
    }

    // MARK: Devices
    func attachDevice(_ dom: DomainRef, xml: String, flags: DeviceModifyFlags) async throws {
        _ = try await base.lookupDomain(uuid: dom.uuid)
        try await store.log("attach \(dom.name) \(flags.rawValue) \(xml)")
    }
    func detachDevice(_ dom: DomainRef, xml: String, flags: DeviceModifyFlags) async throws {
        try await store.log("detach \(dom.name) \(flags.rawValue) \(xml)")
    }
    func updateDevice(_ dom: DomainRef, xml: String, flags: DeviceModifyFlags) async throws {
        try await store.log("update \(dom.name) \(flags.rawValue) \(xml)")
    }
    func interfaceAddresses(_ dom: DomainRef, source: InterfaceAddressSource, flags: UInt32) async throws -> [DomainInterfaceAddresses] {
        [DomainInterfaceAddresses(name: "vnet0", hwaddr: "52:54:00:aa:bb:cc",
                                  addrs: [DomainIPAddress(type: .ipv4, addr: "192.168.122.\(10 + Int(source.rawValue))", prefix: 24)])]
    }
}

actor FakeStore {
    struct Pool { var ref: StoragePoolRef; var active: Bool; var persistent: Bool; var autostart = false; var vols: [String: [UInt8]] = [:] }
    struct Net { var ref: NetworkRef; var active: Bool; var persistent: Bool; var autostart = false }
    private var poolsByName: [String: Pool] = [:]
    private var netsByName: [String: Net] = [:]
    private(set) var calls: [String] = []

    static let leases = [
        NetworkDHCPLease(iface: "virbr9", expiryTime: 1_800_000_000, type: .ipv4, mac: "52:54:00:aa:bb:cc",
                         ipaddr: "192.168.122.10", prefix: 24, hostname: "tiny", clientid: "01:52:54:00:aa:bb:cc"),
        NetworkDHCPLease(iface: "virbr9", expiryTime: 0, type: .ipv6, mac: "52:54:00:dd:ee:ff", iaid: "1",
                         ipaddr: "fd00::10", prefix: 64, hostname: nil, clientid: nil),
    ]

    var poolList: [Pool] { poolsByName.values.sorted { $0.ref.name < $1.ref.name } }
    var netList: [Net] { netsByName.values.sorted { $0.ref.name < $1.ref.name } }

    static func volRef(_ pool: String, _ name: String) -> StorageVolRef { StorageVolRef(pool: pool, name: name, key: "/pools/\(pool)/\(name)") }

    static func name(in xml: String) throws -> String {
        guard let r = xml.range(of: "<name>"), let e = xml.range(of: "</name>", range: r.upperBound..<xml.endIndex) else {
            throw VirError(.xmlError, "XML error: missing name")
        }
        return String(xml[r.upperBound..<e.lowerBound])
    }

    func log(_ s: String) { calls.append(s) }

    func pools(_ flags: ListStoragePoolsFlags) -> [StoragePoolRef] {
        poolList.filter { p in
            (!flags.contains(.active) || p.active) && (!flags.contains(.inactive) || !p.active)
        }.map(\.ref)
    }

    func pool(_ name: String) throws -> Pool {
        guard let p = poolsByName[name] else { throw VirError.noStoragePool(name: name) }
        return p
    }

    func define(xml: String, active: Bool) throws -> StoragePoolRef {
        let name = try Self.name(in: xml)
        if let p = poolsByName[name] { return p.ref }
        let p = Pool(ref: StoragePoolRef(name: name, uuid: UUID()), active: active, persistent: !active)
        poolsByName[name] = p
        return p.ref
    }

    func setActive(_ name: String, _ on: Bool) throws {
        var p = try pool(name)
        if p.active == on { throw VirError(.operationInvalid, "Requested operation is not valid: storage pool '\(name)' is \(on ? "already active" : "not active")", domain: .storage) }
        p.active = on
        poolsByName[name] = p
    }

    func setAutostart(_ name: String, _ on: Bool) throws { var p = try pool(name); p.autostart = on; poolsByName[name] = p }
    func undefine(_ name: String) throws { _ = try pool(name); poolsByName[name] = nil }

    func volume(path: String) throws -> StorageVolRef {
        for p in poolsByName.values { for v in p.vols.keys where Self.volRef(p.ref.name, v).key == path { return Self.volRef(p.ref.name, v) } }
        throw VirError.noStorageVol(path: path)
    }

    func content(_ vol: StorageVolRef) throws -> [UInt8] {
        guard let c = try pool(vol.pool).vols[vol.name] else { throw VirError.noStorageVol(name: vol.name) }
        return c
    }

    func setContent(_ vol: StorageVolRef, _ c: [UInt8]?) throws {
        var p = try pool(vol.pool)
        guard p.vols[vol.name] != nil else { throw VirError.noStorageVol(name: vol.name) }
        p.vols[vol.name] = c
        poolsByName[vol.pool] = p
    }

    func createVolume(_ pool: String, xml: String, content: [UInt8]) throws -> StorageVolRef {
        var p = try self.pool(pool)
        let name = try Self.name(in: xml)
        guard p.vols[name] == nil else { throw VirError(.operationFailed, "storage volume name '\(name)' already in use.", domain: .storage) }
        p.vols[name] = content
        poolsByName[pool] = p
        return Self.volRef(pool, name)
    }

    func networks(_ flags: ListNetworksFlags) -> [NetworkRef] {
        netList.filter { n in (!flags.contains(.active) || n.active) && (!flags.contains(.inactive) || !n.active) }.map(\.ref)
    }

    func network(_ name: String) throws -> Net {
        guard let n = netsByName[name] else { throw VirError.noNetwork(name: name) }
        return n
    }

    func defineNetwork(xml: String, active: Bool) throws -> NetworkRef {
        let name = try Self.name(in: xml)
        let n = Net(ref: NetworkRef(name: name, uuid: UUID()), active: active, persistent: !active)
        netsByName[name] = n
        return n.ref
    }

    func setNetworkActive(_ name: String, _ on: Bool) throws { var n = try network(name); n.active = on; netsByName[name] = n }
    func setNetworkAutostart(_ name: String, _ on: Bool) throws { var n = try network(name); n.autostart = on; netsByName[name] = n }
    func undefineNetwork(_ name: String) throws { _ = try network(name); netsByName[name] = nil }
}

/// Collects an upload; finish() stores it (failing past the volume's 64 MiB limit), close()
/// without finish discards it.
actor FakeUpload: ByteStream {
    let store: FakeStore
    let vol: StorageVolRef
    var data: [UInt8]
    let offset: Int
    let limit: Int?
    var written = 0
    var done = false
    init(store: FakeStore, vol: StorageVolRef, original: [UInt8], offset: Int, limit: Int?) {
        self.store = store; self.vol = vol; self.data = original; self.offset = offset; self.limit = limit
    }
    func read() async throws -> [UInt8]? { nil }
    func write(_ bytes: [UInt8]) async throws {
        if let limit, written + bytes.count > limit { throw VirError(.invalidArg, "invalid argument: upload exceeds the requested length") }
        let end = offset + written + bytes.count
        if data.count < end { data += [UInt8](repeating: 0, count: end - data.count) }
        data.replaceSubrange((offset + written)..<end, with: bytes)
        written += bytes.count
    }
    func finish() async throws {
        done = true
        guard data.count <= 64 << 20 else { throw VirError(.operationFailed, "operation failed: volume full") }
        try await store.setContent(vol, data)
    }
    func close() async { done = true }
}

/// Yields `data` in 100 000-byte pieces.
actor FakeDownload: ByteStream {
    var data: ArraySlice<UInt8>
    init(data: [UInt8]) { self.data = data[...] }
    func read() async throws -> [UInt8]? {
        if data.isEmpty { return nil }
        let piece = Array(data.prefix(100_000))
        data = data.dropFirst(piece.count)
        return piece
    }
    func write(_ bytes: [UInt8]) async throws { throw VirError(.operationInvalid, "download stream is read-only") }
    func close() async { data = [] }
}
