import Foundation
import Hummingbird
import Hypervisor
import TestDriver
import Testing
@testable import WebConsole

/// The JSON API over the in-memory test driver (libvirt's test:///default): shapes and errors.
@Suite struct APITestDriverTests {
    static let goodXML = """
        <domain type='test'>
          <name>web1</name>
          <memory unit='MiB'>64</memory>
          <vcpu>1</vcpu>
          <os><type>hvm</type></os>
          <devices>
            <disk type='file' device='cdrom'><target dev='sda' bus='sata'/><readonly/></disk>
            <serial type='pty'><target port='0'/></serial>
            <console type='pty'><target type='serial' port='0'/></console>
            <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'/>
          </devices>
        </domain>
        """

    @Test func connections() async throws {
        try await withConsole { h in
            let list = try await h.get("/api/v1/connections")
            #expect(list.status == .ok)
            let local = try #require(list.array.first)
            #expect(local["id"] as? String == "local")
            #expect(local["connected"] as? Bool == true)
            #expect(local["local"] as? Bool == true)
            #expect(local["hypervisor"] as? String == "TEST")
            #expect((local["hostname"] as? String)?.isEmpty == false)

            let added = try await h.request(.post, "/api/v1/connections", json: ["uri": "test:///other", "readOnly": true])
            #expect(added.status == .created)
            #expect(added.object["id"] as? String == "c1")
            #expect(added.object["readOnly"] as? Bool == true)
            #expect(try await h.get("/api/v1/connections").array.count == 2)

            let bad = try await h.request(.post, "/api/v1/connections", json: ["uri": "nosuch:///x"])
            #expect(bad.status == .badGateway)
            #expect(bad.message.contains("nosuch:///x"))
            let noURI = try await h.request(.post, "/api/v1/connections", json: ["readOnly": true])
            #expect(noURI.status == .badRequest)
            #expect(noURI.message.contains("uri"))

            let host = try await h.get("/api/v1/connections/local/host")
            #expect(host.status == .ok)
            #expect(host.object["hypervisor"] as? String == "TEST")
            #expect((host.object["node"] as? [String: Any])?["cpus"] as? Int ?? 0 > 0)

            #expect(try await h.request(.delete, "/api/v1/connections/c1").status == .noContent)
            let gone = try await h.get("/api/v1/connections/c1/domains")
            #expect(gone.status == .notFound)
            #expect(gone.message == "no connection with id 'c1'")
            #expect(try await h.request(.delete, "/api/v1/connections/local").status == .conflict)
        }
    }

