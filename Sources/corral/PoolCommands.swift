import ArgumentParser
import DomainXML
import Foundation
import Hypervisor

// pool-define, pool-define-as, pool-create, pool-create-as, pool-build, pool-start, pool-destroy,
// pool-delete, pool-undefine, pool-autostart, pool-refresh, pool-list, pool-info, pool-dumpxml,
// pool-name, pool-uuid. Messages name the pool as the user wrote it, as virsh's do.

/// --build [--overwrite | --no-overwrite] of pool-create, pool-create-as and pool-start.
struct PoolBuildOptions: ParsableArguments {
    @Flag(help: "Build the pool as normal.") var build = false
    @Flag(help: "Build the pool without overwriting existing data.") var noOverwrite = false
    @Flag(help: "Build the pool, overwriting any existing data.") var overwrite = false

    func validate() throws {
        if overwrite && noOverwrite { throw ValidationError("Options --overwrite and --no-overwrite are mutually exclusive") }
    }

    var flags: StoragePoolCreateFlags {
        var flags: StoragePoolCreateFlags = []
        if build { flags.insert(.build) }
        if overwrite { flags.insert(.buildOverwrite) }
        if noOverwrite { flags.insert(.buildNoOverwrite) }
        return flags
    }
}

/// pool-define-as / pool-create-as: the pool described by arguments (virsh's virshBuildPoolXML).
struct PoolXMLArguments: ParsableArguments {
    @Argument(help: "Name and type (dir, fs, netfs, logical, ...) of the pool.") var words: [String] = []
    @Option(name: .customLong("name"), help: .hidden) var nameOption: String?
    @Option(name: .customLong("type"), help: .hidden) var typeOption: String?
    @Flag(name: .customLong("print-xml"), help: "Print XML document, but don't define/create.") var printXML = false
    @Option(name: .customLong("source-host"), help: "Source host for underlying storage.") var sourceHost: String?
    @Option(name: .customLong("source-path"), help: "Source path for underlying storage.") var sourcePath: String?
    @Option(name: .customLong("source-dev"), help: "Source device for underlying storage.") var sourceDev: String?
    @Option(name: .customLong("source-name"), help: "Source name for underlying storage.") var sourceName: String?
    @Option(help: "Target for underlying storage.") var target: String?
    @Option(name: .customLong("source-format"), help: "Format for underlying storage.") var sourceFormat: String?
    @Option(name: .customLong("source-initiator"), help: "Initiator iqn for underlying storage.") var sourceInitiator: String?
    @Option(name: .customLong("auth-type"), help: "Auth type to be used for underlying storage.") var authType: String?
    @Option(name: .customLong("auth-username"), help: "Auth username to be used for underlying storage.") var authUsername: String?
    @Option(name: .customLong("secret-usage"), help: "Auth secret usage to be used for underlying storage.") var secretUsage: String?
    @Option(name: .customLong("secret-uuid"), help: "Auth secret UUID to be used for underlying storage.") var secretUUID: String?
    @Option(name: .customLong("adapter-name"), help: "Adapter name to be used for underlying storage.") var adapterName: String?
    @Option(name: .customLong("adapter-wwnn"), help: "Adapter wwnn to be used for underlying storage.") var adapterWWNN: String?
    @Option(name: .customLong("adapter-wwpn"), help: "Adapter wwpn to be used for underlying storage.") var adapterWWPN: String?
    @Option(name: .customLong("adapter-parent"), help: "Adapter parent scsi_hostN to be used for underlying vHBA storage.") var adapterParent: String?
    @Option(name: .customLong("adapter-parent-wwnn"), help: "Adapter parent scsi_hostN wwnn to be used for underlying vHBA storage.") var adapterParentWWNN: String?
    @Option(name: .customLong("adapter-parent-wwpn"), help: "Adapter parent scsi_hostN wwpn to be used for underlying vHBA storage.") var adapterParentWWPN: String?
    @Option(name: .customLong("adapter-parent-fabric-wwn"), help: "Adapter parent scsi_hostN fabric_wwn to be used for underlying vHBA storage.") var adapterParentFabricWWN: String?
    @Option(name: .customLong("source-protocol-ver"), help: "NFS protocol version used by underlying storage.") var sourceProtocolVer: String?

