import DomainXML
import Foundation
import QEMUDriver
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Boots the tiny guest with a USB 3 controller, a tablet, a USB stick, SPICE graphics with SPICE
/// audio, a vdagent channel and a USB redirection channel, all from the builder's argv, and asks QEMU
/// (QMP) whether each device exists where the XML put it.
@Suite(.enabled(if: tinyGuestDir != nil, "needs the tiny guest (scripts/tiny-guest.sh)"))
struct USBSpiceBootTests {
    static let devicesXML = """
        <controller type='usb' index='0' model='qemu-xhci' ports='4'/>
        <disk type='file' device='disk'>
          <driver name='qemu' type='raw'/>
          <source file='STICK'/>
          <target dev='sda' bus='usb' removable='on'/>
        </disk>
        <input type='tablet' bus='usb'/>
        <channel type='spicevmc'>
          <target type='virtio' name='com.redhat.spice.0'/>
        </channel>
        <graphics type='spice' port='SPICEPORT' autoport='no' listen='127.0.0.1'/>
        <sound model='ich9'/>
        <audio id='1' type='spice'/>
        <redirdev bus='usb' type='spicevmc'/>
      </devices>
    """

    @Test func bootsWithUSBAndSpice() throws {
        let guestDir = try #require(tinyGuestDir)
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("corral-usb-spice-\(getpid())").path
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let stick = "\(tmp)/stick.img"
        #expect(FileManager.default.createFile(atPath: stick, contents: Data(count: 4 << 20)))
        let spicePort = freeTCPPort()
        var xml = try String(contentsOfFile: "\(guestDir)/tiny.xml", encoding: .utf8)
        xml = xml.replacingOccurrences(of: "</devices>", with: Self.devicesXML
            .replacingOccurrences(of: "STICK", with: stick).replacingOccurrences(of: "SPICEPORT", with: String(spicePort)))
        var domain = try Domain(xml: xml)
        domain.applyDefaults()
        // The data disk through a throwaway overlay, so the fixture stays untouched.
        for i in domain.devices.disks.indices where domain.devices.disks[i].targetBus == "virtio" {
            guard let base = domain.devices.disks[i].sourcePath else { continue }
            let overlay = "\(tmp)/data.qcow2"
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-img")
            p.arguments = ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, overlay]
            try p.run(); p.waitUntilExit()
            domain.devices.disks[i].sourcePath = overlay
        }
        let context = QEMULaunchContext(domainDir: tmp, logDir: tmp, accel: "tcg")
        let argv = try QEMUCommandLine.build(domain, context: context, caps: try QEMUCapabilities.probeUncached(emulator: qemuBinary))

        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) }; process.waitUntilExit() }

        let started = try qmpExchange(path: context.qmpSocket, commands: [#"{"execute":"qmp_capabilities"}"#, #"{"execute":"cont"}"#],
                                      deadline: Date().addingTimeInterval(15))
        #expect(started.contains("\"return\"") && !started.contains("\"error\""), "QEMU refused the argv: \(started)")
        let log = context.serialLogPath(domainName: domain.name, index: 0)
        let deadline = Date().addingTimeInterval(120)
        var text = ""
        while Date() < deadline, process.isRunning {
            text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if text.contains("corral-tiny-guest: ready") { break }
            usleep(250_000)
        }
        #expect(text.contains("corral-tiny-guest: ready"), "serial log: \(text.suffix(500)); stderr: \(process.isRunning ? "" : String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))")

        let reply = try qmpExchange(path: context.qmpSocket, commands: [
            #"{"execute":"qmp_capabilities"}"#,
            #"{"execute":"human-monitor-command","arguments":{"command-line":"info usb"}}"#,
            #"{"execute":"query-pci"}"#,
            #"{"execute":"query-spice"}"#,
            #"{"execute":"qom-list","arguments":{"path":"/machine/peripheral"}}"#,
            #"{"execute":"query-chardev"}"#,
        ], deadline: Date().addingTimeInterval(15))
        // `info usb` lists what sits on which port: the allocator gave disk, tablet, redirection 1-3.
        for (port, product, id) in [(1, "QEMU USB MSD", "usb-disk0"), (2, "QEMU USB Tablet", "input0"), (3, "USB Redirection Device", "redir0")] {
            #expect(reply.range(of: "Port \(port), Speed [^,]+, Product \(product), ID: \(id)\\\\r", options: .regularExpression) != nil,
                    "info usb lacks \(id) on port \(port): \(reply)")
        }
        // qemu-xhci is PCI 1b36:000d, ICH9 HD audio 8086:293e.
        for (qdev, device, vendor) in [("usb", 13, 6966), ("sound0", 10558, 32902)] {
            #expect(reply.range(of: #""qdev_id": "\#(qdev)"[^\[]*"id": \{"device": \#(device), [^}]*"vendor": \#(vendor)"#,
                                options: .regularExpression) != nil, "no \(qdev) (\(vendor):\(device)) in query-pci: \(reply)")
        }
        #expect(reply.contains(#""enabled": true"#) && reply.contains(#""port": \#(spicePort)"#), "SPICE not listening on \(spicePort): \(reply)")
        for id in ["usb", "usb-disk0", "input0", "redir0", "channel0", "sound0", "sound0-codec0"] {
            #expect(reply.contains(#""name": "\#(id)""#), "no device '\(id)' in /machine/peripheral: \(reply)")
        }
        for label in ["charredir0", "charchannel0"] {
            #expect(reply.range(of: #"\{[^}]*"filename": "spicevmc"[^}]*"label": "\#(label)""#, options: .regularExpression) != nil,
                    "no spicevmc chardev \(label): \(reply)")
        }
        _ = try? qmpExchange(path: context.qmpSocket, commands: [#"{"execute":"qmp_capabilities"}"#, #"{"execute":"quit"}"#],
                             deadline: Date().addingTimeInterval(5))
    }

    /// A loopback TCP port nobody listens on right now.
    func freeTCPPort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 ? getsockname(fd, $0, &len) : -1 }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
