import Foundation
import DomainXML
import Hypervisor
#if canImport(Glibc)
import Glibc
#endif

/// The host side of system-mode networks: `ip` for links and addresses, `nft` for NAT and
/// forwarding, read-only views of /sys and /proc. Everything acts on the caller's network namespace.
enum Host {
    struct CommandError: Error { var message: String }

    /// Runs a tool and waits for it; a non-zero exit throws with the command and its stderr.
    ///
    /// Spawned directly rather than with Foundation's Process: a daemon started here (dnsmasq)
    /// must not inherit this process's blocked and ignored signals (it would never see SIGTERM)
    /// nor any descriptor besides stdin/stdout/stderr. stderr goes to a temporary file, so a
    /// daemonizing tool whose background half keeps it open cannot make us wait.
    static func run(_ argv: [String], stdin: String? = nil) throws {
        var input: String?
        if let stdin {
            input = NSTemporaryDirectory() + "corral-net-in.\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
            try Files.writeAtomically(stdin, to: input ?? "", mode: 0o600)
        }
        let errPath = NSTemporaryDirectory() + "corral-net-err.\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
        defer { unlink(errPath); if let input { unlink(input) } }

        let status = try spawnAndWait(argv, stdin: input ?? "/dev/null", stdout: "/dev/null", stderr: errPath)
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            let msg = (Files.read(errPath) ?? "").prefix(4096).trimmingCharacters(in: .whitespacesAndNewlines)
            let how = exited ? "exit status \(code)" : "signal \(status & 0x7f)"
            throw VirError(.systemError, "\(argv.joined(separator: " ")) failed: \(msg.isEmpty ? how : msg)", domain: .net)
        }
    }

    /// Runs `argv` with stdin, stdout and stderr opened on the given paths (stderr == stdout shares
    /// one file) and returns its wait status. The child gets an empty signal mask and default
    /// handlers, and no descriptor besides the three.
    static func spawnAndWait(_ argv: [String], stdin: String, stdout: String, stderr: String) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if stderr == stdout {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        }
        closeOtherDescriptorsOnExec()
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attr, &none)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attr, &defaults)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let cArgs = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attr, cArgs, environ)
        guard rc == 0 else {
            throw VirError(.systemError, "cannot run \(argv[0]): \(String(cString: strerror(rc)))", domain: .net)
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return status
    }

    /// Marks every descriptor above stderr close-on-exec (a lock or socket fd leaking into dnsmasq would live as long as it).
    private static func closeOtherDescriptorsOnExec() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return }
        for name in names {
            guard let fd = Int32(name), fd > 2 else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0 && flags & FD_CLOEXEC == 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    static let ip = (["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"] as [String]).first { access($0, X_OK) == 0 } ?? "/usr/sbin/ip"
    static var nft: String? { (["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"] as [String]).first { access($0, X_OK) == 0 } }

    static func interfaceExists(_ name: String) -> Bool {
        !name.isEmpty && !name.contains("/") && Files.exists("/sys/class/net/\(name)")
    }

    static func interfaces() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? []
    }

    /// IPv4 subnets already routed on this host (from /proc/net/route, default routes left out), with their interface.
    static func ipv4Routes() -> [(iface: String, subnet: IPSubnet)] {
        guard let text = Files.read("/proc/net/route") else { return [] }
        var out: [(String, IPSubnet)] = []
        for line in text.split(separator: "\n").dropFirst() {
            let f = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 8, let dest = UInt32(f[1], radix: 16), let mask = UInt32(f[7], radix: 16), mask != 0 else { continue }
            // /proc/net/route prints the network-order words as host integers: reading them back as big-endian undoes that.
            let d = UInt32(bigEndian: dest), m = UInt32(bigEndian: mask)
            if let s = IPSubnet(address: IPv4.format(d), prefix: m.nonzeroBitCount) { out.append((String(f[0]), s)) }
        }
        return out
    }

    // MARK: Bridge

    /// The forward delay is set while STP is still off (the kernel refuses under 2 s with STP on),
    /// then STP is switched on: libvirt's order, so the default delay 0 lets new ports forward at once.
    static func createBridge(_ name: String, mac: String?, stp: Bool, delay: Int) throws {
        try run([ip, "link", "add", name, "type", "bridge", "stp_state", "0", "forward_delay", String(min(3000, delay * 100))])
        do {
            if stp { try run([ip, "link", "set", "dev", name, "type", "bridge", "stp_state", "1"]) }
            if let mac { try run([ip, "link", "set", "dev", name, "address", mac]) }
        } catch {
            deleteLink(name)
            throw error
        }
    }

    static func addAddress(_ ip: NetworkIP, to dev: String) throws {
        try run([self.ip, ip.isIPv4 ? "-4" : "-6", "addr", "add", "\(ip.address)/\(ip.prefixLength)", "dev", dev])
    }

    static func setUp(_ dev: String) throws { try run([ip, "link", "set", "dev", dev, "up"]) }

    static func deleteLink(_ name: String) {
        guard interfaceExists(name) else { return }
        _ = try? run([ip, "link", "del", "dev", name])
    }

    // MARK: Taps

    /// Creates the first free vnetN tap, enslaved to `bridge` and up. The tap's MAC is the guest's
    /// with the first byte 0xfe (as libvirt), so the bridge never takes the guest's address as its own.
    static func createTap(bridge: String, guestMAC: String?) throws -> String {
        guard interfaceExists(bridge) else {
            throw VirError(.noNetwork, "cannot attach a tap device: bridge '\(bridge)' does not exist", domain: .net)
        }
        var n = 0
        while n < 4096 {
            let name = "vnet\(n)"
            n += 1
            if interfaceExists(name) { continue }
            do { try run([ip, "tuntap", "add", "dev", name, "mode", "tap"]) } catch {
                if interfaceExists(name) { continue }       // another process took it first
                throw error
            }
            do {
                if let mac = guestMAC, mac.count == 17 { try run([ip, "link", "set", "dev", name, "address", "fe" + mac.dropFirst(2)]) }
                try run([ip, "link", "set", "dev", name, "master", bridge])
                try setUp(name)
            } catch {
                deleteLink(name)
                throw error
            }
            return name
        }
        throw VirError(.internalError, "internal error: no free vnetN tap name", domain: .net)
    }

    // MARK: nftables

    /// The table name for a network's rules: one table per bridge, so deleting it undoes everything.
    static func nftTable(bridge: String) -> String {
        "corral_" + String(bridge.map { $0.isLetter || $0.isNumber ? $0 : "_" })
    }

    /// The rules for a network (libvirt's, expressed in nftables): nat masquerades the subnet
    /// (except to itself, multicast and broadcast) and lets it out and replies back in; route only
    /// forwards; isolated stops forwarding to and from the bridge. nil when no rules are needed (open).
    static func nftRules(table: String, bridge: String, mode: String, subnets: [IPSubnet], forwardDev: String?,
                         portRange: (Int, Int)?) -> String? {
        guard mode != "open" else { return nil }
        let v4 = subnets.filter { $0.bytes.count == 4 }
        var forward: [String] = []
        var post: [String] = []
        let outDev = forwardDev.map { " oifname \"\($0)\"" } ?? ""
        let inDev = forwardDev.map { " iifname \"\($0)\"" } ?? ""
        switch mode {
        case "nat", "route":
            for s in v4 {
                forward.append("iifname \"\(bridge)\"\(outDev) ip saddr \(s) accept")
                forward.append(mode == "nat"
                    ? "\(inDev.dropFirst()) oifname \"\(bridge)\" ip daddr \(s) ct state established,related accept".trimmingCharacters(in: .whitespaces)
                    : "\(inDev.dropFirst()) oifname \"\(bridge)\" ip daddr \(s) accept".trimmingCharacters(in: .whitespaces))
                if mode == "nat" {
                    let ports = portRange.map { " to :\($0.0)-\($0.1)" } ?? " to :1024-65535"
                    post.append("ip saddr \(s) ip daddr 224.0.0.0/24 return")
                    post.append("ip saddr \(s) ip daddr 255.255.255.255 return")
                    post.append("ip saddr \(s) ip daddr != \(s)\(outDev) meta l4proto { tcp, udp } masquerade\(ports)")
                    post.append("ip saddr \(s) ip daddr != \(s)\(outDev) masquerade")
                }
            }
        default:
            break
        }
        forward.append("iifname \"\(bridge)\" oifname \"\(bridge)\" accept")
        forward.append("iifname \"\(bridge)\" reject")
        forward.append("oifname \"\(bridge)\" reject")
        var text = "table ip \(table) {\n"
        text += "  chain forward {\n    type filter hook forward priority filter; policy accept;\n"
        text += forward.map { "    \($0)\n" }.joined() + "  }\n"
        if !post.isEmpty {
            text += "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n"
            text += post.map { "    \($0)\n" }.joined() + "  }\n"
        }
        text += "}\n"
        return text
    }

    static func loadRules(_ text: String) throws {
        guard let nft else {
            throw VirError(.systemError, "nft (nftables) is not installed: it is needed for the network's NAT and forwarding rules (apt-get install nftables)", domain: .net)
        }
        try run([nft, "-f", "-"], stdin: text)
    }

    static func deleteTable(_ table: String) {
        guard let nft else { return }
        _ = try? run([nft, "delete", "table", "ip", table])
    }

    static func enableIPv4Forwarding() throws {
        let path = "/proc/sys/net/ipv4/ip_forward"
        guard Files.read(path)?.hasPrefix("1") != true else { return }
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Files.systemError("cannot enable IPv4 forwarding (\(path))") }
        defer { close(fd) }
        guard write(fd, "1\n", 2) == 2 else { throw Files.systemError("cannot enable IPv4 forwarding (\(path))") }
    }

    // MARK: Processes

    static func readPid(_ path: String) -> Int32? {
        Files.read(path).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }.flatMap { $0 > 0 ? $0 : nil }
    }

    /// True when `pid` is alive and runs `program` (by /proc/PID/comm), so a recycled pid is never signalled.
    static func isRunning(_ pid: Int32, program: String) -> Bool {
        guard pid > 0, let comm = Files.read("/proc/\(pid)/comm") else { return false }
        return comm.trimmingCharacters(in: .whitespacesAndNewlines) == program
    }

    static func terminate(_ pid: Int32, program: String) {
        guard isRunning(pid, program: program) else { return }
        kill(pid, SIGTERM)
        for _ in 0..<100 {
            if !isRunning(pid, program: program) { return }
            usleep(20_000)
        }
        kill(pid, SIGKILL)
    }
}