    func validate() throws {
        _ = try positionals()
        if secretUsage != nil && secretUUID != nil {
            throw ValidationError("Options --secret-usage and --secret-uuid are mutually exclusive")
        }
        let auth = [authType, authUsername, secretUsage ?? secretUUID]
        if auth.contains(where: { $0 != nil }) && auth.contains(where: { $0 == nil }) {
            throw ValidationError("--auth-type, --auth-username and --secret-usage or --secret-uuid go together")
        }
        if (adapterWWNN == nil) != (adapterWWPN == nil) {
            throw ValidationError("Options --adapter-wwnn and --adapter-wwpn must be both specified")
        }
        if (adapterParentWWNN == nil) != (adapterParentWWPN == nil) {
            throw ValidationError("Options --adapter-parent-wwnn and --adapter-parent-wwpn must be both specified")
        }
        if let v = sourceProtocolVer, UInt32(v) == nil {
            throw ValidationError("Numeric value '\(v)' for <source-protocol-ver> option is malformed or out of range")
        }
    }

    private func positionals() throws -> [String?] {
        try fillPositionals(words, [("name", nameOption), ("type", typeOption)], required: 2)
    }

    var poolName: String { ((try? positionals())?[0] ?? nil) ?? "" }
    var poolType: String { ((try? positionals())?[1] ?? nil) ?? "" }

    /// The document virsh builds, with values escaped (virsh pastes them in raw).
    var xml: String {
        let e = xmlEscape
        var source: [String] = []
        if let sourceHost { source.append("<host name='\(e(sourceHost))'/>") }
        if let sourcePath { source.append("<dir path='\(e(sourcePath))'/>") }
        if let sourceDev { source.append("<device path='\(e(sourceDev))'/>") }
        if let adapterWWNN, let adapterWWPN {
            var adapter = "<adapter type='fc_host'"
            if let adapterParent {
                adapter += " parent='\(e(adapterParent))'"
            } else if let adapterParentWWNN, let adapterParentWWPN {
                adapter += " parent_wwnn='\(e(adapterParentWWNN))' parent_wwpn='\(e(adapterParentWWPN))'"
            } else if let adapterParentFabricWWN {
                adapter += " parent_fabric_wwn='\(e(adapterParentFabricWWN))'"
            }
            source.append(adapter + " wwnn='\(e(adapterWWNN))' wwpn='\(e(adapterWWPN))'/>")
        } else if let adapterName {
            source.append("<adapter type='scsi_host' name='\(e(adapterName))'/>")
        }
        if let sourceInitiator {
            source += ["<initiator>", "  <iqn name='\(e(sourceInitiator))'/>", "</initiator>"]
        }
        if let sourceFormat { source.append("<format type='\(e(sourceFormat))'/>") }
        if let sourceName { source.append("<name>\(e(sourceName))</name>") }
        if let authType, let authUsername {
            source.append("<auth type='\(e(authType))' username='\(e(authUsername))'>")
            if let secretUsage { source.append("  <secret usage='\(e(secretUsage))'/>") } else if let secretUUID {
                source.append("  <secret uuid='\(e(secretUUID))'/>")
            }
            source.append("</auth>")
        }
        if let sourceProtocolVer { source.append("<protocol ver='\(e(sourceProtocolVer))'/>") }

        var out = "<pool type='\(e(poolType))'>\n  <name>\(e(poolName))</name>\n"
        if !source.isEmpty {
            out += "  <source>\n" + source.map { "    \($0)\n" }.joined() + "  </source>\n"
        }
        if let target { out += "  <target>\n    <path>\(e(target))</path>\n  </target>\n" }
        return out + "</pool>\n"
    }
}

struct PoolDefine: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "pool-define", abstract: "define an inactive persistent storage pool or modify an existing persistent one from an XML file")
    @OptionGroup var file: FileArgument
    @Flag(name: .customLong("validate"), help: "Validate the XML against the schema.") var validateXML = false

    func execute(_ shell: Shell) async throws {
        let xml = try readXMLFile(file.value)
        let conn = try await shell.connection()
        let pool = try await attempt("Failed to define pool from \(file.value)") {
            try await conn.defineStoragePool(xml: xml, flags: validateXML ? 1 : 0)   // VIR_STORAGE_POOL_DEFINE_VALIDATE
        }
        shell.extra("Pool \(pool.name) defined from \(file.value)\n")
    }
}

struct PoolDefineAs: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "pool-define-as", abstract: "define a pool from a set of args")
    @OptionGroup var spec: PoolXMLArguments

    func execute(_ shell: Shell) async throws {
        if spec.printXML {
            shell.print(spec.xml)
            return
        }
        let conn = try await shell.connection()
        try await attempt("Failed to define pool \(spec.poolName)") { _ = try await conn.defineStoragePool(xml: spec.xml, flags: 0) }
        shell.extra("Pool \(spec.poolName) defined\n")
    }
}

