import Foundation
import Testing
@testable import Hypervisor

@Suite struct ConnectionURITests {
    @Test func localSystem() throws {
        let u = try ConnectionURI(parsing: "qemu:///system")
        #expect(u.driver == "qemu")
        #expect(u.transport == nil && u.host == nil && u.user == nil && u.port == nil)
        #expect(u.path == "/system")
        #expect(u.params.isEmpty)
        #expect(!u.isRemote)
    }

    @Test func sessionAndTest() throws {
        #expect(try ConnectionURI(parsing: "qemu:///session").path == "/session")
        let t = try ConnectionURI(parsing: "test:///default")
        #expect(t.driver == "test" && t.path == "/default" && !t.isRemote)
    }

    @Test func embedRootIsPercentDecoded() throws {
        let u = try ConnectionURI(parsing: "qemu:///embed?root=/tmp/my%20vms%2Fx&debug")
        #expect(u.path == "/embed")
        #expect(u[param: "root"] == "/tmp/my vms/x")
        #expect(u[param: "debug"] == "")
        #expect(u[param: "missing"] == nil)
    }

    @Test func unixSocketParam() throws {
        let u = try ConnectionURI(parsing: "qemu+unix:///system?socket=/run/corral/sock")
        #expect(u.driver == "qemu" && u.transport == "unix")
        #expect(u.host == nil && u.path == "/system")
        #expect(u[param: "socket"] == "/run/corral/sock")
        #expect(u.isRemote)
    }

    @Test func tcpHostPort() throws {
        let u = try ConnectionURI(parsing: "qemu+tcp://example.org:16509/system")
        #expect(u.transport == "tcp" && u.host == "example.org" && u.port == 16509 && u.path == "/system")
    }

    @Test func sshUserHost() throws {
        let u = try ConnectionURI(parsing: "qemu+ssh://root@host.lan/system?keyfile=%7E%2F.ssh%2Fid&no_verify=1")
        #expect(u.transport == "ssh" && u.user == "root" && u.host == "host.lan" && u.port == nil)
        #expect(u[param: "keyfile"] == "~/.ssh/id")
        #expect(u[param: "no_verify"] == "1")
        #expect(u.params.map(\.name) == ["keyfile", "no_verify"])
    }

    @Test func ipv6Host() throws {
        let u = try ConnectionURI(parsing: "qemu+tcp://[::1]:1234/system")
        #expect(u.host == "::1" && u.port == 1234)
    }

    @Test func hostWithoutTransportIsRemote() throws {
        #expect(try ConnectionURI(parsing: "qemu://host/system").isRemote)
    }

    @Test(arguments: ["", "qemu", "://x", "qemu+:///system", "qemu+tcp://h:99999/system", "qemu:///embed?root=%zz",
                      "qemu+tcp://[::1/system", "1qemu:///system"])
    func rejects(_ text: String) {
        #expect(throws: VirError.self) { try ConnectionURI(parsing: text) }
    }

    @Test func defaultURIOrder() {
        #expect(ConnectionURI.defaultURI(environment: [:]) == "qemu:///session")
        #expect(ConnectionURI.defaultURI(environment: ["LIBVIRT_DEFAULT_URI": "test:///default"]) == "test:///default")
        #expect(ConnectionURI.defaultURI(environment: ["LIBVIRT_DEFAULT_URI": "test:///default",
                                                       "CORRAL_DEFAULT_URI": "qemu:///system"]) == "qemu:///system")
        #expect(ConnectionURI.defaultURI(environment: ["CORRAL_DEFAULT_URI": ""]) == "qemu:///session")
    }
}
