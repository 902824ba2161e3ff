import Foundation
import Hypervisor
@testable import QEMUDriver
import Testing

@Suite struct KVMProbeTests {
    @Test func missingDeviceIsUnusable() {
        let result = KVMProbe.run(device: "/nonexistent/kvm")
        #expect(!result.usable)
        #expect(result.reason == "cannot open /nonexistent/kvm: No such file or directory")
    }

    @Test func acceleratorFollowsDomainTypeAndProbe() throws {
        let bad = KVMProbeResult(usable: false, reason: "cannot open /dev/kvm: No such file or directory")
        #expect(try KVMProbe.accelerator(for: "qemu", probe: bad) == "tcg")
        #expect(try KVMProbe.accelerator(for: "kvm", probe: KVMProbeResult(usable: true, reason: "ok")) == "kvm")
        let error = #expect(throws: VirError.self) { try KVMProbe.accelerator(for: "kvm", probe: bad) }
        #expect(error?.message.hasPrefix("KVM is not usable on this host: cannot open /dev/kvm") == true)
        #expect(throws: VirError.self) { try KVMProbe.accelerator(for: "xen", probe: bad) }
    }

    /// The real probe on this host: whatever it decides, it must say why, and agree with itself.
    @Test func realProbeGivesAReason() {
        let result = KVMProbe.result
        print("KVM probe: usable=\(result.usable) reason=\(result.reason)")
        #expect(result.usable == (result.reason == "ok"))
        #expect(KVMProbe.canRunGuests() == result.usable)
    }
}

@Suite struct KVMProbeCacheTests {
    @Test func resultIsCachedPerBoot() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("corral-kvm-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = KVMProbe.result(cacheDir: dir.path)
        #expect(first == KVMProbe.result)
        // A planted answer for this boot is what later processes get.
        let file = dir.appendingPathComponent("kvm-probe.json")
        let planted = try String(contentsOf: file, encoding: .utf8)
            .replacingOccurrences(of: first.reason.replacingOccurrences(of: "/", with: "\\/"), with: "planted")
        try planted.write(to: file, atomically: true, encoding: .utf8)
        #expect(KVMProbe.result(cacheDir: dir.path).reason == "planted")
        // Another boot's answer is ignored.
        let otherBoot = planted.replacingOccurrences(
            of: try String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
            with: "00000000-0000-0000-0000-000000000000")
        try otherBoot.write(to: file, atomically: true, encoding: .utf8)
        #expect(KVMProbe.result(cacheDir: dir.path) == first)
    }
}
