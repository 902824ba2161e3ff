import ArgumentParser
import DomainXML
import Foundation
import Hypervisor

// list, dominfo, domstate, domid, domuuid, domname, domblklist, domiflist, domstats.

struct ListDomains: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "list domains")

    @Flag(help: "List inactive domains.") var inactive = false
    @Flag(help: "List inactive & active domains.") var all = false
    @Flag(help: "List transient domains.") var transient = false
    @Flag(help: "List persistent domains.") var persistent = false
    @Flag(name: .customLong("state-running"), help: "List domains in running state.") var stateRunning = false
    @Flag(name: .customLong("state-paused"), help: "List domains in paused state.") var statePaused = false
    @Flag(name: .customLong("state-shutoff"), help: "List domains in shutoff state.") var stateShutoff = false
    @Flag(name: .customLong("state-other"), help: "List domains in other states.") var stateOther = false
    @Flag(help: "List domains with autostart enabled.") var autostart = false
    @Flag(name: .customLong("no-autostart"), help: "List domains with autostart disabled.") var noAutostart = false
    @Flag(help: "List uuids only.") var uuid = false
    @Flag(help: "List domain names only.") var name = false
    @Flag(help: "List domain ids only.") var id = false
    @Flag(help: "List table (default).") var table = false
    @Flag(help: "Show domain title.") var title = false
    @Flag(help: "Machine-readable output (JSON).") var json = false

    func validate() throws {
        if table && name { throw ValidationError("Options --table and --name are mutually exclusive") }
        if table && id { throw ValidationError("Options --table and --id are mutually exclusive") }
        if json && (table || name || id || uuid) { throw ValidationError("--json cannot be combined with --table, --name, --id or --uuid") }
    }

    var flags: ListDomainsFlags {
        var flags: ListDomainsFlags = .active
        if inactive || stateShutoff { flags = .inactive }
        if all { flags = [.active, .inactive] }
        if persistent { flags.insert(.persistent) }
        if transient { flags.insert(.transient) }
        if autostart { flags.insert(.autostart) }
        if noAutostart { flags.insert(.noAutostart) }
        if stateRunning { flags.insert(.running) }
        if statePaused { flags.insert(.paused) }
        if stateShutoff { flags.insert(.shutoff) }
        if stateOther { flags.insert(.other) }
        return flags
    }

    /// virshDomainSorter: running domains by id, then inactive ones by name.
    static func sorted(_ doms: [DomainRef]) -> [DomainRef] {
        doms.sorted { a, b in
            switch (a.id != -1, b.id != -1) {
            case (true, true): a.id < b.id
            case (false, false): a.name < b.name
            case (true, false): true
            case (false, true): false
            }
        }
    }

    func execute(_ shell: Shell) async throws {
        let conn = try await shell.connection()
        let doms = Self.sorted(try await attempt("Failed to list domains") { try await conn.listAllDomains(flags: flags) })
        if json {
            var items: [[String: Any]] = []
            for dom in doms {
                let state = (try? await conn.domainState(dom)) ?? DomainStateReason(.noState)
                items.append([
                    "id": dom.id == -1 ? NSNull() : NSNumber(value: dom.id),
                    "name": dom.name, "uuid": dom.uuid.lowercasedString,
                    "state": state.state.virshName, "reason": state.reasonName,
                    "persistent": (try? await conn.isPersistent(dom)) ?? false,
                    "autostart": (try? await conn.autostart(dom)) ?? false,
                ])
            }
            shell.print(JSONOutput.encode(items))
            return
        }
        let asTable = table || (!uuid && !name && !id)
        if asTable {
            var header = ["Id", "Name", "State"]
            if title { header.append("Title") }
            if uuid { header.append("UUID") }
            var t = Table(header: header)
            for dom in doms {
                guard let state = try? await conn.domainState(dom) else { continue }   // gone meanwhile
                var row = [dom.id == -1 ? "-" : String(dom.id), dom.name, state.state.virshName]
                if title {
                    let xml = (try? await conn.domainXML(dom, flags: [])) ?? ""
                    row.append((try? Domain(xml: xml))?.title ?? "")
                }
                if uuid { row.append(dom.uuid.lowercasedString) }
                t.append(row: row)
            }
            shell.print(t.render(header: !shell.quiet))
            return
        }
        for dom in doms {
            var parts: [String] = []
            if uuid { parts.append(dom.uuid.lowercasedString) }
            if id {
                // ids only: inactive domains have none to print
                if dom.id == -1 && !uuid && !name { continue }
                parts.append(dom.id == -1 ? "-" : String(dom.id))
            }
            if name { parts.append(dom.name) }
            shell.print(parts.joined(separator: " ") + "\n")
        }
    }
}

