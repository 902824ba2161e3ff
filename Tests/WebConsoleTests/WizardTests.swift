import DomainXML
import Foundation
import Hummingbird
import HummingbirdTesting
import Hypervisor
import QEMUDriver
import Testing
@testable import WebConsole

/// The wizard routes over a real QEMUDriver on a temporary root (its `default` pool is made on
/// open), driven through Hummingbird's test client.
final class WizardFixture: @unchecked Sendable {
    let root: String
    let driver: QEMUDriver
    let state: WebState

    init() throws {
        root = NSTemporaryDirectory() + "corral-wizard-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        driver = try QEMUDriver.open(root: root)
        let registry = ConnectionRegistry(localURI: "qemu:///embed?root=\(root)", local: driver,
                                          opener: { uri, _ in throw APIError(.badGateway, "no remote hosts in this test: \(uri)") },
                                          storeFile: nil)
        state = WebState(config: WebConsoleConfig(webDir: root, stateDir: root + "/web"), connections: registry)
    }

    /// Runs `body` with a fresh fixture, then stops its guests and removes its root.
    static func with(_ body: (WizardFixture) async throws -> Void) async throws {
        let f = try WizardFixture()
        do {
            // corrald makes the `default` pool on its first start; a bare driver has none.
            let p = try await f.driver.defineStoragePool(xml: "<pool type='dir'><name>default</name><target><path>\(f.root)/lib/images</path></target></pool>", flags: 0)
            try await f.driver.buildStoragePool(p, flags: [])
            try await f.driver.startStoragePool(p, flags: [])
            try await body(f)
        } catch { await f.cleanup(); throw error }
        await f.cleanup()
    }

    /// Stops every guest this fixture's driver runs, then removes the root.
    func cleanup() async {
        for d in (try? await driver.listAllDomains(flags: [.active])) ?? [] { try? await driver.destroyDomain(d, flags: 0) }
        try? FileManager.default.removeItem(atPath: root)
    }

    func run(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        let router = Router(context: WebContext.self)
        WizardRoutes.register(on: router, state: state)
        try await Application(router: router).test(.router, body)
    }

    func volumes(_ pool: String = "default") async throws -> [String] {
        let p = try await driver.lookupStoragePool(name: pool)
        try await driver.refreshStoragePool(p, flags: 0)
        return try await driver.listAllStorageVolumes(p, flags: 0).map(\.name).sorted()
    }

