import DomainXML
import Foundation
import Hypervisor

// What each procedure does on the server, in terms of the session's HypervisorDriver.

extension RemoteServer {
    /// The procedures Corral serves.
    public static func standardTable() -> ProcedureTable {
        var t = ProcedureTable()
        registerConnection(&t)
        registerLists(&t)
        registerLifecycle(&t)
        registerQueries(&t)
        registerStats(&t)
        registerStreamsAndEvents(&t)
        registerStorage(&t)
        registerNetworks(&t)
        registerDevices(&t)
        return t
    }

    private static func registerConnection(_ t: inout ProcedureTable) {
        t.register(Procedures.authList) { _, _ in AuthListRet(types: [AuthListRet.none]) }
        t.register(Procedures.connectOpen) { s, a in try await s.open(uri: a.name, flags: a.flags); return XDRVoid() }
        t.register(Procedures.connectClose) { s, _ in await s.closeConnection(); return XDRVoid() }
        t.register(Procedures.connectSupportsFeature) { s, a in
            // Asking is how a libvirt client announces it answers pings, so libvirtd starts its
            // own keepalive then; so does Corral.
            if a.value == DriverFeature.programKeepalive { await s.startKeepalive() }
            let supported: Set<Int32> = [DriverFeature.programKeepalive, DriverFeature.remoteEventCallback,
                                         DriverFeature.remoteCloseCallback, DriverFeature.typedParamString,
                                         DriverFeature.xmlMigratable]
            return Int32Ret(supported.contains(a.value) ? 1 : 0)
        }
        t.register(Procedures.connectGetType) { s, _ in StringValue(try await s.driver().hypervisorType()) }
        t.register(Procedures.connectGetVersion) { s, _ in UInt64Ret(try await s.driver().hypervisorVersion()) }
        t.register(Procedures.connectGetLibVersion) { s, _ in UInt64Ret(s.server.config.libVersion) }
        t.register(Procedures.connectGetHostname) { s, _ in StringValue(try await s.driver().hostname()) }
        t.register(Procedures.connectGetURI) { s, _ in StringValue(s.server.config.uri) }
        t.register(Procedures.connectIsSecure) { s, _ in Int32Ret(s.secure ? 1 : 0) }
        t.register(Procedures.connectGetCapabilities) { s, _ in StringValue(try await s.driver().capabilitiesXML()) }
        t.register(Procedures.connectGetDomainCapabilities) { s, a in
            StringValue(try await s.driver().domainCapabilitiesXML(emulator: a.emulatorbin, arch: a.arch,
                                                                    machine: a.machine, virtType: a.virttype))
        }
        t.register(Procedures.nodeGetInfo) { s, _ in NodeGetInfoRet(try await s.driver().nodeInfo()) }
        t.register(Procedures.nodeGetCPUMap) { s, a in
            let cpus = Int(max(0, try await s.driver().nodeInfo().cpus))
            let map = a.needMap != 0 ? cpuMap(cpus: cpus, length: (cpus + 7) / 8) : []
            return NodeGetCPUMapRet(cpumap: map, online: a.needOnline != 0 ? UInt32(cpus) : 0, ret: Int32(cpus))
        }
        t.register(Procedures.nodeGetSecurityModel) { s, _ in SecurityModelRet(try await s.driver().securityModel()) }
        t.register(Procedures.connectDomainXMLToNative) { s, a in
            StringValue(try await s.driver().domainXMLToNative(format: a.nativeFormat, xml: a.domainXml))
        }
        // virsh registers a close callback; the server has nothing to keep for it.
        t.register(Procedures.connectRegisterCloseCallback) { _, _ in XDRVoid() }
        t.register(Procedures.connectUnregisterCloseCallback) { _, _ in XDRVoid() }
    }

    private static func registerLists(_ t: inout ProcedureTable) {
        t.register(Procedures.connectListAllDomains) { s, a in
            let doms = try await s.driver().listAllDomains(flags: ListDomainsFlags(rawValue: a.flags))
            return ListAllDomainsRet(domains: a.needResults != 0 ? doms : [], ret: UInt32(doms.count))
        }
        t.register(Procedures.connectListDomains) { s, a in
            try checkMax(a.value, XDRLimits.domainListMax, "maxids")
            let ids = try await s.driver().listAllDomains(flags: .active).map(\.id).sorted()
            return ListDomainIDsRet(ids: Array(ids.prefix(Int(max(0, a.value)))))
        }
        t.register(Procedures.connectNumOfDomains) { s, _ in
            Int32Ret(Int32(try await s.driver().listAllDomains(flags: .active).count))
        }
        t.register(Procedures.connectListDefinedDomains) { s, a in
            try checkMax(a.value, XDRLimits.domainListMax, "maxnames")
            let names = try await s.driver().listAllDomains(flags: .inactive).map(\.name)
            return ListDomainNamesRet(names: Array(names.prefix(Int(max(0, a.value)))))
        }
        t.register(Procedures.connectNumOfDefinedDomains) { s, _ in
            Int32Ret(Int32(try await s.driver().listAllDomains(flags: .inactive).count))
        }
        t.register(Procedures.domainLookupByName) { s, a in DomainRet(try await s.driver().lookupDomain(name: a.value)) }
        t.register(Procedures.domainLookupByUUID) { s, a in DomainRet(try await s.driver().lookupDomain(uuid: a.uuid)) }
        t.register(Procedures.domainLookupByID) { s, a in DomainRet(try await s.driver().lookupDomain(id: a.value)) }
    }

