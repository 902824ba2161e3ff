import Foundation
import Testing
@testable import corrald

@Suite struct CorraldOptionTests {
    @Test func rootKeepsEverythingUnderIt() throws {
        let l = try Layout.make(root: "/srv/c/")
        #expect(l.stateRoot == "/srv/c")
        #expect(l.socket == "/srv/c/run/libvirt-sock" && l.readOnlySocket == "/srv/c/run/libvirt-sock-ro")
        #expect(l.pidFile == "/srv/c/run/corrald.pid")
    }

    @Test func defaultPathsFollowPrivilege() throws {
        let l = try Layout.make(root: nil, environment: ["HOME": "/home/u", "XDG_RUNTIME_DIR": "/run/user/1000"])
        if geteuid() == 0 {
            #expect(l.stateRoot == "/var/lib/corral" && l.socket == "/run/corral/libvirt-sock" && l.uri == "qemu:///system")
        } else {
            #expect(l.stateRoot == "/home/u/.local/share/corral" && l.socket == "/run/user/1000/corral/libvirt-sock")
            #expect(l.readOnlySocket == nil && l.uri == "qemu:///session")
        }
    }

    @Test func listenAddresses() throws {
        #expect(try Corrald.parseListen("127.0.0.1:16509", allowAny: false) == ("127.0.0.1", 16509))
        #expect(try Corrald.parseListen("[::1]:1", allowAny: false) == ("::1", 1))
        #expect(throws: (any Error).self) { try Corrald.parseListen("0.0.0.0:16509", allowAny: false) }
        #expect(try Corrald.parseListen("0.0.0.0:16509", allowAny: true) == ("0.0.0.0", 16509))
        #expect(throws: (any Error).self) { try Corrald.parseListen("localhost", allowAny: false) }
        #expect(throws: (any Error).self) { try Corrald.parseListen("127.0.0.1:70000", allowAny: false) }
    }
}
