import DomainXML
import Foundation
import QEMUDriver
import Testing

// libvirt qemuxml2argv-style golden tests: Tests/Golden/NAME.args holds the expected argv,
// one argument per line. CORRAL_REGENERATE_GOLDEN=1 rewrites the .args files instead.

enum Golden {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Golden")
    /// Fixed capabilities: empty machine and device lists mean nothing is checked against the binary
    /// (inputs may name machine types newer than the installed QEMU).
    static let caps = QEMUCapabilities(version: [7, 2, 0], machines: [], defaultMachine: "pc-i440fx-7.2", devices: [])
    /// accel is tcg, or kvm for `<domain type='kvm'>` (as the driver passes on a KVM-capable host);
    /// graphics with autoport get the ports the driver would allocate first; the start time is fixed.
    static func context(_ name: String, domainType: String = "qemu") -> QEMULaunchContext {
        var context = QEMULaunchContext(domainDir: "/var/run/corral/qemu/\(name)", logDir: "/var/log/corral/qemu",
                                        accel: domainType == "kvm" ? "kvm" : "tcg")
        context.graphicsPorts = [0: 5900, 1: 5901]
        context.startTime = Date(timeIntervalSince1970: 1_700_000_000)   // 2023-11-14T22:13:20Z
        return context
    }
    static var regenerate: Bool { ProcessInfo.processInfo.environment["CORRAL_REGENERATE_GOLDEN"] == "1" }

    /// Compares `argv` with NAME.args (or rewrites it), reporting the first differing line.
    static func check(_ name: String, _ argv: [String]) throws {
        let url = dir.appendingPathComponent("\(name).args")
        let actual = argv.joined(separator: "\n") + "\n"
        if regenerate {
            try actual.write(to: url, atomically: true, encoding: .utf8)
            return
        }
        let expected = try String(contentsOf: url, encoding: .utf8)
        if expected != actual {
            let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
            let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
            let line = (0..<min(e.count, a.count)).first { e[$0] != a[$0] } ?? min(e.count, a.count)
            let want = line < e.count ? String(e[line]) : "<end>"
            let got = line < a.count ? String(a[line]) : "<end>"
            Issue.record("\(name).args differs at line \(line + 1):\n  expected: \(want)\n  actual:   \(got)")
        }
    }

    /// NAME for each NAME.xml that has a NAME.args beside it.
    static func xmlCases() -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return files.filter { $0.hasSuffix(".xml") && !$0.hasSuffix(".out.xml") }
            .map { String($0.dropLast(4)) }
            .filter { files.contains("\($0).args") }
            .sorted()
    }
}

@Suite struct GoldenArgvTests {
    @Test(arguments: Golden.xmlCases())
    func xmlCase(_ name: String) throws {
        let xml = try String(contentsOf: Golden.dir.appendingPathComponent("\(name).xml"), encoding: .utf8)
        var domain = try Domain(xml: xml)
        domain.applyDefaults()
        try Golden.check(name, try QEMUCommandLine.build(domain, context: Golden.context(name, domainType: domain.type), caps: Golden.caps))
    }
}
