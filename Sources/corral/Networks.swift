import ArgumentParser
import Foundation
import Hypervisor

// net-define, net-create, net-start, net-destroy, net-undefine, net-autostart, net-list,
// net-info, net-dumpxml, net-dhcp-leases, net-name, net-uuid (virsh-network.c).

/// The network argument: positional like virsh, or `--network NAME`.
struct NetworkArgument: ParsableArguments {
    @Argument(help: "Network name or uuid.") var network: String?
    @Option(name: .customLong("network"), help: .hidden) var networkOption: String?

    func validate() throws {
        if network == nil && networkOption == nil { throw ValidationError("missing <network> argument (name or uuid)") }
        if network != nil && networkOption != nil { throw ValidationError("the network is given twice") }
    }

    var value: String { networkOption ?? network ?? "" }
}

/// The XML file argument of net-define/net-create/pool-define/pool-create: positional or `--file`.
struct FileArgument: ParsableArguments {
    @Argument(help: "File containing an XML description.") var file: String?
    @Option(name: .customLong("file"), help: .hidden) var fileOption: String?

    func validate() throws {
        if file == nil && fileOption == nil { throw ValidationError("missing <file> argument") }
        if file != nil && fileOption != nil { throw ValidationError("the file is given twice") }
    }

    var value: String { fileOption ?? file ?? "" }
}

extension Shell {
    /// virshCommandOptNetworkBy: a 36-character text is tried as a UUID first, then as a name;
    /// the last lookup's error is reported under virsh's "failed to get network" line.
    func network(_ text: String, byUUID: Bool = true, byName: Bool = true) async throws -> NetworkRef {
        let conn = try await connection()
        var lastError: (any Error)?
        if byUUID, text.count == 36 {
            if let uuid = UUID(uuidString: text) {
                do { return try await conn.lookupNetwork(uuid: uuid) } catch { lastError = error }
            } else {
                lastError = VirError.noNetwork(uuid: text)
            }
        }
        if byName {
            do { return try await conn.lookupNetwork(name: text) } catch { lastError = error }
        }
        throw CommandFailure(messages: ["failed to get network '\(text)'"] + (lastError.map { [Self.describe($0)] } ?? []))
    }
}

struct NetDefine: ShellCommand {
    static let configuration = CommandConfiguration(
        commandName: "net-define",
        abstract: "define an inactive persistent virtual network or modify an existing persistent one from an XML file")
    @OptionGroup var file: FileArgument
    @Flag(name: .customLong("validate"), help: "Validate the XML against the schema.") var validateXML = false

    func execute(_ shell: Shell) async throws {
        let xml = try readXMLFile(file.value)
        let conn = try await shell.connection()
        // VIR_NETWORK_DEFINE_VALIDATE
        let net = try await attempt("Failed to define network from \(file.value)") {
            try await conn.defineNetwork(xml: xml, flags: validateXML ? 1 : 0)
        }
        shell.extra("Network \(net.name) defined from \(file.value)\n")
    }
}

struct NetCreate: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "net-create", abstract: "create a network from an XML file")
    @OptionGroup var file: FileArgument
    @Flag(name: .customLong("validate"), help: "Validate the XML against the schema.") var validateXML = false

    func execute(_ shell: Shell) async throws {
        let xml = try readXMLFile(file.value)
        let conn = try await shell.connection()
        // VIR_NETWORK_CREATE_VALIDATE
        let net = try await attempt("Failed to create network from \(file.value)") {
            try await conn.createNetwork(xml: xml, flags: validateXML ? 1 : 0)
        }
        shell.extra("Network \(net.name) created from \(file.value)\n")
    }
}

// virsh names the network in these messages as the user typed it (name or UUID).

struct NetStart: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "net-start", abstract: "start a (previously defined) inactive network")
    @OptionGroup var network: NetworkArgument

    func execute(_ shell: Shell) async throws {
        let net = try await shell.network(network.value)
        try await attempt("Failed to start network \(network.value)") { try await shell.connection().startNetwork(net) }
        shell.extra("Network \(network.value) started\n")
    }
}

struct NetDestroy: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "net-destroy", abstract: "destroy (stop) a network")
    @OptionGroup var network: NetworkArgument

    func execute(_ shell: Shell) async throws {
        let net = try await shell.network(network.value)
        try await attempt("Failed to destroy network \(network.value)") { try await shell.connection().destroyNetwork(net) }
        shell.extra("Network \(network.value) destroyed\n")
    }
}

