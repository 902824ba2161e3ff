import Foundation
import Hummingbird
import NIOCore
import Testing
@testable import WebConsole

@Suite struct AccessControlTests {
    @Test func tokenCompareAndLoopback() throws {
        #expect(AccessControl.constantTimeEqual("secret", "secret"))
        #expect(!AccessControl.constantTimeEqual("secret", "secreT"))
        #expect(!AccessControl.constantTimeEqual("secret", "secret2"))
        #expect(!AccessControl.constantTimeEqual("", "x"))
        #expect(AccessControl.isLoopback(try SocketAddress(ipAddress: "127.0.0.1", port: 1)))
        #expect(AccessControl.isLoopback(try SocketAddress(ipAddress: "127.8.9.10", port: 1)))
        #expect(AccessControl.isLoopback(try SocketAddress(ipAddress: "::1", port: 1)))
        #expect(AccessControl.isLoopback(try SocketAddress(ipAddress: "::ffff:127.0.0.1", port: 1)))
        #expect(!AccessControl.isLoopback(try SocketAddress(ipAddress: "10.0.0.1", port: 1)))
        #expect(!AccessControl.isLoopback(try SocketAddress(ipAddress: "fe80::1", port: 1)))
        #expect(!AccessControl.isLoopback(nil))
        for name in ["127.0.0.1:8080", "localhost", "LOCALHOST:1", "[::1]:8080", "127.1.2.3"] {
            #expect(AccessControl.isLoopbackName(name), "\(name)")
        }
        // A name rebound to 127.0.0.1 by its DNS (rebinding) is not a loopback name.
        for name in ["evil.example:8080", "127.0.0.1.evil.example", "[::2]:80", "127.0.0:80", "[::1"] {
            #expect(!AccessControl.isLoopbackName(name), "\(name)")
        }
    }

    @Test func origins() {
        #expect(AccessControl.sameOrigin("http://127.0.0.1:8080", "127.0.0.1:8080"))
        #expect(AccessControl.sameOrigin("ws://127.0.0.1", "127.0.0.1:8080"))
        #expect(AccessControl.sameOrigin("http://[::1]:8080", "[::1]:8080"))
        #expect(!AccessControl.sameOrigin("http://127.0.0.1:3000", "127.0.0.1:8080"))
        #expect(!AccessControl.sameOrigin("http://127.0.0.1", "127.0.0.1:8080"))
        #expect(!AccessControl.sameOrigin("null", "127.0.0.1:8080"))
        #expect(!AccessControl.sameOrigin("http://evil.example:8080", "127.0.0.1:8080"))
    }

    @Test func crossSiteRequestsRefused() async throws {
        try await withConsole { h in
            // Another site's page in the user's browser: its fetch or WebSocket carries its Origin.
            let r = try await h.get("/api/v1/connections", headers: [.origin: "http://evil.example"])
            #expect(r.status == .unauthorized)
            #expect(r.message.contains("cross-site"))
            #expect(try await h.get("/api/v1/connections").status == .ok)
        }
    }