    @Test func domainsLifecycleAndXML() async throws {
        try await withConsole { h in
            let list = try await h.get("/api/v1/connections/local/domains")
            #expect(list.status == .ok)
            let test = try #require(list.array.first { $0["name"] as? String == "test" })
            #expect(test["state"] as? String == "running")
            #expect(test["id"] as? Int == 1)
            #expect(test["vcpus"] as? Int == 2)
            #expect(test["persistent"] as? Bool == true)
            #expect(test["graphics"] as? [Any] != nil)
            #expect(test["uuid"] as? String == "6695eb01-f6a4-8304-79aa-97f2502e193f")

            let missing = try await h.get("/api/v1/connections/local/domains/nosuch")
            #expect(missing.status == .notFound)
            #expect(missing.message == "Domain not found: no domain with matching name 'nosuch'")

            let bad = try await h.request(.post, "/api/v1/connections/local/domains", text: "<domain type='test'><name>x</name>")
            #expect(bad.status == .badRequest)
            #expect(bad.message.contains("XML error"))

            let created = try await h.request(.post, "/api/v1/connections/local/domains?start=1", text: Self.goodXML)
            #expect(created.status == .created)
            #expect(created.object["name"] as? String == "web1")
            #expect(created.object["state"] as? String == "running")
            #expect(created.object["serials"] as? Int == 1)
            let g = try #require((created.object["graphics"] as? [[String: Any]])?.first)
            #expect(g["type"] as? String == "vnc")
            #expect(g["autoport"] as? Bool == true)
            #expect(g["listen"] as? String == "127.0.0.1")

            // Lifecycle actions answer with the state after the call.
            for (action, state) in [("suspend", "paused"), ("resume", "running"), ("destroy", "shut off"), ("start", "running"),
                                    ("reboot", "running"), ("reset", "running"), ("shutdown", "shut off")] {
                let r = try await h.request(.post, "/api/v1/connections/local/domains/web1/\(action)")
                #expect(r.status == .ok, "\(action): \(r.text)")
                #expect(r.object["state"] as? String == state, "\(action)")
            }
            let off = try await h.get("/api/v1/connections/local/domains/web1")
            #expect(off.object["id"] as? Int == -1)
            let again = try await h.request(.post, "/api/v1/connections/local/domains/web1/resume")
            #expect(again.status == .conflict)
            #expect(again.message.contains("not"))
            let unknown = try await h.request(.post, "/api/v1/connections/local/domains/web1/explode")
            #expect(unknown.status == .notFound)
            #expect(unknown.message.contains("explode"))

            // XML: read, refuse bad edits with the parser's message, accept a good one.
            let xml = try await h.get("/api/v1/connections/local/domains/web1/xml")
            #expect(xml.status == .ok)
            #expect(xml.headers[.contentType]?.hasPrefix("application/xml") == true)
            #expect(xml.text.contains("<name>web1</name>"))
            #expect(try await h.get("/api/v1/connections/local/domains/web1/xml?inactive=1").text.contains("<name>web1</name>"))
            let broken = try await h.request(.put, "/api/v1/connections/local/domains/web1/xml", text: "<domain><name>web1</name><memory>x</memory></domain>")
            #expect(broken.status == .badRequest)
            #expect(!broken.message.isEmpty)
            let renamed = try await h.request(.put, "/api/v1/connections/local/domains/web1/xml", text: xml.text.replacingOccurrences(of: "<name>web1</name>", with: "<name>web2</name>"))
            #expect(renamed.status == .badRequest)
            #expect(renamed.message.contains("web2"))
            let edited = try await h.request(.put, "/api/v1/connections/local/domains/web1/xml",
                                             text: xml.text.replacingOccurrences(of: "<vcpu placement='static'>1</vcpu>", with: "<vcpu placement='static'>3</vcpu>"))
            #expect(edited.status == .ok, "\(edited.text)")
            #expect(edited.object["vcpus"] as? Int == 3)

            #expect(try await h.request(.delete, "/api/v1/connections/local/domains/web1").status == .noContent)
            #expect(try await h.get("/api/v1/connections/local/domains/web1").status == .notFound)
        }
    }

    @Test func statsDevicesInterfaces() async throws {
        try await withConsole { h in
            let stats = try await h.get("/api/v1/connections/local/domains/test/stats")
            #expect(stats.status == .ok)
            #expect(stats.object["time"] as? Int ?? 0 > 1_700_000_000_000)
            #expect(stats.object["vcpus"] as? Int == 2)
            #expect(stats.object["maxMemoryKiB"] as? Int == 8_388_608)
            #expect(stats.object["disks"] is [Any])
            #expect(stats.object["nets"] is [Any])

            let devices = try await h.get("/api/v1/connections/local/domains/test/devices")
            #expect(devices.status == .ok)
            let rows = devices.array
            let disk = try #require(rows.first { $0["kind"] as? String == "disk" })
            #expect(disk["summary"] as? String == "disk vda virtio /guest/diskimage1")
            #expect((disk["xml"] as? String)?.hasPrefix("<disk type='file' device='disk'>") == true)
            let nic = try #require(rows.first { $0["kind"] as? String == "interface" })
            #expect((nic["summary"] as? String)?.hasPrefix("interface network default") == true)
            #expect((nic["summary"] as? String)?.hasSuffix("aa:bb:cc:dd:ee:ff") == true)
            #expect(rows.contains { $0["kind"] as? String == "memballoon" })
            #expect(!rows.contains { $0["kind"] as? String == "emulator" })

            let ifaces = try await h.get("/api/v1/connections/local/domains/test/interfaces")
            #expect(ifaces.status == .ok)
            let first = try #require(ifaces.array.first)
            #expect(first["hwaddr"] as? String == "aa:bb:cc:dd:ee:ff")
            #expect(((first["addrs"] as? [[String: Any]])?.first)?["addr"] as? String == "192.168.122.3")
            #expect(try await h.get("/api/v1/connections/local/domains/test/interfaces?source=magic").status == .badRequest)

            // The test driver has no device hot-plug or storage: libvirt's "not supported" -> 501.
            let attach = try await h.request(.post, "/api/v1/connections/local/domains/test/devices",
                                             json: ["xml": "<disk type='file' device='disk'><source file='/x.img'/><target dev='vdb'/></disk>"])
            #expect(attach.status == .notImplemented)
            #expect(try await h.get("/api/v1/connections/local/pools").status == .notImplemented)
            let noXML = try await h.request(.post, "/api/v1/connections/local/domains/test/devices", json: ["live": true])
            #expect(noXML.status == .badRequest)
            #expect(noXML.message.contains("xml"))
        }
    }