struct PoolCreate: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "pool-create", abstract: "create a pool from an XML file")
    @OptionGroup var file: FileArgument
    @OptionGroup var build: PoolBuildOptions

    func execute(_ shell: Shell) async throws {
        let xml = try readXMLFile(file.value)
        let conn = try await shell.connection()
        let pool = try await attempt("Failed to create pool from \(file.value)") {
            try await conn.createStoragePool(xml: xml, flags: build.flags)
        }
        shell.extra("Pool \(pool.name) created from \(file.value)\n")
    }
}

struct PoolCreateAs: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "pool-create-as", abstract: "create a pool from a set of args")
    @OptionGroup var spec: PoolXMLArguments
    @OptionGroup var build: PoolBuildOptions

    func execute(_ shell: Shell) async throws {
        if spec.printXML {
            shell.print(spec.xml)
            return
        }
        let conn = try await shell.connection()
        try await attempt("Failed to create pool \(spec.poolName)") {
            _ = try await conn.createStoragePool(xml: spec.xml, flags: build.flags)
        }
        shell.extra("Pool \(spec.poolName) created\n")
    }
}

struct PoolBuild: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "pool-build", abstract: "build a pool")
    @OptionGroup var pool: PoolArgument
    @Flag(help: "Do not overwrite any existing data.") var noOverwrite = false
    @Flag(help: "Overwrite any existing data.") var overwrite = false

    func validate() throws {
        if overwrite && noOverwrite { throw ValidationError("Options --overwrite and --no-overwrite are mutually exclusive") }
    }

    func execute(_ shell: Shell) async throws {
        let p = try await shell.pool(pool.value)
        var flags: StoragePoolBuildFlags = []
        if overwrite { flags.insert(.overwrite) }
        if noOverwrite { flags.insert(.noOverwrite) }
        try await attempt("Failed to build pool \(pool.value)") { try await shell.connection().buildStoragePool(p, flags: flags) }
        shell.extra("Pool \(pool.value) built\n")
    }
}

struct PoolStart: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "pool-start", abstract: "start a (previously defined) inactive pool")
    @OptionGroup var pool: PoolArgument
    @OptionGroup var build: PoolBuildOptions

    func execute(_ shell: Shell) async throws {
        let p = try await shell.pool(pool.value)
        try await attempt("Failed to start pool \(pool.value)") {
            try await shell.connection().startStoragePool(p, flags: build.flags)
        }
        shell.extra("Pool \(pool.value) started\n")
    }
}

/// pool-destroy, pool-delete, pool-undefine, pool-refresh: one call, one message.
@MainActor
private func simplePoolAction(_ shell: Shell, _ text: String, failure: String, success: String,
                              _ call: @escaping (any HypervisorDriver, StoragePoolRef) async throws -> Void) async throws {
    let p = try await shell.pool(text)
    try await attempt(failure) { try await call(shell.connection(), p) }
    shell.extra(success + "\n")
}

struct PoolDestroy: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "pool-destroy", abstract: "destroy (stop) a pool")
    @OptionGroup var pool: PoolArgument

    func execute(_ shell: Shell) async throws {
        try await simplePoolAction(shell, pool.value, failure: "Failed to destroy pool \(pool.value)",
                                   success: "Pool \(pool.value) destroyed") { try await $0.destroyStoragePool($1) }
    }
}

struct PoolDelete: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "pool-delete", abstract: "delete a pool")
    @OptionGroup var pool: PoolArgument

    func execute(_ shell: Shell) async throws {
        try await simplePoolAction(shell, pool.value, failure: "Failed to delete pool \(pool.value)",
                                   success: "Pool \(pool.value) deleted") { try await $0.deleteStoragePool($1, flags: 0) }
    }
}

struct PoolUndefine: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "pool-undefine", abstract: "undefine an inactive pool")
    @OptionGroup var pool: PoolArgument

    func execute(_ shell: Shell) async throws {
        try await simplePoolAction(shell, pool.value, failure: "Failed to undefine pool \(pool.value)",
                                   success: "Pool \(pool.value) has been undefined") { try await $0.undefineStoragePool($1) }
    }
}

