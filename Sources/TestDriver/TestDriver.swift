import Foundation
import DomainXML
import Hypervisor

/// An in-memory hypervisor modelled on libvirt's test:///default: one predefined running
/// domain `test`, full lifecycle semantics, fake statistics. Nothing touches the host.
///
/// `TestDriver.shared` is the process-wide test:///default state (each process has its own,
/// as in libvirt); `TestDriver()` makes an independent one for unit tests.
public actor TestDriver: HypervisorDriver {
    public static let shared = TestDriver()

    /// The test driver's well-known defaults (libvirt's test_driver.c).
    public static let defaultUUID = UUID(uuidString: "6695eb01-f6a4-8304-79aa-97f2502e193f")!
    public static let defaultNodeInfo = NodeInfo(model: "i686", memoryKiB: 3 * 1024 * 1024, cpus: 16, mhz: 1400,
                                                 nodes: 2, sockets: 2, cores: 2, threads: 2)
    static let emulator = "/usr/bin/test-hv"

    struct Record {
        var config: Domain            // persistent definition (or the transient one)
        var live: Domain?             // running definition
        var id: Int32 = -1
        var state = DomainStateReason(.shutoff, 0)   // never started: "shut off (unknown)"
        var persistent = true
        var autostart = false
        /// CPU time accrued before the current run segment, and when that segment began.
        var cpuBase: UInt64 = 0
        var runningSince: Date?
        var ref: DomainRef { DomainRef(name: config.name, uuid: config.uuid ?? UUID(), id: id) }
        var active: Bool { id != -1 }
    }

    private var records: [UUID: Record] = [:]
    private var order: [UUID] = []      // definition order, for stable listings
    private var nextID: Int32 = 1
    private var listeners: [UUID: AsyncStream<DomainEvent>.Continuation] = [:]

    public init() {
        var dom = Domain()
        dom.type = "test"
        dom.name = "test"
        dom.uuid = Self.defaultUUID
        dom.memoryKiB = 8_388_608
        dom.currentMemoryKiB = 2_097_152
        dom.vcpu.count = 2
        dom.os.type = "hvm"
        var disk = Disk()
        disk.type = "file"; disk.device = "disk"; disk.sourcePath = "/guest/diskimage1"
        disk.targetDev = "vda"; disk.targetBus = "virtio"
        disk.address = Self.pciAddress(slot: 2)
        dom.devices.disks = [disk]
        var nic = Interface()
        nic.type = "network"; nic.mac = "aa:bb:cc:dd:ee:ff"; nic.sourceNetwork = "default"
        nic.targetDev = "testnet0"; nic.address = Self.pciAddress(slot: 3)
        dom.devices.interfaces = [nic]
        var balloon = MemBalloon(model: "virtio")
        balloon.address = Self.pciAddress(slot: 4)
        dom.devices.memballoon = balloon

        var rec = Record(config: dom)
        rec.persistent = true
        let uuid = Self.defaultUUID
        records[uuid] = rec
        order = [uuid]
        // Starting it assigns id 1, like the test driver's initial load.
        Self.startRecord(&records[uuid]!, id: &nextID, paused: false)
    }

    private static func pciAddress(slot: Int) -> DeviceAddress {
        DeviceAddress(type: "pci", attributes: [XMLAttribute("domain", "0x0000"), XMLAttribute("bus", "0x00"),
                                                XMLAttribute("slot", String(format: "0x%02x", slot)),
                                                XMLAttribute("function", "0x0")])
    }

    private static func startRecord(_ rec: inout Record, id nextID: inout Int32, paused: Bool, live: Domain? = nil) {
        rec.id = nextID
        nextID += 1
        var def = live ?? rec.config
        def.id = Int(rec.id)
        rec.live = def
        rec.cpuBase = 0
        rec.runningSince = paused ? nil : Date()
        rec.state = paused ? DomainStateReason(.paused, DomainStateReason.pausedUser)
                           : DomainStateReason(.running, DomainStateReason.runningBooted)
    }

    // MARK: Connection

    public func uri() async throws -> String { "test:///default" }
    public func hypervisorType() async throws -> String { "TEST" }
    /// libvirt's test driver reports version 2 (0.0.2).
    public func hypervisorVersion() async throws -> UInt64 { 2 }
    public func hostname() async throws -> String { Self.localHostname() }
    public func nodeInfo() async throws -> NodeInfo { Self.defaultNodeInfo }
    public func close() async {}

    static func localHostname() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "localhost" }
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public func capabilitiesXML() async throws -> String {
        var guests = ""
        for osType in ["hvm", "xen"] {
            guests += """
              <guest>
                <os_type>\(osType)</os_type>
                <arch name='i686'>
                  <wordsize>32</wordsize>
                  <emulator>\(Self.emulator)</emulator>
                  <domain type='test'/>
                </arch>
                <features>
                  <pae/>
                  <nonpae/>
                </features>
              </guest>

            """
        }
        return """
        <capabilities>

          <host>
            <cpu>
              <arch>i686</arch>
              <features>
                <pae/>
                <nonpae/>
              </features>
            </cpu>
            <power_management/>
            <iommu support='no'/>
            <topology>
              <cells num='2'>
                <cell id='0'>
                  <memory unit='KiB'>1572864</memory>
                  <cpus num='8'/>
                </cell>
                <cell id='1'>
                  <memory unit='KiB'>1572864</memory>
                  <cpus num='8'/>
                </cell>
              </cells>
            </topology>
            <secmodel>
              <model>testSecurity</model>
              <doi></doi>
            </secmodel>
          </host>

        \(guests)</capabilities>

        """
    }

    public func domainCapabilitiesXML(emulator: String?, arch: String?, machine: String?, virtType: String?) async throws -> String {
        if let arch, arch != "i686" {
            throw VirError(.invalidArg, "invalid argument: architecture '\(arch)' is not supported by the test driver", domain: .test)
        }
        if let virtType, virtType != "test" {
            throw VirError(.invalidArg, "invalid argument: virttype '\(virtType)' is not supported by the test driver", domain: .test)
        }
        return """
        <domainCapabilities>
          <path>\(emulator ?? Self.emulator)</path>
          <domain>test</domain>
          <arch>i686</arch>
          <os supported='yes'>
            <enum name='firmware'/>
          </os>
          <devices>
            <disk supported='yes'/>
            <graphics supported='no'/>
            <video supported='no'/>
            <hostdev supported='no'/>
          </devices>
        </domainCapabilities>

        """
    }

    // MARK: Lookup

    private func record(_ dom: DomainRef) throws(VirError) -> Record {
        guard let rec = records[dom.uuid] else {
            throw VirError(.noDomain, "Domain not found: no domain with matching uuid '\(dom.uuid.lowercasedString)' (\(dom.name))", domain: .test)
        }
        return rec
    }

    public func listAllDomains(flags: ListDomainsFlags) async throws -> [DomainRef] {
        order.compactMap { records[$0] }.filter { Self.matches($0, flags) }.map(\.ref)
    }

    /// libvirt's virConnectListAllDomains filter groups: within a group any bit matches; no bit = no filter.
    static func matches(_ rec: Record, _ flags: ListDomainsFlags) -> Bool {
        func group(_ bits: [ListDomainsFlags], _ test: (ListDomainsFlags) -> Bool) -> Bool {
            let set = bits.filter { flags.contains($0) }
            return set.isEmpty || set.contains(where: test)
        }
        let activity = group([.active, .inactive]) { $0 == .active ? rec.active : !rec.active }
        let persistence = group([.persistent, .transient]) { $0 == .persistent ? rec.persistent : !rec.persistent }
        let state = group([.running, .paused, .shutoff, .other]) { bit in
            switch bit {
            case .running: rec.state.state == .running
            case .paused: rec.state.state == .paused
            case .shutoff: rec.state.state == .shutoff
            default: ![.running, .paused, .shutoff].contains(rec.state.state)
            }
        }
        let auto = group([.autostart, .noAutostart]) { $0 == .autostart ? rec.autostart : !rec.autostart }
        return activity && persistence && state && auto
    }

    public func lookupDomain(name: String) async throws -> DomainRef {
        guard let rec = records.values.first(where: { $0.config.name == name }) else {
            throw VirError(.noDomain, "Domain not found: no domain with matching name '\(name)'", domain: .test)
        }
        return rec.ref
    }

    public func lookupDomain(uuid: UUID) async throws -> DomainRef {
        guard let rec = records[uuid] else {
            throw VirError(.noDomain, "Domain not found: no domain with matching uuid '\(uuid.lowercasedString)'", domain: .test)
        }
        return rec.ref
    }

    public func lookupDomain(id: Int32) async throws -> DomainRef {
        guard id >= 0, let rec = records.values.first(where: { $0.id == id }) else {
            throw VirError(.noDomain, "Domain not found: no domain with matching id \(id)", domain: .test)
        }
        return rec.ref
    }

    // MARK: Definition

    private func parse(_ xml: String) throws(VirError) -> Domain {
        var def: Domain
        do { def = try Domain(xml: xml) } catch { throw VirError.xml(error) }
        def.applyDefaults()
        if def.uuid == nil { def.uuid = UUID() }
        def.id = nil
        return def
    }

    /// libvirt's virDomainObjListAdd checks: a name belongs to one uuid and a uuid to one name.
    private func existing(for def: Domain) throws(VirError) -> UUID? {
        guard let uuid = def.uuid else { return nil }
        if let rec = records[uuid] {
            if rec.config.name != def.name {
                throw VirError(.operationFailed, "operation failed: domain '\(rec.config.name)' is already defined with uuid \(uuid.lowercasedString)", domain: .test)
            }
            return uuid
        }
        if let other = records.first(where: { $0.value.config.name == def.name }) {
            throw VirError(.operationFailed, "operation failed: domain '\(def.name)' already exists with uuid \(other.key.lowercasedString)", domain: .test)
        }
        return nil
    }

    public func defineDomain(xml: String, validate: Bool) async throws -> DomainRef {
        let def = try parse(xml)
        guard let uuid = def.uuid else { throw VirError(.internalError, "internal error: domain has no uuid") }
        let updated: Bool
        if let known = try existing(for: def) {
            // Redefining changes the persistent config only; a running guest keeps its live one.
            records[known]!.config = def
            records[known]!.persistent = true
            updated = true
        } else {
            records[uuid] = Record(config: def)
            order.append(uuid)
            updated = false
        }
        let ref = records[uuid]!.ref
        emit(ref, .defined, updated ? 1 : 0)
        return ref
    }

    public func undefineDomain(_ dom: DomainRef, flags: UInt32) async throws {
        let rec = try record(dom)
        guard rec.persistent else {
            throw VirError(.operationInvalid, "Requested operation is not valid: cannot undefine transient domain", domain: .test)
        }
        emit(rec.ref, .undefined, 0)
        if rec.active {
            // A running domain stays until it stops, as a transient one.
            records[dom.uuid]!.persistent = false
            records[dom.uuid]!.autostart = false
        } else {
            remove(dom.uuid)
        }
    }

    private func remove(_ uuid: UUID) {
        records[uuid] = nil
        order.removeAll { $0 == uuid }
    }

    // MARK: Lifecycle

    public func startDomain(_ dom: DomainRef, flags: DomainCreateFlags) async throws -> DomainRef {
        let rec = try record(dom)
        if rec.active { throw VirError(.operationInvalid, "Requested operation is not valid: domain is already running", domain: .test) }
        Self.startRecord(&records[dom.uuid]!, id: &nextID, paused: flags.contains(.paused))
        let ref = records[dom.uuid]!.ref
        emit(ref, .started, 0)   // VIR_DOMAIN_EVENT_STARTED_BOOTED
        if flags.contains(.paused) { emit(ref, .suspended, 0) }
        return ref
    }

    public func createDomain(xml: String, flags: DomainCreateFlags) async throws -> DomainRef {
        let def = try parse(xml)
        guard let uuid = def.uuid else { throw VirError(.internalError, "internal error: domain has no uuid") }
        if let known = try existing(for: def) {
            if records[known]!.active {
                throw VirError(.operationInvalid, "Requested operation is not valid: domain '\(def.name)' is already active", domain: .test)
            }
            // An inactive persistent domain runs the given definition; its config stays.
            Self.startRecord(&records[known]!, id: &nextID, paused: flags.contains(.paused), live: def)
        } else {
            var rec = Record(config: def)
            rec.persistent = false
            Self.startRecord(&rec, id: &nextID, paused: flags.contains(.paused))
            records[uuid] = rec
            order.append(uuid)
        }
        let ref = records[uuid]!.ref
        emit(ref, .started, 0)
        if flags.contains(.paused) { emit(ref, .suspended, 0) }
        return ref
    }

    private func requireActive(_ dom: DomainRef) throws(VirError) -> Record {
        let rec = try record(dom)
        guard rec.active else { throw VirError(.operationInvalid, "Requested operation is not valid: domain is not running", domain: .test) }
        return rec
    }

    /// Stops a domain: shut off with `reason`; a transient domain disappears.
    private func stop(_ dom: DomainRef, reason: Int32, eventDetail: Int32) {
        guard var rec = records[dom.uuid] else { return }
        let ref = rec.ref
        rec.id = -1
        rec.live = nil
        rec.runningSince = nil
        rec.cpuBase = 0
        rec.state = DomainStateReason(.shutoff, reason)
        if rec.persistent { records[dom.uuid] = rec } else { remove(dom.uuid) }
        emit(ref, .stopped, eventDetail)
    }

    public func shutdownDomain(_ dom: DomainRef, flags: UInt32) async throws {
        _ = try requireActive(dom)
        stop(dom, reason: DomainStateReason.shutoffShutdown, eventDetail: 0)   // STOPPED_SHUTDOWN
    }

    public func destroyDomain(_ dom: DomainRef, flags: UInt32) async throws {
        _ = try requireActive(dom)
        stop(dom, reason: DomainStateReason.shutoffDestroyed, eventDetail: 1)  // STOPPED_DESTROYED
    }

    public func rebootDomain(_ dom: DomainRef, flags: UInt32) async throws {
        let rec = try requireActive(dom)
        // The guest goes down and comes back up; a paused guest keeps being paused.
        if rec.state.state != .paused {
            records[dom.uuid]!.state = DomainStateReason(.running, DomainStateReason.runningBooted)
        }
    }

    public func resetDomain(_ dom: DomainRef) async throws {
        _ = try requireActive(dom)
    }

    public func suspendDomain(_ dom: DomainRef) async throws {
        let rec = try requireActive(dom)
        if rec.state.state == .paused {
            throw VirError(.operationInvalid, "Requested operation is not valid: domain is already paused", domain: .test)
        }
        accrueCPU(dom.uuid)
        records[dom.uuid]!.runningSince = nil
        records[dom.uuid]!.state = DomainStateReason(.paused, DomainStateReason.pausedUser)
        emit(rec.ref, .suspended, 0)   // SUSPENDED_PAUSED
    }

    public func resumeDomain(_ dom: DomainRef) async throws {
        let rec = try requireActive(dom)
        guard rec.state.state == .paused else {
            throw VirError(.operationInvalid, "Requested operation is not valid: domain is not paused", domain: .test)
        }
        records[dom.uuid]!.runningSince = Date()
        records[dom.uuid]!.state = DomainStateReason(.running, DomainStateReason.runningUnpaused)
        emit(rec.ref, .resumed, 0)     // RESUMED_UNPAUSED
    }

    private func accrueCPU(_ uuid: UUID) {
        guard let since = records[uuid]?.runningSince else { return }
        records[uuid]!.cpuBase += UInt64(max(0, Date().timeIntervalSince(since)) * 1e9)
        records[uuid]!.runningSince = Date()
    }

    /// Fake CPU time: wall time spent running, like a guest that never idles.
    private func cpuTime(_ rec: Record) -> UInt64 {
        guard rec.active else { return 0 }
        let running = rec.runningSince.map { UInt64(max(0, Date().timeIntervalSince($0)) * 1e9) } ?? 0
        return rec.cpuBase + running
    }

    // MARK: Queries

    private func effective(_ rec: Record) -> Domain { rec.live ?? rec.config }

    public func domainInfo(_ dom: DomainRef) async throws -> DomainInfo {
        let rec = try record(dom)
        let def = effective(rec)
        return DomainInfo(state: rec.state.state, maxMemKiB: def.memoryKiB,
                          memoryKiB: def.currentMemoryKiB ?? def.memoryKiB,
                          nrVirtCPU: UInt16(clamping: def.vcpu.current ?? def.vcpu.count), cpuTimeNs: cpuTime(rec))
    }

    public func domainState(_ dom: DomainRef) async throws -> DomainStateReason { try record(dom).state }

    public func domainXML(_ dom: DomainRef, flags: DomainXMLFlags) async throws -> String {
        let rec = try record(dom)
        var options: FormatOptions = []
        if flags.contains(.secure) { options.insert(.secure) }
        if flags.contains(.inactive) {
            options.insert(.inactive)
            return rec.config.formatXML(options)
        }
        return effective(rec).formatXML(options)
    }

    public func isPersistent(_ dom: DomainRef) async throws -> Bool { try record(dom).persistent }
    public func autostart(_ dom: DomainRef) async throws -> Bool { try record(dom).autostart }

    public func setAutostart(_ dom: DomainRef, _ on: Bool) async throws {
        let rec = try record(dom)
        guard rec.persistent else {
            throw VirError(.operationInvalid, "Requested operation is not valid: cannot set autostart for transient domain", domain: .test)
        }
        records[dom.uuid]!.autostart = on
    }

    public func vcpuInfo(_ dom: DomainRef) async throws -> [VCPUInfo] {
        let rec = try record(dom)
        guard rec.active else {
            throw VirError(.operationInvalid, "Requested operation is not valid: cannot list vcpus for an inactive domain", domain: .test)
        }
        let n = effective(rec).vcpu.current ?? effective(rec).vcpu.count
        let each = cpuTime(rec) / UInt64(max(1, n))
        return (0..<n).map { VCPUInfo(number: UInt32($0), state: 1, cpuTimeNs: each, cpu: Int32($0 % 16)) }
    }

    public func allDomainStats(_ doms: [DomainRef]?, types: StatsTypes) async throws -> [DomainStatsRecord] {
        let recs: [Record]
        if let doms { recs = try doms.map { dom throws(VirError) in try record(dom) } }
        else { recs = order.compactMap { records[$0] } }
        let wanted = types.isEmpty ? StatsTypes.all : types
        return recs.map { DomainStatsRecord(domain: $0.ref, params: stats($0, wanted)) }
    }

    /// Field names follow libvirt's virConnectGetAllDomainStats documentation; values are fake but consistent.
    private func stats(_ rec: Record, _ types: StatsTypes) -> [TypedParam] {
        let def = effective(rec)
        var p: [TypedParam] = []
        if types.contains(.state) {
            p.append(TypedParam("state.state", .int(rec.state.state.rawValue)))
            p.append(TypedParam("state.reason", .int(rec.state.reason)))
        }
        let cpu = cpuTime(rec)
        if types.contains(.cpuTotal), rec.active {
            p.append(TypedParam("cpu.time", .ullong(cpu)))
            p.append(TypedParam("cpu.user", .ullong(cpu / 10 * 7)))
            p.append(TypedParam("cpu.system", .ullong(cpu / 10 * 2)))
        }
        if types.contains(.balloon) {
            p.append(TypedParam("balloon.current", .ullong(def.currentMemoryKiB ?? def.memoryKiB)))
            p.append(TypedParam("balloon.maximum", .ullong(def.memoryKiB)))
        }
        let vcpus = def.vcpu.current ?? def.vcpu.count
        if types.contains(.vcpu) {
            p.append(TypedParam("vcpu.current", .uint(UInt32(vcpus))))
            p.append(TypedParam("vcpu.maximum", .uint(UInt32(def.vcpu.count))))
            if rec.active {
                for i in 0..<vcpus {
                    p.append(TypedParam("vcpu.\(i).state", .int(1)))
                    p.append(TypedParam("vcpu.\(i).time", .ullong(cpu / UInt64(max(1, vcpus)))))
                }
            }
        }
        if types.contains(.interface), rec.active {
            let nics = def.devices.interfaces
            p.append(TypedParam("net.count", .uint(UInt32(nics.count))))
            for (i, nic) in nics.enumerated() {
                p.append(TypedParam("net.\(i).name", .string(nic.targetDev ?? "testnet\(i)")))
                for (field, value) in [("rx.bytes", 1000), ("rx.pkts", 10), ("rx.errs", 0), ("rx.drop", 0),
                                       ("tx.bytes", 2000), ("tx.pkts", 20), ("tx.errs", 0), ("tx.drop", 0)] {
                    p.append(TypedParam("net.\(i).\(field)", .ullong(UInt64(value))))
                }
            }
        }
        if types.contains(.block) {
            let disks = def.devices.disks
            p.append(TypedParam("block.count", .uint(UInt32(disks.count))))
            for (i, disk) in disks.enumerated() {
                p.append(TypedParam("block.\(i).name", .string(disk.targetDev)))
                if let path = disk.sourcePath { p.append(TypedParam("block.\(i).path", .string(path))) }
                if rec.active {
                    for (field, value) in [("rd.reqs", 1), ("rd.bytes", 512), ("rd.times", 10), ("wr.reqs", 1),
                                           ("wr.bytes", 512), ("wr.times", 10), ("fl.reqs", 0), ("fl.times", 0)] {
                        p.append(TypedParam("block.\(i).\(field)", .ullong(UInt64(value))))
                    }
                }
            }
        }
        return p
    }

    public func osType(_ dom: DomainRef) async throws -> String {
        _ = try record(dom)
        return "linux"   // libvirt's test driver answers "linux" for every domain
    }

    /// Like libvirt's test driver: every NIC of a running domain has one made-up IPv4 address
    /// (192.168.122.3, .4, ...), whatever the source.
    public func interfaceAddresses(_ dom: DomainRef, source: InterfaceAddressSource, flags: UInt32) async throws -> [DomainInterfaceAddresses] {
        let rec = try requireActive(dom)
        return effective(rec).devices.interfaces.enumerated().map { i, nic in
            DomainInterfaceAddresses(name: nic.targetDev ?? "", hwaddr: nic.mac,
                                     addrs: [DomainIPAddress(type: .ipv4, addr: "192.168.122.\(3 + i)", prefix: 24)])
        }
    }

    public func securityModel() async throws -> SecurityModel { SecurityModel(model: "testSecurity", doi: "") }

    public func securityLabel(_ dom: DomainRef) async throws -> SecurityLabel? {
        _ = try record(dom)
        return SecurityLabel(label: "libvirt-test", enforcing: true)
    }

    // MARK: Console, native config, events

    /// The console echoes what is written to it, so that scripts can exercise `corral console`.
    public func openConsole(_ dom: DomainRef, devName: String?, force: Bool) async throws -> any ByteStream {
        _ = try requireActive(dom)
        if let devName, !["serial0", "console0"].contains(devName) {
            throw VirError(.operationFailed, "operation failed: cannot find character device \(devName)", domain: .test)
        }
        return EchoStream()
    }

    public func domainXMLToNative(format: String, xml: String) async throws -> String {
        throw VirError(.noSupport, "this function is not supported by the connection driver: virConnectDomainXMLToNative", domain: .test)
    }

    public func events() async throws -> AsyncStream<DomainEvent> {
        let key = UUID()
        let (stream, continuation) = AsyncStream<DomainEvent>.makeStream()
        listeners[key] = continuation
        continuation.onTermination = { [weak self] _ in
            Task { await self?.dropListener(key) }
        }
        return stream
    }

    private func dropListener(_ key: UUID) { listeners[key] = nil }

    private func emit(_ ref: DomainRef, _ kind: DomainEvent.Kind, _ detail: Int32) {
        let event = DomainEvent(domain: ref, kind: kind, detail: detail)
        for c in listeners.values { c.yield(event) }
    }
}

/// A console that returns what was written to it.
actor EchoStream: ByteStream {
    private var buffer: [UInt8] = []
    private var closed = false
    private var waiter: CheckedContinuation<Void, Never>?

    func read() async throws -> [UInt8]? {
        while buffer.isEmpty && !closed {
            guard waiter == nil else {
                throw VirError(.operationInvalid, "Requested operation is not valid: console read already in progress", domain: .test)
            }
            await withCheckedContinuation { waiter = $0 }
        }
        if buffer.isEmpty { return nil }
        defer { buffer.removeAll() }
        return buffer
    }

    func write(_ bytes: [UInt8]) async throws {
        guard !closed else { throw VirError(.operationFailed, "operation failed: console stream is closed") }
        buffer += bytes
        wake()
    }

    func close() async {
        closed = true
        wake()
    }

    private func wake() {
        waiter?.resume()
        waiter = nil
    }
}