    private static func registerLifecycle(_ t: inout ProcedureTable) {
        t.register(Procedures.domainDefineXML) { s, a in DomainRet(try await s.driver().defineDomain(xml: a.value, validate: false)) }
        t.register(Procedures.domainDefineXMLFlags) { s, a in
            // VIR_DOMAIN_DEFINE_VALIDATE
            DomainRet(try await s.driver().defineDomain(xml: a.xml, validate: a.flags & 1 != 0))
        }
        t.register(Procedures.domainUndefine) { s, a in try await s.driver().undefineDomain(a.dom, flags: 0); return XDRVoid() }
        t.register(Procedures.domainUndefineFlags) { s, a in try await s.driver().undefineDomain(a.dom, flags: a.flags); return XDRVoid() }
        t.register(Procedures.domainCreate) { s, a in _ = try await s.driver().startDomain(a.dom, flags: []); return XDRVoid() }
        t.register(Procedures.domainCreateWithFlags) { s, a in
            DomainRet(try await s.driver().startDomain(a.dom, flags: DomainCreateFlags(rawValue: a.flags)))
        }
        t.register(Procedures.domainCreateXML) { s, a in
            DomainRet(try await s.driver().createDomain(xml: a.xml, flags: DomainCreateFlags(rawValue: a.flags)))
        }
        t.register(Procedures.domainShutdown) { s, a in try await s.driver().shutdownDomain(a.dom, flags: 0); return XDRVoid() }
        t.register(Procedures.domainShutdownFlags) { s, a in try await s.driver().shutdownDomain(a.dom, flags: a.flags); return XDRVoid() }
        t.register(Procedures.domainDestroy) { s, a in try await s.driver().destroyDomain(a.dom, flags: 0); return XDRVoid() }
        t.register(Procedures.domainDestroyFlags) { s, a in try await s.driver().destroyDomain(a.dom, flags: a.flags); return XDRVoid() }
        t.register(Procedures.domainReboot) { s, a in try await s.driver().rebootDomain(a.dom, flags: a.flags); return XDRVoid() }
        t.register(Procedures.domainReset) { s, a in try await s.driver().resetDomain(a.dom); return XDRVoid() }
        t.register(Procedures.domainSuspend) { s, a in try await s.driver().suspendDomain(a.dom); return XDRVoid() }
        t.register(Procedures.domainResume) { s, a in try await s.driver().resumeDomain(a.dom); return XDRVoid() }
        t.register(Procedures.domainSetAutostart) { s, a in
            try await s.driver().setAutostart(a.dom, a.autostart != 0); return XDRVoid()
        }
    }