    /// An empty file standing in for an ISO (the wizard only checks that it exists).
    func file(_ name: String, _ bytes: [UInt8] = [0]) throws -> String {
        let path = "\(root)/\(name)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }
}

/// The tiny test guest's kernel and initrd (scripts/tiny-guest.sh), built once per run.
enum TinyGuest {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let dir: String? = {
        let dir = ProcessInfo.processInfo.environment["CORRAL_TINY_GUEST_DIR"]
            ?? packageRoot.appendingPathComponent(".build/tiny-guest").path
        if !FileManager.default.fileExists(atPath: "\(dir)/vmlinuz") || !FileManager.default.fileExists(atPath: "\(dir)/initrd.img") {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/bin/bash")
            p.arguments = [packageRoot.appendingPathComponent("scripts/tiny-guest.sh").path, dir]
            guard (try? p.run()) != nil else { return nil }
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { return nil }
        }
        return dir
    }()
}

struct WizardReply {
    var status: HTTPResponse.Status
    var text: String
    var json: Any? { try? JSONSerialization.jsonObject(with: Data(text.utf8)) }
    var object: [String: Any] { json as? [String: Any] ?? [:] }
    var errorMessage: String { (object["error"] as? [String: Any])?["message"] as? String ?? "" }
}

extension TestClientProtocol {
    func send(_ method: HTTPRequest.Method, _ uri: String, _ body: [String: Any]? = nil) async throws -> WizardReply {
        let data = try body.map { try JSONSerialization.data(withJSONObject: $0) }
        return try await execute(uri: uri, method: method, body: data.map { ByteBuffer(bytes: $0) }) { r in
            WizardReply(status: r.status, text: String(buffer: r.body))
        }
    }
}

@Suite(.serialized) struct WizardOSInfoTests {
    @Test func searchAndDetail() async throws {
        try await WizardFixture.with { f in
            try await f.run { c in
                let list = try await c.send(.get, "/api/v1/osinfo?q=win11")
                #expect(list.status == .ok)
                let first = try #require((list.json as? [[String: Any]])?.first)
                #expect(first["id"] as? String == "win11" && first["family"] as? String == "winnt")

                let featured = try #require(try await c.send(.get, "/api/v1/osinfo").json as? [[String: Any]])
                let ids = featured.compactMap { $0["id"] as? String }
                #expect(ids.contains("linux2022") && ids.contains("generic") && ids.count <= 50)

                let win = try await c.send(.get, "/api/v1/osinfo/win11")
                let defaults = try #require(win.object["defaults"] as? [String: Any])
                #expect(defaults["firmware"] as? String == "efi" && defaults["diskBus"] as? String == "sata")
                #expect(defaults["memoryMiB"] as? Int == 8192 && defaults["machine"] as? String == "q35")
                #expect((win.object["minimum"] as? [String: Any])?["memoryMiB"] as? Int == 4096)

                let deb = try await c.send(.get, "/api/v1/osinfo/debian11").object
                #expect((deb["defaults"] as? [String: Any])?["diskBus"] as? String == "virtio")
                #expect(deb["uri"] as? String == "http://debian.org/debian/11")

                let missing = try await c.send(.get, "/api/v1/osinfo/nosuchos")
                #expect(missing.status == .notFound && missing.errorMessage.contains("unknown OS 'nosuchos'"))
            }
        }
    }
}

@Suite(.serialized) struct WizardDryRunTests {
    @Test func isoInstall() async throws {
        try await WizardFixture.with { f in
            let iso = try f.file("install.iso")
            try await f.run { c in
                let r = try await c.send(.post, "/api/v1/connections/local/guests?dryRun=1", [
                    "name": "deb", "os": "debian11", "install": ["kind": "iso", "iso": iso]])
                #expect(r.status == .ok, "\(r.text)")
                let xml = try #require(r.object["xml"] as? String)
                #expect(xml.hasPrefix("<domain type='qemu'>"))
                #expect(xml.contains("<libosinfo:os id=\"http://debian.org/debian/11\"/>"))
                #expect(xml.contains("<type arch='x86_64' machine='q35'>hvm</type>"))
                #expect(xml.contains("<boot dev='cdrom'/>\n    <boot dev='hd'/>"))
                #expect(xml.contains("<source pool='default' volume='deb.qcow2'/>\n      <target dev='vda' bus='virtio'/>"))
                #expect(xml.contains("<source file='\(iso)'/>\n      <target dev='sda' bus='sata'/>\n      <readonly/>"))
                #expect(xml.contains("<graphics type='vnc' autoport='yes' listen='127.0.0.1'>"))
                #expect(xml.contains("<controller type='usb' index='0' model='qemu-xhci' ports='15'/>"))
                #expect(xml.contains("<input type='tablet' bus='usb'/>") && xml.contains("<memballoon model='virtio'/>"))
                #expect(xml.contains("<interface type='user'>\n      <model type='virtio'/>"))
                #expect(xml.contains("<console type='pty'>") && xml.contains("<serial type='pty'>"))
                #expect(xml.contains("<memory unit='KiB'>1048576</memory>") && xml.contains("<vcpu placement='static'>2</vcpu>"))
                // Corral's own parser takes it, with the values virt-install would choose.
                let def = try Domain(xml: xml)
                #expect(def.devices.disks.count == 2 && def.os.machine == "q35")
            }
            // Nothing was created.
            #expect(try await f.volumes().isEmpty)
            #expect(try await f.driver.listAllDomains(flags: []).isEmpty)
        }
    }

