import DomainXML
import Foundation
import QEMUDriver
import Testing
#if canImport(Glibc)
import Glibc
#endif

// Starts the real emulator with the golden-case domains (paths pointed at real temporary files)
// and asks QMP whether it came up: this catches argv QEMU would reject, which goldens cannot.


/// Minimal blocking QMP exchange over a unix socket, enough to prove QEMU finished starting.
func qmpExchange(path: String, commands: [String], deadline: Date) throws -> String {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw DomainXMLError("socket() failed") }
    defer { close(fd) }
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let bytes = Array(path.utf8)
    guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { throw DomainXMLError("socket path too long") }
    withUnsafeMutableBytes(of: &addr.sun_path) { raw in
        for (i, b) in bytes.enumerated() { raw[i] = b }
    }
    var connected = false
    while Date() < deadline {
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc == 0 { connected = true; break }
        usleep(50_000)
    }
    guard connected else { throw DomainXMLError("could not connect to QMP at \(path)") }
    var timeout = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let payload = commands.map { $0 + "\n" }.joined()
    _ = payload.withCString { send(fd, $0, strlen($0), 0) }
    var reply = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 4096)
    // Every command gets one "return" (or "error") reply; stop once all arrived or QEMU hangs up.
    func answered() -> Bool {
        let text = String(decoding: reply, as: UTF8.self)
        return text.components(separatedBy: "\"return\"").count + text.components(separatedBy: "\"error\"").count - 2 >= commands.count
    }
    while !answered() {
        let n = recv(fd, &buf, buf.count, 0)
        if n <= 0 { break }
        reply += buf[0..<n]
    }
    return String(decoding: reply, as: UTF8.self)
}

/// Points every host path of a golden-case domain at something that exists under `tmp`, and
/// swaps machine types the installed QEMU lacks for the same family's newest.
func realize(_ input: Domain, tmp: String, caps: QEMUCapabilities) throws -> Domain {
    var d = input
    let fm = FileManager.default
    if let machine = d.os.machine, !caps.machines.contains(machine) {
        d.os.machine = machine.contains("q35") ? "q35" : "pc"
    }
    d.os.kernel = nil; d.os.initrd = nil; d.os.cmdline = nil
    if d.os.loader?.type == "pflash" {
        d.os.loader?.path = "/usr/share/OVMF/OVMF_CODE_4M.ms.fd"
        let vars = "\(tmp)/VARS.fd"
        try? fm.removeItem(atPath: vars)
        try fm.copyItem(atPath: "/usr/share/OVMF/OVMF_VARS_4M.ms.fd", toPath: vars)
        d.os.nvram?.path = vars
    }
    for i in d.devices.disks.indices where d.devices.disks[i].sourcePath != nil {
        let path = "\(tmp)/disk\(i).\(d.devices.disks[i].driverType ?? "raw")"
        if d.devices.disks[i].driverType == "qcow2" {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-img")
            p.arguments = ["create", "-q", "-f", "qcow2", path, "16M"]
            try p.run(); p.waitUntilExit()
        } else {
            fm.createFile(atPath: path, contents: Data(count: 1 << 20))
        }
        d.devices.disks[i].sourcePath = path
        d.devices.disks[i].type = "file"   // no spare block device on the test host
    }
    func fixChardevs(_ devs: inout [CharDevice], _ kind: String) {
        for i in devs.indices {
            if devs[i].sourcePath != nil { devs[i].sourcePath = "\(tmp)/\(kind)\(i)" }
            if devs[i].logFile != nil { devs[i].logFile = "\(tmp)/\(kind)\(i).log" }
            if devs[i].type == "tcp" { devs[i].sourceService = "0" }   // any free port
        }
    }
    fixChardevs(&d.devices.serials, "serial")
    fixChardevs(&d.devices.parallels, "parallel")
    fixChardevs(&d.devices.consoles, "console")
    fixChardevs(&d.devices.channels, "channel")
    for i in d.devices.filesystems.indices { d.devices.filesystems[i].sourceDir = tmp }
    for i in d.devices.graphics.indices {
        d.devices.graphics[i].listen = "127.0.0.1"
        if d.devices.graphics[i].type == "spice" {
            d.devices.graphics[i].autoport = false
            d.devices.graphics[i].port = Int.random(in: 20000..<30000)
        }
    }
    d.devices.tpms = []   // needs a running swtpm, which is the driver's job
    // QEMU insists that a USB device named by bus/address exists (by vendor/product it waits for it).
    d.devices.hostdevs.removeAll { $0.sourceBus != nil }
    return d
}