    private static func registerQueries(_ t: inout ProcedureTable) {
        t.register(Procedures.domainGetInfo) { s, a in DomainGetInfoRet(try await s.driver().domainInfo(a.dom)) }
        t.register(Procedures.domainGetState) { s, a in
            let st = try await s.driver().domainState(a.dom)
            return DomainGetStateRet(state: st.state.rawValue, reason: st.reason)
        }
        t.register(Procedures.domainGetXMLDesc) { s, a in
            StringValue(try await s.driver().domainXML(a.dom, flags: DomainXMLFlags(rawValue: a.flags)))
        }
        t.register(Procedures.domainGetAutostart) { s, a in Int32Ret(try await s.driver().autostart(a.dom) ? 1 : 0) }
        t.register(Procedures.domainIsActive) { s, a in
            Int32Ret(try await s.driver().lookupDomain(uuid: a.dom.uuid).id != -1 ? 1 : 0)
        }
        t.register(Procedures.domainIsPersistent) { s, a in Int32Ret(try await s.driver().isPersistent(a.dom) ? 1 : 0) }
        t.register(Procedures.domainGetOSType) { s, a in StringValue(try await s.driver().osType(a.dom)) }
        t.register(Procedures.domainGetMaxMemory) { s, a in UInt64Ret(try await s.driver().domainInfo(a.dom).maxMemKiB) }
        t.register(Procedures.domainGetMaxVcpus) { s, a in
            Int32Ret(try await vcpuCount(s, a.dom, flags: VcpuFlags.live | VcpuFlags.maximum))
        }
        t.register(Procedures.domainGetVcpusFlags) { s, a in Int32Ret(try await vcpuCount(s, a.dom, flags: a.flags)) }
        t.register(Procedures.domainHasManagedSaveImage) { s, a in
            // Corral has no managed save; the lookup still reports a missing domain.
            _ = try await s.driver().lookupDomain(uuid: a.dom.uuid)
            return Int32Ret(0)
        }
        t.register(Procedures.domainGetMessages) { s, a in
            // Corral records no taint or deprecation messages; the lookup still reports a missing domain.
            _ = try await s.driver().lookupDomain(uuid: a.dom.uuid)
            return ListDomainNamesRet(names: [])
        }
        t.register(Procedures.domainGetVcpus) { s, a in
            try checkMax(a.maxinfo, XDRLimits.vcpuInfoMax, "maxinfo")
            guard a.maplen >= 0, Int(a.maxinfo) * Int(a.maplen) <= XDRLimits.cpumapsMax else {
                throw VirError(.rpc, "maxinfo * maplen > REMOTE_CPUMAPS_MAX", domain: .rpc)
            }
            let d = try await s.driver()
            let info = Array(try await d.vcpuInfo(a.dom).prefix(Int(max(0, a.maxinfo))))
            let cpus = Int(max(0, try await d.nodeInfo().cpus))
            let map = cpuMap(cpus: cpus, length: Int(a.maplen))
            return DomainGetVcpusRet(info: info, cpumaps: Array(repeating: map, count: info.count).flatMap { $0 })
        }
        t.register(Procedures.domainGetSecurityLabel) { s, a in SecurityLabelRet(try await s.driver().securityLabel(a.dom)) }
        t.register(Procedures.domainGetSecurityLabelList) { s, a in
            let labels = try await s.driver().securityLabel(a.dom).map { [SecurityLabelRet($0)] } ?? []
            return SecurityLabelListRet(labels: labels, ret: Int32(labels.count))
        }
    }

    private static func registerStats(_ t: inout ProcedureTable) {
        t.register(Procedures.connectGetAllDomainStats) { s, a in
            let d = try await s.driver()
            // Stats bits 0 mean "all"; the low flag bits filter like virConnectListAllDomains.
            let types = a.stats == 0 ? StatsTypes.all : StatsTypes(rawValue: a.stats)
            let doms: [DomainRef]
            if a.doms.isEmpty {
                doms = try await d.listAllDomains(flags: ListDomainsFlags(rawValue: a.flags & 0xff))
            } else {
                doms = a.doms
            }
            return GetAllDomainStatsRet(retStats: try await d.allDomainStats(doms, types: types))
        }
        t.register(Procedures.domainMemoryStats) { s, a in
            let params = try await s.driver().allDomainStats([a.dom], types: .balloon).first?.params ?? []
            var stats: [MemoryStat] = []
            for p in params {
                guard let tag = memoryStatTags[p.field], let v = p.value.uint64 else { continue }
                stats.append(MemoryStat(tag: tag, val: v))
            }
            return DomainMemoryStatsRet(stats: Array(stats.prefix(Int(min(a.maxStats, UInt32(XDRLimits.memoryStatsMax))))))
        }
        t.register(Procedures.domainBlockStats) { s, a in
            let p = try await deviceStats(s, a, kind: "block", types: .block)
            return DomainBlockStatsRet(["rd.reqs", "rd.bytes", "wr.reqs", "wr.bytes", "errs"].map { p[$0] ?? -1 })
        }
        t.register(Procedures.domainInterfaceStats) { s, a in
            let p = try await deviceStats(s, a, kind: "net", types: .interface)
            return DomainInterfaceStatsRet(["rx.bytes", "rx.pkts", "rx.errs", "rx.drop", "tx.bytes", "tx.pkts", "tx.errs", "tx.drop"]
                .map { p[$0] ?? -1 })
        }
    }

    private static func registerStreamsAndEvents(_ t: inout ProcedureTable) {
        t.register(Procedures.domainOpenConsole) { s, a in
            let stream = try await s.driver().openConsole(a.dom, devName: a.devName,
                                                          force: a.flags & DomainOpenConsoleArgs.force != 0)
            await s.addStream(procedure: Procedures.domainOpenConsole.number, stream)
            return XDRVoid()
        }
        t.register(Procedures.connectDomainEventCallbackRegisterAny) { s, a in
            Int32Ret(try await s.registerCallback(eventID: a.eventID, filter: a.dom))
        }
        t.register(Procedures.connectDomainEventCallbackDeregisterAny) { s, a in
            try await s.deregisterCallback(a.value); return XDRVoid()
        }
    }

