import DomainXML
import Foundation
import QEMUDriver
import Testing

// libvirt qemuxml2argv-style golden tests: Tests/Golden/NAME.args holds the expected argv,
// one argument per line. CORRAL_REGENERATE_GOLDEN=1 rewrites the .args files instead.

enum Golden {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Golden")
    static let caps = QEMUCapabilities(version: [7, 2, 0], machines: ["pc", "pc-i440fx-7.2", "q35", "pc-q35-7.2"],
                                       defaultMachine: "pc-i440fx-7.2", devices: [])
    static func context(_ name: String) -> QEMULaunchContext {
        QEMULaunchContext(domainDir: "/var/run/corral/qemu/\(name)", logDir: "/var/log/corral/qemu", accel: "tcg")
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
    @Test(arguments: ArgvCases.all.keys.sorted())
    func modelCase(_ name: String) throws {
        let domain = try #require(ArgvCases.all[name])
        try Golden.check(name, try QEMUCommandLine.build(domain, context: Golden.context(name), caps: Golden.caps))
    }

    @Test func xmlCases() throws {
        for name in Golden.xmlCases() {
            let xml = try String(contentsOf: Golden.dir.appendingPathComponent("\(name).xml"), encoding: .utf8)
            var domain = try Domain(xml: xml)
            domain.applyDefaults()
            try Golden.check(name, try QEMUCommandLine.build(domain, context: Golden.context(name), caps: Golden.caps))
        }
    }
}