    @Test func errorsAndLimits() async throws {
        try await withConsole { h in
            let unknown = try await h.get("/api/v1/nothing/here")
            #expect(unknown.status == .notFound)
            #expect(unknown.headers[.contentType]?.hasPrefix("application/json") == true)
            #expect(unknown.message.contains("/api/v1/nothing/here"))
            let wrongMethod = try await h.request(.patch, "/api/v1/connections")
            #expect(wrongMethod.status == .notFound)
            #expect(!wrongMethod.message.isEmpty)

            // 1 MiB of XML is the limit; past it the body is refused, not buffered.
            let huge = "<domain>" + String(repeating: "x", count: APIRoutes.maxBodyBytes + 10) + "</domain>"
            let big = try await h.request(.post, "/api/v1/connections/local/domains", text: huge)
            #expect(big.status == .contentTooLarge)
            #expect(big.message.contains("larger than"))
            let bigJSON = try await h.request(.post, "/api/v1/connections", json: ["uri": String(repeating: "y", count: APIRoutes.maxBodyBytes)])
            #expect(bigJSON.status == .contentTooLarge)
            let notJSON = try await h.request(.post, "/api/v1/connections", text: "uri=x")
            #expect(notJSON.status == .badRequest)
            #expect(notJSON.message.contains("JSON"))

            // Percent-encoded names (the pages use encodeURIComponent).
            let created = try await h.request(.post, "/api/v1/connections/local/domains",
                                              text: Self.goodXML.replacingOccurrences(of: "<name>web1</name>", with: "<name>my guest</name>"))
            #expect(created.status == .created)
            #expect(try await h.get("/api/v1/connections/local/domains/my%20guest").object["name"] as? String == "my guest")
        }
    }

    /// Every mutating endpoint answers 403 with libvirt's read-only message; reads still work.
    @Test func readOnlyConnection() async throws {
        try await withConsole(local: ReadOnlyDriver(TestDriver())) { h in
            let d = "/api/v1/connections/local/domains"
            #expect(try await h.get(d).status == .ok)
            #expect(try await h.get("\(d)/test").status == .ok)
            #expect(try await h.get("\(d)/test/xml").status == .ok)
            #expect(try await h.get("\(d)/test/stats").status == .ok)
            #expect(try await h.get("\(d)/test/devices").status == .ok)
            #expect(try await h.get("\(d)/test/interfaces").status == .ok)
            #expect(try await h.get("/api/v1/connections/local/host").status == .ok)

            let dev = ["xml": "<disk type='file' device='cdrom'><target dev='sdb' bus='sata'/></disk>"]
            let xml = try await h.get("\(d)/test/xml").text
            var calls: [(HTTPRequest.Method, String, Any?, String?)] = [
                (.post, d, nil, APITestDriverTests.goodXML),
                (.put, "\(d)/test/xml", nil, xml),
                (.delete, "\(d)/test", nil, nil),
                (.delete, "\(d)/test?storage=1", nil, nil),
                (.post, "\(d)/test/devices", dev, nil),
                (.post, "\(d)/test/devices/detach", dev, nil),
                (.put, "\(d)/test/devices", dev, nil),
            ]
            for action in APIDomains.actions { calls.append((.post, "\(d)/test/\(action)", nil, nil)) }
            for (method, path, json, text) in calls {
                let r = try await h.request(method, path, json: json, text: text)
                #expect(r.status == .forbidden, "\(method) \(path): \(r.status) \(r.text)")
                #expect(r.message.contains("read only access prevents"), "\(method) \(path)")
            }
            // Still there, still running.
            #expect(try await h.get("\(d)/test").object["state"] as? String == "running")
        }
    }
}
