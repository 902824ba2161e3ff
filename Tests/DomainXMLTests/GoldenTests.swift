import Foundation
import Testing
@testable import DomainXML

// libvirt-style data-driven tests: Tests/Golden/NAME.xml is parsed, given defaults and formatted
// (secure, as libvirt's qemuxml2xml does), and must equal NAME.out.xml. error-NAME.xml must fail
// with the message in error-NAME.err. Set CORRAL_UPDATE_GOLDEN=1 to (re)write expected files.
// The QEMU argv tests share the directory (NAME.args); a case with only NAME.args is argv-only.

enum Golden {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Golden")

    static var files: Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
    }

    /// Inputs that have an expected xml2xml output, or no expectation at all (a forgotten .out.xml fails).
    static var cases: [String] {
        let all = files
        return all.filter { $0.hasSuffix(".xml") && !$0.hasSuffix(".out.xml") && !$0.hasPrefix("error-") }
            .map { String($0.dropLast(4)) }
            .filter { all.contains("\($0).out.xml") || !all.contains("\($0).args") }
            .sorted()
    }

    static var errorCases: [String] {
        files.filter { $0.hasPrefix("error-") && $0.hasSuffix(".xml") }.map { String($0.dropLast(4)) }.sorted()
    }

    static func read(_ file: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
    }

    static var updating: Bool { ProcessInfo.processInfo.environment["CORRAL_UPDATE_GOLDEN"] == "1" }

    static func write(_ text: String, _ file: String) throws {
        try text.write(to: directory.appendingPathComponent(file), atomically: true, encoding: .utf8)
    }
}

/// A readable first difference between two texts, line by line.
func lineDiff(expected: String, actual: String) -> String {
    let e = expected.split(separator: "\n", omittingEmptySubsequences: false)
    let a = actual.split(separator: "\n", omittingEmptySubsequences: false)
    for i in 0..<max(e.count, a.count) {
        let el = i < e.count ? String(e[i]) : "<end of file>"
        let al = i < a.count ? String(a[i]) : "<end of file>"
        if el != al {
            return "first difference at line \(i + 1):\n- expected: \(el)\n+ actual:   \(al)\n--- actual output ---\n\(actual)"
        }
    }
    return "identical"
}

@Suite struct GoldenTests {
    @Test func casesExist() {
        #expect(Golden.cases.count >= 12)
        #expect(!Golden.errorCases.isEmpty)
    }

    @Test(arguments: Golden.cases)
    func xml2xml(_ name: String) throws {
        let input = try Golden.read("\(name).xml")
        var domain: Domain
        do { domain = try Domain(xml: input) } catch { Issue.record("\(name).xml: \(error)"); return }
        domain.applyDefaults()
        let actual = domain.formatXML([.secure])
        if Golden.updating { try Golden.write(actual, "\(name).out.xml"); return }
        let expected = try Golden.read("\(name).out.xml")
        #expect(actual == expected, "\(name): \(lineDiff(expected: expected, actual: actual))")
    }

    /// format(parse(out)) == out: formatting is a fixed point, and applying defaults twice changes nothing.
    @Test(arguments: Golden.cases)
    func roundTripIsIdempotent(_ name: String) throws {
        let expected = try Golden.read("\(name).out.xml")
        var domain = try Domain(xml: expected)
        #expect(domain.formatXML([.secure]) == expected, "\(name): \(lineDiff(expected: expected, actual: domain.formatXML([.secure])))")
        domain.applyDefaults()
        let again = domain.formatXML([.secure])
        #expect(again == expected, "\(name) defaults not idempotent: \(lineDiff(expected: expected, actual: again))")
        #expect(try Domain(xml: expected) == Domain(xml: again))
    }

    @Test(arguments: Golden.errorCases)
    func errors(_ name: String) throws {
        let input = try Golden.read("\(name).xml")
        do {
            _ = try Domain(xml: input)
            Issue.record("\(name).xml parsed but should fail")
        } catch {
            if Golden.updating { try Golden.write(error.message + "\n", "\(name).err"); return }
            let expected = try Golden.read("\(name).err").trimmingCharacters(in: .newlines)
            #expect(error.message == expected)
        }
    }
}
