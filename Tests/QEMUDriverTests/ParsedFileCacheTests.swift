import Foundation
import Testing
import DomainXML
import Hypervisor
@testable import QEMUDriver

/// The driver caches parsed configs; another process's changes must still show at once,
/// whether they land within the file clock's tick (racy) or long after (settled).
@Suite(.serialized) struct ParsedFileCacheTests {
    func memory(_ d: QEMUDriver, _ name: String) async throws -> UInt64 {
        try await d.domainInfo(try await d.lookupDomain(name: name)).maxMemKiB
    }

    @Test func changesByAnotherProcessAreSeenAtOnce() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let mine = try root.driver(), other = try root.driver()
        _ = try await mine.defineDomain(xml: biosOnlyXML("a"), validate: true)
        #expect(try await mine.listAllDomains(flags: []).map(\.name) == ["a"])

        // Within the same tick as the last write: nothing may be served from the cache.
        let uuidA = try await mine.lookupDomain(name: "a").uuid.uuidString
        _ = try await other.defineDomain(xml: biosOnlyXML("a", uuid: uuidA).replacingOccurrences(of: "32</memory>", with: "48</memory>"), validate: true)
        _ = try await other.defineDomain(xml: biosOnlyXML("b"), validate: true)
        #expect(try await mine.listAllDomains(flags: []).map(\.name) == ["a", "b"])
        #expect(try await memory(mine, "a") == 48 * 1024)

        // Long after: the cache is trusted, and still a rename by another process shows.
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await memory(mine, "a") == 48 * 1024)
        _ = try await other.defineDomain(xml: biosOnlyXML("a", uuid: uuidA).replacingOccurrences(of: "32</memory>", with: "64</memory>"), validate: true)
        #expect(try await memory(mine, "a") == 64 * 1024)
        try await Task.sleep(for: .milliseconds(300))
        try await other.undefineDomain(try await other.lookupDomain(name: "b"), flags: 0)
        #expect(try await mine.listAllDomains(flags: []).map(\.name) == ["a"])
        await #expect(throws: VirError.self) { try await mine.lookupDomain(name: "b") }
    }
}