struct DomInfo: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "dominfo", abstract: "domain information")
    @OptionGroup var domain: DomainArgument
    @Flag(help: "Machine-readable output (JSON).") var json = false

    /// virsh's "%-15s %s" lines.
    static func line(_ label: String, _ value: String) -> String {
        label.padding(toLength: max(15, label.count), withPad: " ", startingAt: 0) + " " + value + "\n"
    }

    func execute(_ shell: Shell) async throws {
        let conn = try await shell.connection()
        let dom = try await shell.domain(domain.value)
        let osType = try await conn.osType(dom)
        let info = try await conn.domainInfo(dom)
        let persistent = try? await conn.isPersistent(dom)
        let autostart = try? await conn.autostart(dom)
        let secModel = try await conn.securityModel()
        let label = secModel.model.isEmpty ? nil : try await conn.securityLabel(dom)

        if json {
            var obj: [String: Any] = [
                "id": dom.id == -1 ? NSNull() : NSNumber(value: dom.id), "name": dom.name,
                "uuid": dom.uuid.lowercasedString, "osType": osType, "state": info.state.virshName,
                "cpus": Int(info.nrVirtCPU), "cpuTimeNs": info.cpuTimeNs, "maxMemoryKiB": info.maxMemKiB,
                "usedMemoryKiB": info.memoryKiB, "managedSave": false,
            ]
            if let persistent { obj["persistent"] = persistent }
            if let autostart { obj["autostart"] = autostart }
            if !secModel.model.isEmpty { obj["securityModel"] = secModel.model; obj["securityDOI"] = secModel.doi }
            if let label { obj["securityLabel"] = label.label; obj["securityEnforcing"] = label.enforcing }
            shell.print(JSONOutput.encode(obj))
            return
        }

        var out = Self.line("Id:", dom.id == -1 ? "-" : String(dom.id))
        out += Self.line("Name:", dom.name)
        out += Self.line("UUID:", dom.uuid.lowercasedString)
        out += Self.line("OS Type:", osType)
        out += Self.line("State:", info.state.virshName)
        out += Self.line("CPU(s):", String(info.nrVirtCPU))
        if info.cpuTimeNs != 0 {
            out += Self.line("CPU time:", String(format: "%.1fs", Double(info.cpuTimeNs) / 1e9))
        }
        out += Self.line("Max memory:", info.maxMemKiB == UInt64(UInt32.max) ? "no limit" : "\(info.maxMemKiB) KiB")
        out += Self.line("Used memory:", "\(info.memoryKiB) KiB")
        out += Self.line("Persistent:", persistent.map { $0 ? "yes" : "no" } ?? "unknown")
        if let autostart { out += Self.line("Autostart:", autostart ? "enable" : "disable") }
        out += Self.line("Managed save:", "no")
        if !secModel.model.isEmpty {
            out += Self.line("Security model:", secModel.model)
            out += Self.line("Security DOI:", secModel.doi)
            if let label, !label.label.isEmpty {
                out += Self.line("Security label:", "\(label.label) (\(label.enforcing ? "enforcing" : "permissive"))")
            }
        }
        shell.print(out)
    }
}

struct DomState: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "domstate", abstract: "domain state")
    @OptionGroup var domain: DomainArgument
    @Flag(help: "Also print reason for the state.") var reason = false

    func execute(_ shell: Shell) async throws {
        let dom = try await shell.domain(domain.value)
        let state = try await shell.connection().domainState(dom)
        shell.print((reason ? state.virshDescription : state.state.virshName) + "\n")
    }
}