    @Test func importFromPathAndPoolVolume() async throws {
        try await WizardFixture.with { f in
            let qcow = try f.file("disk.qcow2", [0x51, 0x46, 0x49, 0xFB, 0, 0, 0, 3])
            let pool = try await f.driver.lookupStoragePool(name: "default")
            _ = try await f.driver.createStorageVolume(pool, xml: "<volume><name>base.raw</name><capacity>1048576</capacity><target><format type='raw'/></target></volume>", flags: [])
            try await f.run { c in
                let byPath = try await c.send(.post, "/api/v1/connections/local/guests?dryRun=1", [
                    "name": "imp", "os": "winxp", "install": ["kind": "import", "disk": qcow], "graphics": "spice"])
                #expect(byPath.status == .ok, "\(byPath.text)")
                let x1 = try #require(byPath.object["xml"] as? String)
                // winxp: no virtio, an old chipset: IDE on pc, BIOS, USB 2, no CD-ROM, boot from disk.
                #expect(x1.contains("machine='pc'") && x1.contains("<boot dev='hd'/>") && !x1.contains("cdrom"))
                #expect(x1.contains("<driver name='qemu' type='qcow2'/>\n      <source file='\(qcow)'/>\n      <target dev='hda' bus='ide'/>"))
                #expect(x1.contains("model='ich9-ehci1'") && x1.contains("model='ich9-uhci3'"))
                #expect(x1.contains("<clock offset='localtime'>") && x1.contains("<graphics type='spice'"))

                let byVolume = try await c.send(.post, "/api/v1/connections/local/guests?dryRun=1", [
                    "name": "imp2", "os": "fedora37", "install": ["kind": "import", "disk": "default/base.raw"],
                    "network": ["type": "user", "model": "e1000e"], "graphics": "none"])
                let x2 = try #require(byVolume.object["xml"] as? String)
                #expect(x2.contains("<disk type='volume' device='disk'>\n      <source pool='default' volume='base.raw'/>\n      <target dev='vda' bus='virtio'/>"))
                #expect(x2.contains("<model type='e1000e'/>") && !x2.contains("<graphics"))
                #expect(x2.contains("<model type='virtio'/>\n    </video>"))
            }
            #expect(try await f.volumes() == ["base.raw"])
        }
    }

