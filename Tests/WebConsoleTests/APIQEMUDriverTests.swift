import Foundation
import Hummingbird
import HummingbirdTesting
import Hypervisor
import NIOCore
import QEMUDriver
import Testing
@testable import WebConsole

/// The API over a real QEMUDriver on a temporary state root: storage, networks, device changes
/// and delete-with-storage, without booting a guest.
@Suite(.serialized) struct APIQEMUDriverTests {
    static func withQEMU(_ body: (ConsoleHarness, String) async throws -> Void) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("webapi-qemu-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let driver = try QEMUDriver.open(root: root)
        try await withConsole(local: driver) { h in try await body(h, root) }
    }

    static func poolXML(_ name: String, _ dir: String) -> String {
        "<pool type='dir'><name>\(name)</name><target><path>\(dir)</path></target></pool>"
    }

    @Test func poolsVolumesAndStreams() async throws {
        try await Self.withQEMU { h, root in
            let p = "/api/v1/connections/local/pools"
            let created = try await h.request(.post, p, json: ["xml": Self.poolXML("web", root + "/webpool"), "build": true, "start": true, "autostart": true])
            #expect(created.status == .created, "\(created.text)")
            #expect(created.object["state"] as? String == "running")
            #expect(created.object["active"] as? Bool == true)
            #expect(created.object["autostart"] as? Bool == true)
            #expect(created.object["type"] as? String == "dir")
            #expect(created.object["path"] as? String == root + "/webpool")
            #expect(try await h.get(p).array.contains { $0["name"] as? String == "web" })
            #expect(try await h.get("\(p)/web").object["capacity"] as? Int ?? 0 > 0)
            let missing = try await h.get("\(p)/nosuch")
            #expect(missing.status == .notFound)
            #expect(missing.message.contains("nosuch"))
            let badPool = try await h.request(.post, p, json: ["xml": "<pool type='dir'><name>x</name>"])
            #expect(badPool.status == .badRequest)
            #expect(try await h.request(.post, "\(p)/web/refresh").object["name"] as? String == "web")
            #expect(try await h.request(.post, "\(p)/web/frobnicate").status == .notFound)

            let v = "\(p)/web/volumes"
            let vol = try await h.request(.post, v, json: ["name": "disk.raw", "capacity": 65536, "format": "raw"])
            #expect(vol.status == .created, "\(vol.text)")
            #expect(vol.object["path"] as? String == root + "/webpool/disk.raw")
            #expect(vol.object["format"] as? String == "raw")
            #expect(vol.object["capacity"] as? Int == 65536)
            let q = try await h.request(.post, v, json: ["name": "q.qcow2", "capacity": 1 << 20])
            #expect(q.object["format"] as? String == "qcow2")
            #expect(try await h.request(.post, v, json: ["name": "x", "capacity": 1, "format": "vmdk"]).status == .badRequest)
            #expect(try await h.request(.post, v, json: ["capacity": 1]).status == .badRequest)
            let dup = try await h.request(.post, v, json: ["name": "disk.raw", "capacity": 1, "format": "raw"])
            #expect(dup.status == .conflict, "\(dup.text)")
            #expect(Set(try await h.get(v).array.compactMap { $0["name"] as? String }) == ["disk.raw", "q.qcow2"])
            #expect(try await h.get("\(v)/nosuch").status == .notFound)

            // Upload fills the volume, download returns the same bytes; larger than the volume is refused.
            let bytes = (0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let up = try await h.request(.put, "\(v)/disk.raw/content", bytes: bytes)
            #expect(up.status == .ok, "\(up.text)")
            let down = try await h.get("\(v)/disk.raw/content")
            #expect(down.status == .ok)
            #expect(down.headers[.contentType] == "application/octet-stream")
            #expect(Array(down.body.readableBytesView) == bytes)
            let tooBig = try await h.request(.put, "\(v)/disk.raw/content", bytes: bytes + [1])
            #expect(tooBig.status == .contentTooLarge)
            #expect(tooBig.message.contains("65536"))
            #expect(Array(try await h.get("\(v)/disk.raw/content").body.readableBytesView) == bytes)
            #expect(try await h.request(.put, "\(v)/nosuch/content", bytes: [1]).status == .notFound)

            #expect(try await h.request(.delete, "\(v)/q.qcow2").status == .noContent)
            #expect(!FileManager.default.fileExists(atPath: root + "/webpool/q.qcow2"))
            #expect(try await h.request(.delete, "\(p)/web").status == .noContent)
            #expect(try await h.get("\(p)/web").status == .notFound)
        }
    }

    @Test func networks() async throws {
        try await Self.withQEMU { h, _ in
            let n = "/api/v1/connections/local/networks"
            let made = try await h.request(.post, n, json: ["name": "lab", "forward": "nat", "ipv4": "192.168.150.1/24", "dhcp": true])
            #expect(made.status == .created, "\(made.text)")
            #expect(made.object["forward"] as? String == "nat")
            #expect(made.object["ip"] as? String == "192.168.150.1")
            #expect(made.object["netmask"] as? String == "255.255.255.0")
            #expect(made.object["dhcpStart"] as? String == "192.168.150.2")
            #expect(made.object["dhcpEnd"] as? String == "192.168.150.254")
            #expect(made.object["active"] as? Bool == false)
            #expect(made.object["persistent"] as? Bool == true)

            let iso = try await h.request(.post, n, json: ["name": "iso", "forward": "isolated", "ipv4": "10.9.8.254/29"])
            #expect(iso.status == .created, "\(iso.text)")
            #expect(iso.object["forward"] as? String == "isolated")
            #expect(iso.object["dhcpStart"] as? String == "10.9.8.249")
            #expect(iso.object["dhcpEnd"] as? String == "10.9.8.253")

            let fromXML = try await h.request(.post, n, json: ["xml": "<network><name>raw</name><ip address='10.1.2.1' prefix='24'/></network>"])
            #expect(fromXML.status == .created, "\(fromXML.text)")
            #expect(fromXML.object["netmask"] as? String == "255.255.255.0")

            for bad: [String: Any] in [["name": "b", "ipv4": "300.1.1.1/24"], ["name": "b", "ipv4": "10.0.0.0/24"],
                                       ["name": "b", "forward": "warp"], ["forward": "nat"], ["name": "b", "dhcp": true],
                                       ["xml": "<network><name>b</name><ip address='x'/>"]] {
                let r = try await h.request(.post, n, json: bad)
                #expect(r.status == .badRequest, "\(bad): \(r.status) \(r.text)")
                #expect(!r.message.isEmpty)
            }
            #expect(try await h.request(.post, n, json: ["name": "lab"]).status == .conflict)

            #expect(Set(try await h.get(n).array.compactMap { $0["name"] as? String }).isSuperset(of: ["lab", "iso", "raw"]))
            #expect(try await h.get("\(n)/lab").object["name"] as? String == "lab")
            let missing = try await h.get("\(n)/nosuch/leases")
            #expect(missing.status == .notFound)
            #expect(missing.message == "Network not found: no network with matching name 'nosuch'")
            #expect(try await h.request(.post, "\(n)/lab/explode").status == .notFound)
            #expect(try await h.request(.delete, "\(n)/lab").status == .noContent)
            #expect(try await h.get("\(n)/lab").status == .notFound)
        }
    }

    @Test func devicesAndDeleteWithStorage() async throws {
        try await Self.withQEMU { h, root in
            let p = "/api/v1/connections/local/pools"
            #expect(try await h.request(.post, p, json: ["xml": Self.poolXML("imgs", root + "/imgs"), "build": true, "start": true]).status == .created)
            let disk = try await h.request(.post, "\(p)/imgs/volumes", json: ["name": "g.qcow2", "capacity": 1 << 20])
            let diskPath = try #require(disk.object["path"] as? String)
            let iso = try await h.request(.post, "\(p)/imgs/volumes", json: ["name": "install.iso", "capacity": 4096, "format": "raw"])
            let isoPath = try #require(iso.object["path"] as? String)
            // A file in the pool's directory the pool has not listed yet, and one outside any pool.
            let stray = root + "/imgs/stray.img", outside = root + "/outside.img"
            for f in [stray, outside] { #expect(FileManager.default.createFile(atPath: f, contents: Data(count: 512))) }

            let xml = """
                <domain type='qemu'>
                  <name>del</name>
                  <memory unit='MiB'>64</memory>
                  <vcpu>1</vcpu>
                  <os><type arch='x86_64' machine='pc'>hvm</type></os>
                  <devices>
                    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='\(diskPath)'/><target dev='vda' bus='virtio'/></disk>
                    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/><source file='\(isoPath)'/><target dev='sda' bus='ide'/><readonly/></disk>
                    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='\(outside)'/><target dev='vdb' bus='virtio'/></disk>
                  </devices>
                </domain>
                """
            let d = "/api/v1/connections/local/domains"
            let def = try await h.request(.post, d, text: xml)
            #expect(def.status == .created, "\(def.text)")
            #expect(def.object["state"] as? String == "shut off")

            let rows = try await h.get("\(d)/del/devices").array
            #expect(rows.contains { $0["summary"] as? String == "disk vda virtio \(diskPath)" })
            #expect(rows.contains { $0["summary"] as? String == "cdrom sda ide \(isoPath)" })

            // Offline guest: the change goes to its config (virsh --config), and the list shows it.
            let add = "<disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='\(stray)'/><target dev='vdc' bus='virtio'/></disk>"
            let attached = try await h.request(.post, "\(d)/del/devices", json: ["xml": add])
            #expect(attached.status == .ok, "\(attached.text)")
            #expect(try await h.get("\(d)/del/devices").array.contains { ($0["summary"] as? String)?.hasPrefix("disk vdc virtio") == true })
            let eject = try await h.request(.put, "\(d)/del/devices", json: ["xml": "<disk type='file' device='cdrom'><target dev='sda' bus='ide'/><readonly/></disk>"])
            #expect(eject.status == .ok, "\(eject.text)")
            #expect(try await h.get("\(d)/del/devices").array.contains { $0["summary"] as? String == "cdrom sda ide (empty)" })
            let insert = try await h.request(.put, "\(d)/del/devices",
                                             json: ["xml": "<disk type='file' device='cdrom'><source file='\(isoPath)'/><target dev='sda' bus='ide'/><readonly/></disk>"])
            #expect(insert.status == .ok, "\(insert.text)")
            let badDev = try await h.request(.post, "\(d)/del/devices", json: ["xml": "<disk type='file'><target/></disk>"])
            #expect(badDev.status == .badRequest, "\(badDev.text)")
            let live = try await h.request(.post, "\(d)/del/devices/detach", json: ["xml": add, "live": true])
            #expect(live.status == .conflict, "\(live.text)")
            let noSuch = try await h.request(.post, "\(d)/del/devices/detach", json: ["xml": add.replacingOccurrences(of: "vdc", with: "vdz")])
            #expect(noSuch.status != .ok)
            #expect(noSuch.message.contains("vdz"))

            // Delete with storage: the pool volume and the unlisted file in the pool go; the
            // CD-ROM image and the file outside every pool stay, and the response says why.
            let del = try await h.request(.delete, "\(d)/del?storage=1")
            #expect(del.status == .ok, "\(del.text)")
            let warnings = del.object["warnings"] as? [String] ?? []
            #expect(warnings.count == 1)
            #expect(warnings.first?.contains(outside) == true)
            #expect(!FileManager.default.fileExists(atPath: diskPath))
            #expect(!FileManager.default.fileExists(atPath: stray))
            #expect(FileManager.default.fileExists(atPath: isoPath))
            #expect(FileManager.default.fileExists(atPath: outside))
            #expect(try await h.get("\(d)/del").status == .notFound)
            #expect(!(try await h.get("\(p)/imgs/volumes").array.contains { $0["name"] as? String == "g.qcow2" }))
        }
    }
}

/// The real daemon: `corrald --http 127.0.0.1:0` serves the API and stops quietly on SIGTERM.
@Suite(.enabled(if: TestPaths.corrald != nil, "needs a built corrald")) struct CorraldHTTPTests {
    @Test func servesAndShutsDownQuietly() async throws {
        let corrald = try #require(TestPaths.corrald)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("corrald-http-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: corrald)
        p.arguments = ["--root", root, "--http", "127.0.0.1:0", "--no-autostart",
                       "--web-dir", TestPaths.packageRoot.appendingPathComponent("Web").path]
        let log = root + "/corrald.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = out
        p.standardError = out
        try p.run()
        defer { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }

        var port: Int?
        for _ in 0..<200 where port == nil {
            try await Task.sleep(for: .milliseconds(100))
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if let r = text.range(of: "web console on http://127.0.0.1:") {
                port = Int(text[r.upperBound...].prefix { $0.isNumber })
            }
        }
        let bound = try #require(port, "corrald did not report its web console: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        let h = HTTPProbe(port: bound)
        let conns = try await h.get("/api/v1/connections")
        #expect(conns.status == .ok)
        #expect(conns.text.contains("\"id\":\"local\""))
        #expect(try await h.get("/api/v1/connections/local/pools").status == .ok)
        #expect(try await h.get("/api/v1/openapi.json").status == .ok)

        kill(p.processIdentifier, SIGTERM)
        for _ in 0..<100 where p.isRunning { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!p.isRunning)
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(!text.contains("Waiting on child channel"), "\(text)")
        #expect(!text.contains("error"), "\(text)")
    }
}

/// A plain client for a port (the harness's client without a harness).
struct HTTPProbe {
    let port: Int
    func get(_ path: String) async throws -> ConsoleHarness.Reply {
        let req = TestClient.Request(path, method: .get, authority: "localhost")
        let r = try await TestClient.withClient(host: "127.0.0.1", port: port) { try await $0.execute(req) }
        return ConsoleHarness.Reply(status: r.status, headers: r.headers, body: r.body ?? ByteBuffer())
    }
}