    @Test func tokenRequiredEverywhere() async throws {
        try await withConsole(token: "s3cret-Token") { h in
            for path in ["/api/v1/connections", "/", "/js/app.js", "/api/v1/openapi.json", "/metrics", "/api/v1/nosuch"] {
                let r = try await h.get(path)
                #expect(r.status == .unauthorized, "\(path)")
                #expect(r.message.contains("token"), "\(path)")
            }
            let wrong = try await h.get("/api/v1/connections", headers: [.authorization: "Bearer s3cret-Tokem"])
            #expect(wrong.status == .unauthorized)
            #expect(try await h.get("/api/v1/connections?token=nope").status == .unauthorized)
            #expect(try await h.get("/api/v1/connections", headers: [.cookie: "corral_token=nope"]).status == .unauthorized)

            #expect(try await h.get("/api/v1/connections", headers: [.authorization: "Bearer s3cret-Token"]).status == .ok)
            #expect(try await h.get("/api/v1/connections", headers: [.cookie: "other=1; corral_token=s3cret-Token"]).status == .ok)
            // ?token= on the page sets the cookie the page's own script loads then carry.
            let page = try await h.get("/?token=s3cret-Token")
            #expect(page.status == .ok)
            let setCookie = try #require(page.headers[.setCookie])
            #expect(setCookie.hasPrefix("corral_token=s3cret-Token;"))
            #expect(setCookie.contains("HttpOnly"))
            #expect(try await h.get("/js/app.js", headers: [.cookie: "corral_token=s3cret-Token"]).status == .ok)

            // The WebSocket router is behind the same gate: no upgrade without the token.
            let ws = try await h.get("/api/v1/events", headers: [
                .connection: "Upgrade", .upgrade: "websocket", .secWebSocketVersion: "13",
                .secWebSocketKey: "dGhlIHNhbXBsZSBub25jZQ==",
            ])
            #expect(ws.status != .switchingProtocols && ws.status.code >= 400)
        }
    }

    /// The first non-loopback IPv4 address of this machine, if it has one.
    static let externalAddress: String? = {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return nil }
        defer { freeifaddrs(list) }
        var p: UnsafeMutablePointer<ifaddrs>? = first
        while let cur = p {
            if let sa = cur.pointee.ifa_addr, sa.pointee.sa_family == sa_family_t(AF_INET) {
                var buf = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
                let ok = sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin -> Bool in
                    var a = sin.pointee.sin_addr
                    return inet_ntop(AF_INET, &a, &buf, socklen_t(buf.count)) != nil
                }
                let s = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if ok, !s.hasPrefix("127.") { return s }
            }
            p = cur.pointee.ifa_next
        }
        return nil
    }()

    @Test(.enabled(if: externalAddress != nil, "needs a non-loopback address"))
    func nonLoopbackPeers() async throws {
        let ext = try #require(Self.externalAddress)
        // No token: loopback is served, the same request from another address is not.
        try await withConsole(host: "0.0.0.0") { h in
            #expect(try await h.get("/api/v1/connections").status == .ok)
            let r = try await h.request(.get, "/api/v1/connections", connectTo: ext)
            #expect(r.status == .unauthorized)
            #expect(r.message.contains("local host"))
        }
        // With a token, other addresses are served when they carry it.
        try await withConsole(token: "tok", host: "0.0.0.0") { (h: ConsoleHarness) async throws in
            #expect(try await h.request(.get, "/api/v1/connections", connectTo: ext).status == .unauthorized)
            #expect(try await h.request(.get, "/api/v1/connections", headers: [.authorization: "Bearer tok"], connectTo: ext).status == .ok)
        }
    }
}