struct DomID: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "domid", abstract: "convert a domain name or UUID to domain id")
    @OptionGroup var domain: DomainArgument

    func execute(_ shell: Shell) async throws {
        let dom = try await shell.domain(domain.value)
        shell.print((dom.id == -1 ? "-" : String(dom.id)) + "\n")
    }
}

struct DomUUID: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "domuuid", abstract: "convert a domain name or id to domain UUID")
    @OptionGroup var domain: DomainArgument

    func execute(_ shell: Shell) async throws {
        shell.print(try await shell.domain(domain.value).uuid.lowercasedString + "\n")
    }
}

struct DomName: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "domname", abstract: "convert a domain id or UUID to domain name")
    @OptionGroup var domain: DomainArgument

    func execute(_ shell: Shell) async throws {
        shell.print(try await shell.domain(domain.value).name + "\n")
    }
}

/// The parsed definition of a domain (live unless `inactive`).
@MainActor
func domainDefinition(_ shell: Shell, _ dom: DomainRef, inactive: Bool) async throws -> Domain {
    let xml = try await shell.connection().domainXML(dom, flags: inactive ? .inactive : [])
    do { return try Domain(xml: xml) } catch { throw CommandFailure("Failed to parse domain XML: \(error.message)") }
}

struct DomBlkList: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "domblklist", abstract: "list all domain blocks")
    @OptionGroup var domain: DomainArgument
    @Flag(help: "Get inactive rather than running configuration.") var inactive = false
    @Flag(help: "Additionally display the type and device value.") var details = false
    @Flag(help: "Machine-readable output (JSON).") var json = false

    func execute(_ shell: Shell) async throws {
        let dom = try await shell.domain(domain.value)
        let def = try await domainDefinition(shell, dom, inactive: inactive)
        if json {
            let items: [[String: Any]] = def.devices.disks.map {
                ["type": $0.type, "device": $0.device, "target": $0.targetDev,
                 "source": $0.listedSource.map { $0 as Any } ?? NSNull()]
            }
            shell.print(JSONOutput.encode(items))
            return
        }
        var t = details ? Table("Type", "Device", "Target", "Source") : Table("Target", "Source")
        for disk in def.devices.disks {
            let source = disk.listedSource ?? "-"
            if details { t.append(disk.type, disk.device, disk.targetDev, source) } else { t.append(disk.targetDev, source) }
        }
        shell.print(t.render(header: !shell.quiet))
    }
}

extension Disk {
    /// What virsh's domblklist shows: the source's file, dev or dir, else a network disk's name
    /// or a volume disk's volume.
    var listedSource: String? {
        sourcePath ?? sourceExtra.attributes.first { $0.name == "name" || $0.name == "volume" }?.value
    }
}

struct DomIfList: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "domiflist", abstract: "list all domain virtual interfaces")
    @OptionGroup var domain: DomainArgument
    @Flag(help: "Get inactive rather than running configuration.") var inactive = false
    @Flag(help: "Machine-readable output (JSON).") var json = false

    func execute(_ shell: Shell) async throws {
        let dom = try await shell.domain(domain.value)
        let def = try await domainDefinition(shell, dom, inactive: inactive)
        func opt(_ s: String?) -> Any { s.map { $0 as Any } ?? NSNull() }
        if json {
            let items: [[String: Any]] = def.devices.interfaces.map {
                ["interface": opt($0.targetDev), "type": $0.type, "source": opt($0.sourceBridge ?? $0.sourceNetwork),
                 "model": opt($0.model), "mac": opt($0.mac)]
            }
            shell.print(JSONOutput.encode(items))
            return
        }
        var t = Table("Interface", "Type", "Source", "Model", "MAC")
        for nic in def.devices.interfaces {
            t.append(nic.targetDev ?? "-", nic.type, nic.sourceBridge ?? nic.sourceNetwork ?? "-", nic.model ?? "-", nic.mac ?? "-")
        }
        shell.print(t.render(header: !shell.quiet))
    }
}

