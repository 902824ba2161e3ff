import Foundation
import Testing
@testable import DomainXML

// Robustness: mangled documents must be rejected or accepted, never crash or hang.
// For longer campaigns the same property runs under libFuzzer: Fuzz/run-domainxml.sh [seconds].

/// A small deterministic generator (SplitMix64), so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Parses, and when that succeeds also formats, applies defaults and re-parses: all must hold up,
/// and formatting must be a fixed point even for odd documents the parser accepted.
private func exercise(_ text: String) {
    guard var d = try? Domain(xml: text) else { return }
    let xml = d.formatXML([.secure])
    guard let again = try? Domain(xml: xml) else {
        Issue.record("formatted output does not parse again:\n\(xml)")
        return
    }
    #expect(again.formatXML([.secure]) == xml, "not idempotent for input:\n\(text)")
    d.applyDefaults()
    _ = d.formatXML(.inactive)
}

@Suite struct FuzzTests {
    @Test(arguments: Golden.cases + Golden.errorCases)
    func everyPrefix(_ name: String) throws {
        let bytes = Array(try Golden.read("\(name).xml").utf8)
        let step = max(1, bytes.count / 400)
        for n in stride(from: 0, through: bytes.count, by: step) {
            exercise(String(decoding: bytes[..<n], as: UTF8.self))
        }
    }

    @Test(arguments: Golden.cases)
    func randomMutations(_ name: String) throws {
        let original = Array(try Golden.read("\(name).xml").utf8)
        var rng = SplitMix64(state: UInt64(name.utf8.reduce(7) { $0 &* 31 &+ UInt64($1) }))
        let interesting: [UInt8] = Array("<>/&;'\"=!?-[]# \n\0x".utf8) + [0xFF, 0xC3]
        for _ in 0..<300 {
            var b = original
            for _ in 0..<Int.random(in: 1...8, using: &rng) where !b.isEmpty {
                let i = Int.random(in: 0..<b.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: b[i] = UInt8.random(in: 0...255, using: &rng)
                case 1: b[i] = interesting.randomElement(using: &rng) ?? 0
                case 2: b.remove(at: i)
                default: b.insert(contentsOf: b[i..<min(b.count, i + 16)], at: i)
                }
            }
            exercise(String(decoding: b, as: UTF8.self))
        }
    }

    @Test func pathologicalShapes() {
        let shapes = [
            "", "<", "<<<<", "</domain>", "<domain", "<domain type='qemu'", "<domain type='qemu'/>",
            "<domain type='qemu' type='kvm'/>", "<domain type=qemu/>", "<domain type='qemu>",
            "<?xml", "<!--", "<![CDATA[", "<domain>&", "<domain>&#xFFFFFFFF;</domain>", "<domain>&#;</domain>",
            "<domain type='qemu'><name>x</name></domain><domain/>",
            String(repeating: "<a>", count: 100_000),
            "<domain type='qemu' " + String(repeating: "a", count: 1 << 20) + "='1'/>",
            "<domain type='qemu'><name>" + String(repeating: "&amp;", count: 200_000) + "</name></domain>",
            "<domain " + (0..<5000).map { "a\($0)='\($0)'" }.joined(separator: " ") + "/>",
        ]
        for s in shapes { exercise(s) }
    }
}