    // MARK: Helpers

    static func checkMax(_ n: Int32, _ max: Int, _ what: String) throws {
        guard Int(n) <= max else { throw VirError(.rpc, "\(what) > \(max)", domain: .rpc) }
    }

    /// A CPU affinity bitmap with the first `cpus` bits set.
    static func cpuMap(cpus: Int, length: Int) -> [UInt8] {
        (0..<max(0, length)).map { byte in
            var b: UInt8 = 0
            for bit in 0..<8 where byte * 8 + bit < cpus { b |= 1 << bit }
            return b
        }
    }

    /// virDomainVcpuFlags.
    enum VcpuFlags {
        static let live: UInt32 = 1, config: UInt32 = 2, maximum: UInt32 = 4, guest: UInt32 = 8
    }

    /// virDomainGetVcpusFlags: the current or maximum vCPU count of the live definition
    /// (LIVE, or neither flag on a running domain) or of the persistent one (CONFIG).
    static func vcpuCount(_ s: ClientSession, _ dom: DomainRef, flags: UInt32) async throws -> Int32 {
        if flags & VcpuFlags.guest != 0 {
            throw VirError(.noSupport, "this function is not supported by the connection driver: virDomainGetVcpusFlags with VIR_DOMAIN_VCPU_GUEST", domain: .qemu)
        }
        if flags & VcpuFlags.live != 0 && flags & VcpuFlags.config != 0 {
            throw VirError(.invalidArg, "invalid argument: flags 'affect live' and 'affect config' are mutually exclusive", domain: .qemu)
        }
        let d = try await s.driver()
        let active = try await d.lookupDomain(uuid: dom.uuid).id != -1
        if flags & VcpuFlags.live != 0 && !active { throw VirError.notRunning(dom.name) }
        let useConfig = flags & VcpuFlags.config != 0 || !active
        let xml = try await d.domainXML(dom, flags: useConfig ? .inactive : [])
        let def: Domain
        do { def = try Domain(xml: xml) } catch { throw VirError.xml(error) }
        let n = flags & VcpuFlags.maximum != 0 ? def.vcpu.count : (def.vcpu.current ?? def.vcpu.count)
        return Int32(clamping: n)
    }

    /// virDomainMemoryStatTags by the balloon.* field names of bulk stats.
    static let memoryStatTags: [String: Int32] = [
        "balloon.swap_in": 0, "balloon.swap_out": 1, "balloon.major_fault": 2, "balloon.minor_fault": 3,
        "balloon.unused": 4, "balloon.available": 5, "balloon.current": 6, "balloon.rss": 7,
        "balloon.usable": 8, "balloon.last-update": 9, "balloon.disk_caches": 10,
        "balloon.hugetlb_pgalloc": 11, "balloon.hugetlb_pgfail": 12,
    ]

    /// One device's counters from bulk stats, by field suffix; the device is named by its
    /// target (vda, vnet0) or, for disks, its source path, as virDomainBlockStats accepts.
    static func deviceStats(_ s: ClientSession, _ a: DomainPathArgs, kind: String, types: StatsTypes) async throws -> [String: Int64] {
        let params = try await s.driver().allDomainStats([a.dom], types: types).first?.params ?? []
        var byIndex: [String: [String: TypedValue]] = [:]
        for p in params {
            let parts = p.field.split(separator: ".", maxSplits: 2)
            guard parts.count == 3, parts[0] == kind else { continue }
            byIndex[String(parts[1]), default: [:]][String(parts[2])] = p.value
        }
        for (_, fields) in byIndex.sorted(by: { $0.key < $1.key }) {
            let names = [fields["name"], fields["path"]].compactMap { v -> String? in
                if case .string(let s)? = v { return s } else { return nil }
            }
            guard names.contains(a.path) else { continue }
            var out: [String: Int64] = [:]
            for (k, v) in fields { if let n = v.uint64 { out[k] = Int64(clamping: n) } }
            return out
        }
        throw VirError(.invalidArg, "invalid argument: invalid path: \(a.path)", domain: .qemu)
    }
}

extension TypedValue {
    /// The value as an unsigned number, for counters of any integer type.
    var uint64: UInt64? {
        switch self {
        case .int(let v): v >= 0 ? UInt64(v) : nil
        case .uint(let v): UInt64(v)
        case .llong(let v): v >= 0 ? UInt64(v) : nil
        case .ullong(let v): v
        default: nil
        }
    }
}