struct PoolRefresh: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "pool-refresh", abstract: "refresh a pool")
    @OptionGroup var pool: PoolArgument

    func execute(_ shell: Shell) async throws {
        try await simplePoolAction(shell, pool.value, failure: "Failed to refresh pool \(pool.value)",
                                   success: "Pool \(pool.value) refreshed") { try await $0.refreshStoragePool($1, flags: 0) }
    }
}

struct PoolAutostart: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "pool-autostart", abstract: "autostart a pool")
    @OptionGroup var pool: PoolArgument
    @Flag(help: "Disable autostarting.") var disable = false

    func execute(_ shell: Shell) async throws {
        let p = try await shell.pool(pool.value)
        let failure = disable ? "failed to unmark pool \(pool.value) as autostarted" : "failed to mark pool \(pool.value) as autostarted"
        try await attempt(failure) { try await shell.connection().setStoragePoolAutostart(p, !disable) }
        shell.extra(disable ? "Pool \(pool.value) unmarked as autostarted\n" : "Pool \(pool.value) marked as autostarted\n")
    }
}

struct PoolDumpXML: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "pool-dumpxml", abstract: "pool information in XML")
    @OptionGroup var pool: PoolArgument
    @Flag(help: "Show inactive defined XML.") var inactive = false

    func execute(_ shell: Shell) async throws {
        let p = try await shell.pool(pool.value)
        let xml = try await shell.connection().storagePoolXML(p, flags: inactive ? .inactive : [])
        shell.print(xml.hasSuffix("\n") ? xml : xml + "\n")
    }
}

struct PoolName: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "pool-name", abstract: "convert a pool UUID to pool name")
    @OptionGroup var pool: PoolArgument

    func execute(_ shell: Shell) async throws {
        shell.print(try await shell.pool(pool.value, by: .uuid).name + "\n")
    }
}

struct PoolUUID: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "pool-uuid", abstract: "convert a pool name to pool UUID")
    @OptionGroup var pool: PoolArgument

    func execute(_ shell: Shell) async throws {
        shell.print(try await shell.pool(pool.value, by: .name).uuid.lowercasedString + "\n")
    }
}

/// What pool-info and pool-list show of one pool; nil fields could not be read.
private struct PoolFacts {
    var ref: StoragePoolRef
    var info: StoragePoolInfo?
    var active: Bool?
    var persistent: Bool?
    var autostart: Bool?

    @MainActor
    static func gather(_ conn: any HypervisorDriver, _ pool: StoragePoolRef) async -> PoolFacts {
        PoolFacts(ref: pool, info: try? await conn.storagePoolInfo(pool), active: try? await conn.storagePoolIsActive(pool),
                  persistent: try? await conn.storagePoolIsPersistent(pool), autostart: try? await conn.storagePoolAutostart(pool))
    }

    /// Sizes exist only for a running (or degraded) pool, as virsh shows them.
    var hasSizes: Bool { info?.state == .running || info?.state == .degraded }

    var json: [String: Any] {
        var obj: [String: Any] = ["name": ref.name, "uuid": ref.uuid.lowercasedString]
        if let info {
            obj["state"] = info.state.virshName
            if hasSizes {
                obj["capacity"] = info.capacity; obj["allocation"] = info.allocation; obj["available"] = info.available
            }
        }
        if let active { obj["active"] = active }
        if let persistent { obj["persistent"] = persistent }
        if let autostart { obj["autostart"] = autostart }
        return obj
    }
}

struct PoolInfo: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "pool-info", abstract: "storage pool information")
    @OptionGroup var pool: PoolArgument
    @Flag(help: "Return pool info in bytes.") var bytes = false
    @Flag(help: "Machine-readable output (JSON).") var json = false

    func execute(_ shell: Shell) async throws {
        let conn = try await shell.connection()
        let p = try await shell.pool(pool.value)
        let info = try await conn.storagePoolInfo(p)
        let facts = await PoolFacts.gather(conn, p)
        if json {
            shell.print(JSONOutput.encode(facts.json))
            return
        }
        var out = DomInfo.line("Name:", p.name) + DomInfo.line("UUID:", p.uuid.lowercasedString)
        out += DomInfo.line("State:", info.state.virshName)
        out += DomInfo.line("Persistent:", facts.persistent.map { $0 ? "yes" : "no" } ?? "unknown")
        out += DomInfo.line("Autostart:", facts.autostart.map { $0 ? "yes" : "no" } ?? "no autostart")
        if info.state == .running || info.state == .degraded {
            func size(_ n: UInt64) -> String { bytes ? "\(n)" : prettyCapacity(n) }
            out += DomInfo.line("Capacity:", size(info.capacity))
            out += DomInfo.line("Allocation:", size(info.allocation))
            out += DomInfo.line("Available:", size(info.available))
        }
        shell.print(out)
    }
}