    @Test func kernelBootAndEFI() async throws {
        try await WizardFixture.with { f in
            let kernel = try f.file("vmlinuz"), initrd = try f.file("initrd.img")
            try await f.run { c in
                let r = try await c.send(.post, "/api/v1/connections/local/guests?dryRun=1", [
                    "name": "k", "os": "linux2022", "memoryMiB": 256, "vcpus": 1,
                    "install": ["kind": "kernel", "kernel": kernel, "initrd": initrd, "cmdline": "console=ttyS0 a<b"]])
                let x = try #require(r.object["xml"] as? String, "\(r.text)")
                #expect(x.contains("<kernel>\(kernel)</kernel>\n    <initrd>\(initrd)</initrd>\n    <cmdline>console=ttyS0 a&lt;b</cmdline>"))
                #expect(!x.contains("<boot dev=") && !x.contains("<disk"))
                #expect(x.contains("<memory unit='KiB'>262144</memory>"))
                #expect(try Domain(xml: x).os.cmdline == "console=ttyS0 a<b")

                let win = try await c.send(.post, "/api/v1/connections/local/guests?dryRun=1", [
                    "name": "w11", "os": "win11", "install": ["kind": "iso", "iso": kernel]])
                let w = try #require(win.object["xml"] as? String, "\(win.text)")
                #expect(w.contains("<os firmware='efi'>") && w.contains("<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>"))
                #expect(w.contains("<source pool='default' volume='w11.qcow2'/>\n      <target dev='sda' bus='sata'/>"))
                #expect(w.contains("<target dev='sdb' bus='sata'/>\n      <readonly/>"))
                #expect(w.contains("<model type='e1000e'/>") && w.contains("<model type='qxl'/>"))
                #expect(w.contains("<memory unit='KiB'>8388608</memory>") && w.contains("<vcpu placement='static'>4</vcpu>"))

                let bios = try await c.send(.post, "/api/v1/connections/local/guests?dryRun=1", [
                    "name": "w11", "os": "win11", "firmware": "bios", "install": ["kind": "iso", "iso": kernel]])
                #expect(bios.status == .badRequest && bios.errorMessage.contains("cannot boot with BIOS"))
            }
        }
    }
}

@Suite(.serialized) struct WizardCreateTests {
    @Test func kernelBootGuestStartsAndReachesRunning() async throws {
        let tiny = try #require(TinyGuest.dir, "scripts/tiny-guest.sh failed")
        try await WizardFixture.with { f in
            let cmdline = try String(contentsOfFile: "\(tiny)/cmdline", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            try await f.run { c in
                let r = try await c.send(.post, "/api/v1/connections/local/guests", [
                    "name": "tiny-wiz", "os": "linux2022", "memoryMiB": 256, "vcpus": 1, "graphics": "vnc",
                    "install": ["kind": "kernel", "kernel": "\(tiny)/vmlinuz", "initrd": "\(tiny)/initrd.img", "cmdline": cmdline],
                    "network": ["type": "user", "model": "virtio"], "start": true])
                #expect(r.status == .created, "\(r.text)")
                let dom = try #require(r.object["domain"] as? [String: Any])
                #expect(dom["state"] as? String == "running" && (dom["id"] as? Int ?? -1) > 0)
            }
            let ref = try await f.driver.lookupDomain(name: "tiny-wiz")
            #expect(try await f.driver.domainState(ref).state == .running)
            // The guest really boots: its serial console says ready.
            let console = try await f.driver.openConsole(ref, devName: nil, force: true)
            var seen = ""
            let deadline = Date().addingTimeInterval(180)
            while Date() < deadline, !seen.contains("corral-tiny-guest: ready") {
                guard let chunk = try await console.read() else { break }
                seen += String(decoding: chunk, as: UTF8.self)
            }
            await console.close()
            #expect(seen.contains("corral-tiny-guest: ready"))
            let xml = try await f.driver.domainXML(ref, flags: [])
            #expect(xml.contains("libosinfo.org/linux/2022"))
            try await f.driver.destroyDomain(ref, flags: 0)
        }
    }

    @Test func isoGuestCreatesItsVolume() async throws {
        try await WizardFixture.with { f in
            let iso = try f.file("install.iso")
            try await f.run { c in
                let r = try await c.send(.post, "/api/v1/connections/local/guests", [
                    "name": "inst", "os": "debian11", "install": ["kind": "iso", "iso": iso],
                    "disk": ["pool": "default", "sizeGiB": 2, "format": "qcow2"]])
                #expect(r.status == .created, "\(r.text)")
                #expect(r.object["createdVolumes"] as? [String] == ["default/inst.qcow2"])
                #expect((r.object["domain"] as? [String: Any])?["state"] as? String == "shut off")
                // A taken volume name makes the wizard pick the next free one.
                let pool = try await f.driver.lookupStoragePool(name: "default")
                _ = try await f.driver.createStorageVolume(pool, xml: "<volume><name>next.qcow2</name><capacity>1048576</capacity><target><format type='qcow2'/></target></volume>", flags: [])
                let second = try await c.send(.post, "/api/v1/connections/local/guests?dryRun=1", [
                    "name": "next", "os": "debian11", "install": ["kind": "iso", "iso": iso]])
                #expect((second.object["xml"] as? String)?.contains("volume='next-1.qcow2'") == true, "\(second.text)")
            }
            #expect(try await f.volumes() == ["inst.qcow2", "next.qcow2"])
            let vol = try await f.driver.lookupStorageVolume(pool: f.driver.lookupStoragePool(name: "default"), name: "inst.qcow2")
            #expect(try await f.driver.storageVolumeInfo(vol).capacity == 2 << 30)
            #expect(try await f.driver.listAllDomains(flags: []).map(\.name) == ["inst"])
        }
    }

    @Test func errorsAreClearAndLeaveNothingBehind() async throws {
        try await WizardFixture.with { f in
            let kernel = try f.file("vmlinuz")
            try await f.run { c in
                func post(_ body: [String: Any]) async throws -> WizardReply { try await c.send(.post, "/api/v1/connections/local/guests", body) }
                let k: [String: Any] = ["kind": "kernel", "kernel": kernel]

                let unknownOS = try await post(["name": "a", "os": "nosuchos", "install": k])
                #expect(unknownOS.status == .badRequest && unknownOS.errorMessage.contains("unknown OS 'nosuchos'"))
                let badPool = try await post(["name": "a", "os": "debian11", "install": k, "disk": ["pool": "nopool", "sizeGiB": 1]])
                #expect(badPool.status == .badRequest && badPool.errorMessage.contains("storage pool 'nopool' not found"))
                let badName = try await post(["name": "../etc", "install": k])
                #expect(badName.status == .badRequest && badName.errorMessage.contains("invalid guest name"))
                let bigMem = try await post(["name": "a", "install": k, "memoryMiB": 1 << 30])
                #expect(bigMem.status == .badRequest && bigMem.errorMessage.contains("memoryMiB"))
                let bigDisk = try await post(["name": "a", "install": k, "disk": ["sizeGiB": 1e9]])
                #expect(bigDisk.status == .badRequest && bigDisk.errorMessage.contains("sizeGiB"))
                let noFile = try await post(["name": "a", "install": ["kind": "iso", "iso": "/nonexistent.iso"]])
                #expect(noFile.status == .badRequest && noFile.errorMessage.contains("no such file '/nonexistent.iso'"))
                let noVol = try await post(["name": "a", "install": ["kind": "import", "disk": "default/missing.qcow2"]])
                #expect(noVol.status == .badRequest && noVol.errorMessage.contains("no volume 'missing.qcow2'"))
                let badKind = try await post(["name": "a", "install": ["kind": "pxe"]])
                #expect(badKind.status == .badRequest && badKind.errorMessage.contains("install.kind 'pxe'"))
                let badNet = try await post(["name": "a", "install": k, "network": ["type": "network", "name": "nonet"]])
                #expect(badNet.status == .badRequest && badNet.errorMessage.contains("network 'nonet' not found"))
                let notJSON = try await c.execute(uri: "/api/v1/connections/local/guests", method: .post, body: ByteBuffer(string: "{")) { $0.status }
                #expect(notJSON == .badRequest)
                let missingField = try await post(["os": "debian11"])
                #expect(missingField.status == .badRequest && missingField.errorMessage.contains("name"))
                let noConn = try await c.send(.post, "/api/v1/connections/nope/guests", ["name": "a", "install": k])
                #expect(noConn.status == .notFound)

                // Duplicate name: refused before any volume is made.
                let first = try await post(["name": "dup", "os": "linux2022", "install": k])
                #expect(first.status == .created, "\(first.text)")
                let dup = try await post(["name": "dup", "os": "linux2022", "install": k, "disk": ["sizeGiB": 1]])
                #expect(dup.status == .conflict, "\(dup.text)")
                #expect(dup.errorMessage.contains("guest name 'dup' is already in use"))
                #expect(try await f.volumes().isEmpty)

                // A failure after the volume exists (QEMU cannot boot a 1-byte kernel): the
                // guest is undefined and its new volume deleted again.
                let broken = try await post(["name": "broken", "os": "linux2022", "install": k, "disk": ["sizeGiB": 1], "start": true])
                #expect(broken.status.code >= 400, "\(broken.text)")
                #expect(!broken.errorMessage.isEmpty)
            }
            #expect(try await f.volumes().isEmpty)
            #expect(try await f.driver.listAllDomains(flags: []).map(\.name) == ["dup"])
        }
    }
}
