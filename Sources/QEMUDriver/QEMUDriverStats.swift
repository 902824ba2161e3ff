import Foundation
import DomainXML
import Hypervisor

extension QEMUDriver {
    public func domainInfo(_ dom: DomainRef) async throws -> DomainInfo {
        let e = try resolve(dom)
        guard let def = e.current else { throw VirError.noDomain(name: e.name) }
        let st = try await domainState(dom).state
        var cpuNs: UInt64 = 0
        if e.isActive, let pid = e.status?.pid, let stat = ProcStat(pid: pid) { cpuNs = stat.totalNs }
        return DomainInfo(state: st, maxMemKiB: def.memoryKiB, memoryKiB: def.currentMemoryKiB ?? def.memoryKiB,
                          nrVirtCPU: UInt16(clamping: def.vcpu.current ?? def.vcpu.count), cpuTimeNs: cpuNs)
    }

    public func vcpuInfo(_ dom: DomainRef) async throws -> [VCPUInfo] {
        let e = try requireActive(dom)
        guard let pid = e.status?.pid else { throw VirError.notRunning(e.name) }
        let cpus = try await withMonitor(e.name) { qmp in try await qmp.execute("query-cpus-fast") }
        return Self.vcpus(from: cpus, pid: pid)
    }

    /// vCPU threads from query-cpus-fast, with time and host CPU from /proc/PID/task/TID/stat.
    static func vcpus(from reply: QMPValue, pid: Int32) -> [VCPUInfo] {
        (reply.array ?? []).enumerated().map { i, cpu in
            let index = cpu["cpu-index"]?.int64.map { UInt32(clamping: $0) } ?? UInt32(i)
            let tid = cpu["thread-id"]?.int64.map { Int32(clamping: $0) }
            let stat = tid.flatMap { ProcStat(pid: pid, tid: $0) }
            return VCPUInfo(number: index, state: 1, cpuTimeNs: stat?.totalNs ?? 0, cpu: stat?.processor ?? -1)
        }
    }

    public func allDomainStats(_ doms: [DomainRef]?, types: StatsTypes) async throws -> [DomainStatsRecord] {
        let entries: [DomainEntry]
        if let doms {
            entries = try doms.map { try resolve($0) }
        } else {
            entries = loadEntries()
        }
        let types = types.isEmpty ? StatsTypes.all : types
        var records: [DomainStatsRecord] = []
        for e in entries {
            records.append(DomainStatsRecord(domain: e.ref, params: await stats(for: e, types: types)))
        }
        return records
    }