struct NetUndefine: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "net-undefine", abstract: "undefine a persistent network")
    @OptionGroup var network: NetworkArgument

    func execute(_ shell: Shell) async throws {
        let net = try await shell.network(network.value)
        try await attempt("Failed to undefine network \(network.value)") { try await shell.connection().undefineNetwork(net) }
        shell.extra("Network \(network.value) has been undefined\n")
    }
}

struct NetAutostart: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "net-autostart", abstract: "autostart a network")
    @OptionGroup var network: NetworkArgument
    @Flag(help: "Disable autostarting.") var disable = false

    func execute(_ shell: Shell) async throws {
        let net = try await shell.network(network.value)
        let name = network.value
        try await attempt(disable ? "failed to unmark network \(name) as autostarted" : "failed to mark network \(name) as autostarted") {
            try await shell.connection().setNetworkAutostart(net, !disable)
        }
        shell.extra(disable ? "Network \(name) unmarked as autostarted\n" : "Network \(name) marked as autostarted\n")
    }
}

struct NetList: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "net-list", abstract: "list networks")
    @Flag(help: "List inactive networks.") var inactive = false
    @Flag(help: "List inactive & active networks.") var all = false
    @Flag(help: "List persistent networks.") var persistent = false
    @Flag(help: "List transient networks.") var transient = false
    @Flag(help: "List networks with autostart enabled.") var autostart = false
    @Flag(name: .customLong("no-autostart"), help: "List networks with autostart disabled.") var noAutostart = false
    @Flag(help: "List uuid's only.") var uuid = false
    @Flag(help: "List network names only.") var name = false
    @Flag(help: "List table (default).") var table = false
    @Flag(help: "Machine-readable output (JSON).") var json = false

    func validate() throws {
        if json && (table || name || uuid) { throw ValidationError("--json cannot be combined with --table, --name or --uuid") }
    }

    var flags: ListNetworksFlags {
        var flags: ListNetworksFlags = .active
        if inactive { flags = .inactive }
        if all { flags = [.active, .inactive] }
        if persistent { flags.insert(.persistent) }
        if transient { flags.insert(.transient) }
        if autostart { flags.insert(.autostart) }
        if noAutostart { flags.insert(.noAutostart) }
        return flags
    }

    func execute(_ shell: Shell) async throws {
        // virsh's own check, reported without the usage prefix
        if [table, name, uuid].filter({ $0 }).count > 1 {
            throw CommandFailure("Only one argument from --table, --name and --uuid may be specified.")
        }
        let conn = try await shell.connection()
        // virshNetworkSorter: by name, ignoring case.
        let nets = try await attempt("Failed to list networks") { try await conn.listAllNetworks(flags: flags) }
            .sorted { $0.name.lowercased() < $1.name.lowercased() }
        if json {
            var items: [[String: Any]] = []
            for net in nets {
                var item: [String: Any] = ["name": net.name, "uuid": net.uuid.lowercasedString]
                item["active"] = (try? await conn.networkIsActive(net)) ?? false
                item["persistent"] = (try? await conn.networkIsPersistent(net)) ?? false
                item["autostart"] = (try? await conn.networkAutostart(net)).map { $0 as Any } ?? NSNull()
                item["bridge"] = (try? await conn.networkBridgeName(net)).map { $0 as Any } ?? NSNull()
                items.append(item)
            }
            shell.print(JSONOutput.encode(items))
            return
        }
        if uuid || name {
            for net in nets { shell.print((uuid ? net.uuid.lowercasedString : net.name) + "\n") }
            return
        }
        var t = Table("Name", "State", "Autostart", "Persistent")
        for net in nets {
            let autostart = (try? await conn.networkAutostart(net)).map { $0 ? "yes" : "no" } ?? "no autostart"
            let active = (try? await conn.networkIsActive(net)) ?? false
            let persistent = (try? await conn.networkIsPersistent(net)) ?? false
            t.append(net.name, active ? "active" : "inactive", autostart, persistent ? "yes" : "no")
        }
        shell.print(t.render(header: !shell.quiet))
    }
}