@Suite struct StaticRoutesTests {
    @Test func filesTypesAndTraversal() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("static-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let web = root + "/web", vendor = root + "/vendor/novnc"
        for dir in [web + "/js", web + "/css", vendor + "/core"] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        let files = [web + "/index.html": "<!doctype html>", web + "/js/app.js": "1", web + "/js/m.mjs": "2",
                     web + "/css/a.css": "b{}", web + "/i.svg": "<svg/>", web + "/p.png": "png", web + "/x.wasm": "w",
                     web + "/openapi.json": "{\"openapi\":\"3.0.3\"}", vendor + "/core/rfb.js": "export default 1",
                     root + "/secret.txt": "top secret"]
        for (path, text) in files { try text.write(toFile: path, atomically: true, encoding: .utf8) }

        try await withConsole(webDir: web, vendorDirs: ["novnc": vendor]) { h in
            let index = try await h.get("/")
            #expect(index.status == .ok)
            #expect(index.text == "<!doctype html>")
            #expect(index.headers[.contentType] == "text/html; charset=utf-8")
            for (path, type) in [("/js/app.js", "text/javascript; charset=utf-8"), ("/js/m.mjs", "text/javascript; charset=utf-8"),
                                 ("/css/a.css", "text/css; charset=utf-8"), ("/i.svg", "image/svg+xml"), ("/p.png", "image/png"),
                                 ("/x.wasm", "application/wasm"), ("/api/v1/openapi.json", "application/json; charset=utf-8"),
                                 ("/vendor/novnc/core/rfb.js", "text/javascript; charset=utf-8")] {
                let r = try await h.get(path)
                #expect(r.status == .ok, "\(path)")
                #expect(r.headers[.contentType] == type, "\(path)")
            }
            #expect(try await h.get("/api/v1/openapi.json").text.contains("3.0.3"))
            #expect(try await h.request(.head, "/js/app.js").headers[.contentLength] == "1")
            #expect(try await h.get("/nosuch.js").status == .notFound)
            #expect(try await h.get("/js").status == .notFound)
            #expect(try await h.get("/vendor/nosuch/x.js").status == .notFound)
            #expect(try await h.request(.post, "/js/app.js").status == .methodNotAllowed)

            for path in ["/../secret.txt", "/%2e%2e/secret.txt", "/js/%2e%2e/%2e%2e/secret.txt", "/js/..%2f..%2fsecret.txt",
                         "/vendor/novnc/../../../secret.txt", "/vendor/novnc/%2E%2E/%2E%2E/%2E%2E/secret.txt",
                         "/vendor/%2e%2e/secret.txt", "/./index.html%00"] {
                let r = try await h.get(path)
                #expect(r.status == .notFound, "\(path)")
                #expect(!r.text.contains("top secret"), "\(path)")
            }
        }
    }

    @Test func openAPIDocumentDescribesEveryEndpoint() throws {
        let data = try Data(contentsOf: TestPaths.packageRoot.appendingPathComponent("Web/openapi.json"))
        let doc = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(doc["openapi"] as? String == "3.0.3")
        let paths = try #require(doc["paths"] as? [String: Any])
        for p in ["/connections", "/connections/{conn}", "/connections/{conn}/host", "/connections/{conn}/domains",
                  "/connections/{conn}/domains/{name}", "/connections/{conn}/domains/{name}/{action}",
                  "/connections/{conn}/domains/{name}/xml", "/connections/{conn}/domains/{name}/stats",
                  "/connections/{conn}/domains/{name}/devices", "/connections/{conn}/domains/{name}/devices/detach",
                  "/connections/{conn}/domains/{name}/interfaces", "/connections/{conn}/domains/{name}/vnc",
                  "/connections/{conn}/domains/{name}/serial", "/connections/{conn}/domains/{name}/spice",
                  "/connections/{conn}/pools", "/connections/{conn}/pools/{pool}", "/connections/{conn}/pools/{pool}/{action}",
                  "/connections/{conn}/pools/{pool}/volumes", "/connections/{conn}/pools/{pool}/volumes/{vol}",
                  "/connections/{conn}/pools/{pool}/volumes/{vol}/content", "/connections/{conn}/networks",
                  "/connections/{conn}/networks/{net}", "/connections/{conn}/networks/{net}/{action}",
                  "/connections/{conn}/networks/{net}/leases", "/osinfo", "/osinfo/{id}", "/connections/{conn}/guests",
                  "/events", "/metrics", "/openapi.json"] {
            #expect(paths[p] != nil, "\(p)")
        }
        // Every $ref points at a schema that exists.
        let schemas = try #require((doc["components"] as? [String: Any])?["schemas"] as? [String: Any])
        let text = String(decoding: data, as: UTF8.self)
        let refs = text.components(separatedBy: "\"#/components/schemas/").dropFirst().map { String($0.prefix { $0 != "\"" }) }
        #expect(!refs.isEmpty)
        for r in Set(refs) { #expect(schemas[r] != nil, "\(r)") }
    }
}