@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: qemuBinary)))
struct RealQEMUTests {
    @Test(arguments: Golden.xmlCases())
    func qemuStartsWithArgv(_ name: String) throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("corral-argv-\(name)-\(getpid())").path
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        // Real capabilities: the builder's device checks must accept everything these cases use.
        let caps = try QEMUCapabilities.probeUncached(emulator: qemuBinary)
        var parsed = try Domain(xml: try String(contentsOf: Golden.dir.appendingPathComponent("\(name).xml"), encoding: .utf8))
        parsed.applyDefaults()
        let domain = try realize(parsed, tmp: tmp, caps: caps)
        let context = QEMULaunchContext(domainDir: tmp, logDir: tmp, accel: "tcg")
        let argv = try QEMUCommandLine.build(domain, context: context, caps: caps)

        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) }; process.waitUntilExit() }

        let reply = try? qmpExchange(path: context.qmpSocket,
                                     commands: [#"{"execute":"qmp_capabilities"}"#, #"{"execute":"query-status"}"#, #"{"execute":"quit"}"#],
                                     deadline: Date().addingTimeInterval(15))
        process.waitUntilExit()
        let errors = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(reply?.contains(#""status": "prelaunch""#) == true, "QEMU rejected \(name): \(errors) reply: \(reply ?? "none")")
    }
}

/// Boots the tiny Linux guest with the builder's argv alone and reads its boot output from the
/// serial log file the builder always attaches.
@Suite(.enabled(if: tinyGuestDir != nil, "needs the tiny guest (scripts/tiny-guest.sh)"))
struct TinyGuestArgvBootTests {
    @Test func serialLogShowsBoot() throws {
        let guestDir = try #require(tinyGuestDir)
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("corral-argv-boot-\(getpid())").path
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        var domain = try Domain(xml: try String(contentsOfFile: "\(guestDir)/tiny.xml", encoding: .utf8))
        domain.applyDefaults()
        // Boot from a throwaway copy-on-write overlay so the fixture's data disk stays untouched.
        for i in domain.devices.disks.indices {
            guard let base = domain.devices.disks[i].sourcePath else { continue }
            let overlay = "\(tmp)/disk\(i).qcow2"
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-img")
            p.arguments = ["create", "-q", "-f", "qcow2", "-F", domain.devices.disks[i].driverType ?? "raw", "-b", base, overlay]
            try p.run(); p.waitUntilExit()
            domain.devices.disks[i].sourcePath = overlay
            domain.devices.disks[i].driverType = "qcow2"
        }
        let context = QEMULaunchContext(domainDir: tmp, logDir: tmp, accel: "tcg")
        let argv = try QEMUCommandLine.build(domain, context: context, caps: try QEMUCapabilities.probeUncached(emulator: qemuBinary))

        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) }; process.waitUntilExit() }

        let started = try qmpExchange(path: context.qmpSocket, commands: [#"{"execute":"qmp_capabilities"}"#, #"{"execute":"cont"}"#],
                                      deadline: Date().addingTimeInterval(15))
        #expect(!started.contains("\"error\""))
        let log = context.serialLogPath(domainName: domain.name, index: 0)
        let deadline = Date().addingTimeInterval(90)
        var text = ""
        while Date() < deadline, process.isRunning {
            text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if text.contains("corral-tiny-guest: ready") { break }
            usleep(250_000)
        }
        #expect(text.contains("corral-tiny-guest: ready"), "serial log \(log) has: \(text.suffix(500))")
        _ = try? qmpExchange(path: context.qmpSocket, commands: [#"{"execute":"qmp_capabilities"}"#, #"{"execute":"quit"}"#],
                             deadline: Date().addingTimeInterval(5))
    }
}