struct PoolList: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "pool-list", abstract: "list pools")
    @Flag(help: "List inactive pools.") var inactive = false
    @Flag(help: "List inactive & active pools.") var all = false
    @Flag(help: "List transient pools.") var transient = false
    @Flag(help: "List persistent pools.") var persistent = false
    @Flag(help: "List pools with autostart enabled.") var autostart = false
    @Flag(name: .customLong("no-autostart"), help: "List pools with autostart disabled.") var noAutostart = false
    @Option(help: "Only list pools of specified type(s) (if supported), separated by commas.") var type: String?
    @Flag(help: "Display extended details.") var details = false
    @Flag(help: "List UUID of active pools only.") var uuid = false
    @Flag(help: "List name of active pools only.") var name = false
    @Flag(help: "Machine-readable output (JSON).") var json = false

    func validate() throws {
        if details && uuid { throw ValidationError("Options --details and --uuid are mutually exclusive") }
        if details && name { throw ValidationError("Options --details and --name are mutually exclusive") }
        if json && (details || uuid || name) { throw ValidationError("--json cannot be combined with --details, --uuid or --name") }
    }

    static let typeFlags: [String: ListStoragePoolsFlags] = [
        "dir": .dir, "fs": .fs, "netfs": .netfs, "logical": .logical, "disk": .disk, "iscsi": .iscsi,
        "scsi": .scsi, "mpath": .mpath, "rbd": .rbd, "sheepdog": .sheepdog, "gluster": .gluster,
        "zfs": .zfs, "vstorage": .vstorage, "iscsi-direct": .iscsiDirect,
    ]

    func flags() throws -> ListStoragePoolsFlags {
        var flags: ListStoragePoolsFlags = .active
        if inactive { flags = .inactive }
        if all { flags = [] }
        if persistent { flags.insert(.persistent) }
        if transient { flags.insert(.transient) }
        if autostart { flags.insert(.autostart) }
        if noAutostart { flags.insert(.noAutostart) }
        if let type {
            for t in type.split(separator: ",", omittingEmptySubsequences: false) {
                guard let f = Self.typeFlags[String(t)] else { throw CommandFailure("Invalid pool type '\(t)'") }
                flags.insert(f)
            }
        }
        return flags
    }

    func execute(_ shell: Shell) async throws {
        let flags = try flags()
        let conn = try await shell.connection()
        let pools = try await attempt("Failed to list pools") { try await conn.listAllStoragePools(flags: flags) }
            .sorted { asciiCaseInsensitiveLess($0.name, $1.name) }
        if uuid || name {
            for p in pools {
                var line = ""
                if uuid { line += p.uuid.lowercasedString + (name ? " " : "") }
                if name { line += p.name.padding(toLength: max(20, p.name.count), withPad: " ", startingAt: 0) }
                shell.print(line + "\n")
            }
            return
        }
        var facts: [PoolFacts] = []
        for p in pools { facts.append(await PoolFacts.gather(conn, p)) }
        if json {
            shell.print(JSONOutput.encode(facts.map(\.json)))
            return
        }
        var table = details
            ? Table("Name", "State", "Autostart", "Persistent", "Capacity", "Allocation", "Available")
            : Table("Name", "State", "Autostart")
        for f in facts {
            let autostartText = f.autostart.map { $0 ? "yes" : "no" } ?? "no autostart"
            guard details else {
                let state = f.info == nil ? "unknown" : (f.active ?? false) ? "active" : "inactive"
                table.append(f.ref.name, state, autostartText)
                continue
            }
            let persistentText = f.persistent.map { $0 ? "yes" : "no" } ?? "unknown"
            guard let info = f.info else {
                table.append(f.ref.name, "unknown", autostartText, persistentText, "unknown", "unknown", "unknown")
                continue
            }
            if f.hasSizes {
                table.append(f.ref.name, info.state.virshName, autostartText, persistentText,
                             prettyCapacity(info.capacity), prettyCapacity(info.allocation), prettyCapacity(info.available))
            } else {
                table.append(f.ref.name, info.state.virshName, autostartText, persistentText, "-", "-", "-")
            }
        }
        shell.print(table.render(header: !shell.quiet))
    }
}
