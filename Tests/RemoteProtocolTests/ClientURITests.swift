import Foundation
import Hypervisor
import Testing
@testable import RemoteProtocol

@Suite struct ClientURITests {
    func endpoint(_ uri: String, readOnly: Bool = false, env: [String: String] = ["HOME": "/home/u"]) throws -> RemoteEndpoint {
        try RemoteEndpoint(uri: try ConnectionURI(parsing: uri), readOnly: readOnly, environment: env)
    }

    @Test func localDaemons() throws {
        #expect(try endpoint("qemu:///system") == RemoteEndpoint(transport: .unix(path: "/run/corral/libvirt-sock"),
                                                                 name: "qemu:///system", mayAutostartSession: false))
        #expect(try endpoint("qemu:///system", readOnly: true).transport == .unix(path: "/run/corral/libvirt-sock-ro"))
        let session = try endpoint("qemu:///session", env: ["HOME": "/home/u", "XDG_RUNTIME_DIR": "/run/user/1000"])
        #expect(session == RemoteEndpoint(transport: .unix(path: "/run/user/1000/corral/libvirt-sock"),
                                          name: "qemu:///session", mayAutostartSession: true))
        #expect(try endpoint("qemu:///session").transport == .unix(path: "/home/u/.cache/corral/libvirt-sock"))
    }

    @Test func explicitTransports() throws {
        let unix = try endpoint("qemu+unix:///system?socket=/tmp/x/libvirt-sock")
        #expect(unix == RemoteEndpoint(transport: .unix(path: "/tmp/x/libvirt-sock"), name: "qemu:///system", mayAutostartSession: false))
        #expect(try endpoint("qemu+tcp://example.org/system") == RemoteEndpoint(transport: .tcp(host: "example.org", port: 16509),
                                                                                name: "qemu:///system", mayAutostartSession: false))
        #expect(try endpoint("qemu+tcp://127.0.0.1:16600/session").transport == .tcp(host: "127.0.0.1", port: 16600))
        #expect(try endpoint("qemu+tcp:///system").transport == .tcp(host: "localhost", port: 16509))
        #expect(try endpoint("qemu+ext:///system?command=/usr/local/bin/bridge").transport == .command(["/usr/local/bin/bridge"]))
        // Parameters the client does not consume travel to the server; `name` overrides.
        #expect(try endpoint("qemu+tcp://h/system?socket=/s&foo=bar").name == "qemu:///system?foo=bar")
        #expect(try endpoint("qemu+tcp://h/system?name=qemu:///session").name == "qemu:///session")
    }

    @Test func sshCommandLine() throws {
        #expect(try endpoint("qemu+ssh://root@host.example/system").transport
                == .command(["ssh", "-T", "-e", "none", "--", "root@host.example", "nc", "-U", "/run/corral/libvirt-sock"]))
        #expect(try endpoint("qemu+ssh://host:2222/system", readOnly: true).transport
                == .command(["ssh", "-p", "2222", "-T", "-e", "none", "--", "host", "nc", "-U", "/run/corral/libvirt-sock-ro"]))
        #expect(try endpoint("qemu+ssh://u@h/system?keyfile=/k&no_verify=1&no_tty=1&netcat=/bin/nc.openbsd&socket=/my sock").transport
                == .command(["ssh", "-i", "/k", "-o", "StrictHostKeyChecking=no", "-o", "BatchMode=yes", "-T", "-e", "none", "--",
                             "u@h", "/bin/nc.openbsd", "-U", "'/my sock'"]))
        // The session socket is the remote user's, expanded by the remote shell.
        #expect(try endpoint("qemu+ssh://h/session").transport
                == .command(["ssh", "-T", "-e", "none", "--", "h", "nc", "-U", "\"${XDG_RUNTIME_DIR:-$HOME/.cache}/corral/libvirt-sock\""]))
    }

    @Test func unsupportedTransportsAndMissingParts() {
        for (uri, code) in [("qemu://host/system", VirError.Code.noSupport), ("qemu+tls://host/system", .noSupport),
                            ("qemu+libssh2://h/system", .noSupport), ("qemu+ssh:///system", .invalidArg),
                            ("qemu+ext:///system", .invalidArg), ("qemu+unix:///other", .invalidArg),
                            ("qemu+unix://host/system", .invalidArg)] {
            do {
                _ = try endpoint(uri)
                Issue.record("accepted \(uri)")
            } catch let error as VirError {
                #expect(error.code == code, "\(uri): \(error)")
            } catch {
                Issue.record("\(uri): \(error)")
            }
        }
    }
}