struct NetInfo: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "net-info", abstract: "network information")
    @OptionGroup var network: NetworkArgument
    @Flag(help: "Machine-readable output (JSON).") var json = false

    func execute(_ shell: Shell) async throws {
        let conn = try await shell.connection()
        let net = try await shell.network(network.value)
        let active = try? await conn.networkIsActive(net)
        let persistent = try? await conn.networkIsPersistent(net)
        let autostart = try? await conn.networkAutostart(net)
        let bridge = try? await conn.networkBridgeName(net)
        if json {
            func opt<T>(_ v: T?) -> Any { v.map { $0 as Any } ?? NSNull() }
            shell.print(JSONOutput.encode([
                "name": net.name, "uuid": net.uuid.lowercasedString, "active": opt(active),
                "persistent": opt(persistent), "autostart": opt(autostart), "bridge": opt(bridge),
            ] as [String: Any]))
            return
        }
        var out = DomInfo.line("Name:", net.name)
        out += DomInfo.line("UUID:", net.uuid.lowercasedString)
        if let active { out += DomInfo.line("Active:", active ? "yes" : "no") }
        out += DomInfo.line("Persistent:", persistent.map { $0 ? "yes" : "no" } ?? "unknown")
        out += DomInfo.line("Autostart:", autostart.map { $0 ? "yes" : "no" } ?? "no autostart")
        if let bridge { out += DomInfo.line("Bridge:", bridge) }
        shell.print(out)
    }
}

struct NetDumpXML: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "net-dumpxml", abstract: "network information in XML")
    @OptionGroup var network: NetworkArgument
    @Flag(help: "Show inactive defined XML.") var inactive = false

    func execute(_ shell: Shell) async throws {
        let net = try await shell.network(network.value)
        shell.print(try await shell.connection().networkXML(net, flags: inactive ? .inactive : []))
    }
}

struct NetDHCPLeases: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "net-dhcp-leases", abstract: "print lease info for a given network")
    @OptionGroup var network: NetworkArgument
    @Option(help: "MAC address.") var mac: String?
    @Flag(help: "Machine-readable output (JSON).") var json = false

    /// g_date_time_format(local, "%Y-%m-%d %H:%M:%S"), as virsh prints the expiry.
    static func localTime(_ epoch: Int64) -> String {
        var t = time_t(epoch)
        var tm = tm()
        localtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1,
                      Int(tm.tm_mday), Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
    }

    func execute(_ shell: Shell) async throws {
        let net = try await shell.network(network.value)
        let leases = try await attempt("Failed to get leases info for \(network.value)") {
            try await shell.connection().networkDHCPLeases(net, mac: mac)
        }.sorted { ($0.mac ?? "").lowercased() < ($1.mac ?? "").lowercased() }   // virshNetworkDHCPLeaseSorter
        func proto(_ t: IPAddrType) -> String { t == .ipv4 ? "ipv4" : "ipv6" }
        if json {
            func opt(_ s: String?) -> Any { s.map { $0 as Any } ?? NSNull() }
            shell.print(JSONOutput.encode(leases.map { l -> [String: Any] in
                ["expiryTime": l.expiryTime, "mac": opt(l.mac), "iaid": opt(l.iaid), "protocol": proto(l.type),
                 "ipaddr": l.ipaddr, "prefix": Int(l.prefix), "hostname": opt(l.hostname), "clientid": opt(l.clientid),
                 "interface": l.iface]
            }))
            return
        }
        var t = Table("Expiry Time", "MAC address", "Protocol", "IP address", "Hostname", "Client ID or DUID")
        for l in leases {
            t.append(Self.localTime(l.expiryTime), l.mac ?? "-", proto(l.type), "\(l.ipaddr)/\(l.prefix)",
                     l.hostname ?? "-", l.clientid ?? "-")
        }
        shell.print(t.render(header: !shell.quiet))
    }
}

struct NetName: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "net-name", abstract: "convert a network UUID to network name")
    @OptionGroup var network: NetworkArgument

    func execute(_ shell: Shell) async throws {
        shell.print(try await shell.network(network.value, byName: false).name + "\n")
    }
}

struct NetUUID: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "net-uuid", abstract: "convert a network name to network UUID")
    @OptionGroup var network: NetworkArgument

    func execute(_ shell: Shell) async throws {
        shell.print(try await shell.network(network.value, byUUID: false).uuid.lowercasedString + "\n")
    }
}