    /// One domain's typed parameters, with libvirt's field names (virConnectGetAllDomainStats).
    func stats(for e: DomainEntry, types: StatsTypes) async -> [TypedParam] {
        var p: [TypedParam] = []
        let st = e.isActive ? ((try? await domainState(e.ref)) ?? e.status?.domainState ?? DomainStateReason(.running))
                            : shutoffState(e.name)
        if types.contains(.state) {
            p.append(TypedParam("state.state", .int(st.state.rawValue)))
            p.append(TypedParam("state.reason", .int(st.reason)))
        }
        guard e.isActive, let live = e.live, let pid = e.status?.pid else { return p }
        // Volume disks report the path QEMU opened (a pool stopped since then leaves them path-less).
        let def = (try? await resolvingVolumes(live)) ?? live
        let proc = ProcStat(pid: pid)
        if types.contains(.cpuTotal), let proc {
            p.append(TypedParam("cpu.time", .ullong(proc.totalNs)))
            p.append(TypedParam("cpu.user", .ullong(proc.userNs)))
            p.append(TypedParam("cpu.system", .ullong(proc.systemNs)))
        }
        // One monitor session for all QMP-backed groups; if the monitor is busy the groups are skipped.
        let wantQMP = !types.intersection([.balloon, .vcpu, .block]).isEmpty
        var balloon: QMPValue?, cpus: QMPValue?, blocks: QMPValue?, devices: QMPValue?
        if wantQMP, let lock = try? await FileLock.acquire(state.monitorLock(e.name), timeout: 5, what: "monitor"),
           let qmp = try? await QMPClient.connect(path: "\(state.domainRunDir(e.name))/monitor.sock", timeout: .seconds(5)) {
            if types.contains(.balloon) { balloon = try? await qmp.execute("query-balloon") }
            if types.contains(.vcpu) { cpus = try? await qmp.execute("query-cpus-fast") }
            if types.contains(.block) {
                blocks = try? await qmp.execute("query-blockstats")
                devices = try? await qmp.execute("query-block")
            }
            await qmp.close()
            lock.release()
        }
        if types.contains(.balloon) {
            let current = balloon?["actual"]?.uint64.map { $0 / 1024 } ?? (def.currentMemoryKiB ?? def.memoryKiB)
            p.append(TypedParam("balloon.current", .ullong(current)))
            p.append(TypedParam("balloon.maximum", .ullong(def.memoryKiB)))
            // libvirt's balloon.rss: the QEMU process's resident set, in KiB.
            if let rss = Self.residentKiB(pid: pid) { p.append(TypedParam("balloon.rss", .ullong(rss))) }
        }
        if types.contains(.vcpu) {
            let vcpus = cpus.map { Self.vcpus(from: $0, pid: pid) } ?? []
            p.append(TypedParam("vcpu.current", .uint(UInt32(clamping: def.vcpu.current ?? def.vcpu.count))))
            p.append(TypedParam("vcpu.maximum", .uint(UInt32(clamping: def.vcpu.count))))
            for v in vcpus {
                p.append(TypedParam("vcpu.\(v.number).state", .int(v.state)))
                p.append(TypedParam("vcpu.\(v.number).time", .ullong(v.cpuTimeNs)))
            }
        }
        if types.contains(.interface) {
            // User-mode (slirp) NICs have no host device, so /proc/net/dev has no counters for them: names only.
            let nics = def.devices.interfaces
            p.append(TypedParam("net.count", .uint(UInt32(nics.count))))
            for (i, nic) in nics.enumerated() {
                p.append(TypedParam("net.\(i).name", .string(nic.targetDev ?? nic.alias ?? "net\(i)")))
            }
        }
        if types.contains(.block) {
            let disks = def.devices.disks
            p.append(TypedParam("block.count", .uint(UInt32(disks.count))))
            let statsByPath = Self.blockStatsByPath(stats: blocks, devices: devices)
            for (i, disk) in disks.enumerated() {
                p.append(TypedParam("block.\(i).name", .string(disk.targetDev)))
                if let path = disk.sourcePath { p.append(TypedParam("block.\(i).path", .string(path))) }
                guard let path = disk.sourcePath, let s = statsByPath[path] else { continue }
                for (field, key) in [("rd.reqs", "rd_operations"), ("rd.bytes", "rd_bytes"), ("wr.reqs", "wr_operations"),
                                     ("wr.bytes", "wr_bytes"), ("fl.reqs", "flush_operations")] {
                    if let v = s[key]?.uint64 { p.append(TypedParam("block.\(i).\(field)", .ullong(v))) }
                }
                for (field, key) in [("rd.times", "rd_total_time_ns"), ("wr.times", "wr_total_time_ns"), ("fl.times", "flush_total_time_ns")] {
                    if let v = s[key]?.uint64 { p.append(TypedParam("block.\(i).\(field)", .ullong(v))) }
                }
            }
        }
        return p
    }

    /// query-blockstats entries keyed by image path: query-block tells which file each guest device
    /// (qdev) has inserted, so disks are matched by their source path whatever the device ids are.
    static func blockStatsByPath(stats: QMPValue?, devices: QMPValue?) -> [String: QMPValue] {
        var pathByDevice: [String: String] = [:]
        for dev in devices?.array ?? [] {
            guard let inserted = dev["inserted"],
                  let file = inserted["image"]?["filename"]?.string ?? inserted["file"]?.string else { continue }
            for key in ["qdev", "device"] {
                if let name = dev[key]?.string, !name.isEmpty { pathByDevice[name] = file }
            }
        }
        var out: [String: QMPValue] = [:]
        for entry in stats?.array ?? [] {
            guard let s = entry["stats"] else { continue }
            for key in ["qdev", "device"] {
                if let name = entry[key]?.string, !name.isEmpty, let path = pathByDevice[name] { out[path] = s }
            }
        }
        return out
    }

    /// Resident set size of `pid` from /proc/PID/statm (second field, in pages).
    static func residentKiB(pid: Int32) -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = UInt64(fields[1]) else { return nil }
        return pages * UInt64(max(1, sysconf(Int32(_SC_PAGESIZE)))) / 1024
    }
}