struct DomStats: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "domstats", abstract: "get statistics about one or multiple domains")

    @Flag(help: "Report domain state.") var state = false
    @Flag(name: .customLong("cpu-total"), help: "Report domain physical cpu usage.") var cpuTotal = false
    @Flag(help: "Report domain balloon statistics.") var balloon = false
    @Flag(help: "Report domain virtual cpu information.") var vcpu = false
    @Flag(help: "Report domain network interface information.") var interface = false
    @Flag(help: "Report domain block device statistics.") var block = false
    @Flag(name: .customLong("list-active"), help: "List only active domains.") var listActive = false
    @Flag(name: .customLong("list-inactive"), help: "List only inactive domains.") var listInactive = false
    @Flag(name: .customLong("list-persistent"), help: "List only persistent domains.") var listPersistent = false
    @Flag(name: .customLong("list-transient"), help: "List only transient domains.") var listTransient = false
    @Flag(name: .customLong("list-running"), help: "List only running domains.") var listRunning = false
    @Flag(name: .customLong("list-paused"), help: "List only paused domains.") var listPaused = false
    @Flag(name: .customLong("list-shutoff"), help: "List only shutoff domains.") var listShutoff = false
    @Flag(name: .customLong("list-other"), help: "List only domains in other states.") var listOther = false
    @Flag(help: "Do not pretty-print the fields.") var raw = false
    @Flag(help: "Enforce requested stats parameters.") var enforce = false
    @Flag(help: "Machine-readable output (JSON).") var json = false
    @Argument(help: "Domains to get stats for.") var domains: [String] = []

    static func format(_ value: TypedValue) -> String {
        switch value {
        case .int(let v): String(v)
        case .uint(let v): String(v)
        case .llong(let v): String(v)
        case .ullong(let v): String(v)
        case .double(let v): String(format: "%f", v)
        case .boolean(let v): v ? "yes" : "no"
        case .string(let v): v
        }
    }

    func execute(_ shell: Shell) async throws {
        let conn = try await shell.connection()
        var types: StatsTypes = []
        if state { types.insert(.state) }
        if cpuTotal { types.insert(.cpuTotal) }
        if balloon { types.insert(.balloon) }
        if vcpu { types.insert(.vcpu) }
        if interface { types.insert(.interface) }
        if block { types.insert(.block) }

        var list: ListDomainsFlags = []
        if listActive { list.insert(.active) }
        if listInactive { list.insert(.inactive) }
        if listPersistent { list.insert(.persistent) }
        if listTransient { list.insert(.transient) }
        if listRunning { list.insert(.running) }
        if listPaused { list.insert(.paused) }
        if listShutoff { list.insert(.shutoff) }
        if listOther { list.insert(.other) }

        var doms: [DomainRef]?
        if !domains.isEmpty {
            var found: [DomainRef] = []
            for d in domains { found.append(try await shell.domain(d)) }
            doms = found
        } else if !list.isEmpty {
            doms = ListDomains.sorted(try await conn.listAllDomains(flags: list))
        }
        let records = try await conn.allDomainStats(doms, types: types)
        if json {
            let items: [[String: Any]] = records.map { rec in
                var fields: [String: Any] = [:]
                for p in rec.params {
                    switch p.value {
                    case .int(let v): fields[p.field] = v
                    case .uint(let v): fields[p.field] = v
                    case .llong(let v): fields[p.field] = v
                    case .ullong(let v): fields[p.field] = v
                    case .double(let v): fields[p.field] = v
                    case .boolean(let v): fields[p.field] = v
                    case .string(let v): fields[p.field] = v
                    }
                }
                return ["domain": rec.domain.name, "stats": fields]
            }
            shell.print(JSONOutput.encode(items))
            return
        }
        var out: [String] = []
        for rec in records {
            var text = "Domain: '\(rec.domain.name)'\n"
            for p in rec.params { text += "  \(p.field)=\(Self.format(p.value))\n" }
            out.append(text)
        }
        shell.print(out.joined(separator: "\n"))
    }
}
