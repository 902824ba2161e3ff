import Foundation
import Hypervisor

/// The hosts the console manages: the daemon's own driver ("local") and connections the user
/// added by URI (virt-manager's connection list). Added ones are saved under the state directory
/// and reopened on first use, so a remote daemon that is down does not stop the console.
public actor ConnectionRegistry {
    public struct Info: Sendable, Codable, Equatable {
        public var id: String
        public var uri: String
        public var readOnly: Bool
        public var local: Bool
    }

    private struct Entry {
        var info: Info
        var driver: (any HypervisorDriver)?
    }

    private var entries: [String: Entry] = [:]
    private var order: [String] = []
    private var nextNumber = 1
    private let opener: ConnectionOpener
    private let storeFile: String?

    /// `storeFile` nil: added connections are not remembered (tests).
    public init(localURI: String, local: any HypervisorDriver, opener: @escaping ConnectionOpener, storeFile: String?) {
        self.opener = opener
        self.storeFile = storeFile
        entries["local"] = Entry(info: Info(id: "local", uri: localURI, readOnly: false, local: true), driver: local)
        order = ["local"]
        for saved in Self.load(storeFile) where entries[saved.id] == nil {
            entries[saved.id] = Entry(info: saved, driver: nil)
            order.append(saved.id)
            if saved.id.hasPrefix("c"), let n = Int(saved.id.dropFirst()) { nextNumber = max(nextNumber, n + 1) }
        }
    }

    public func list() -> [Info] { order.compactMap { entries[$0]?.info } }

    public func info(_ id: String) throws -> Info {
        guard let e = entries[id] else { throw Self.notFound(id) }
        return e.info
    }

    /// The connection's driver, opened now if it was saved or dropped.
    public func driver(_ id: String) async throws -> any HypervisorDriver {
        guard let e = entries[id] else { throw Self.notFound(id) }
        if let d = e.driver { return d }
        let d = try await opener(e.info.uri, e.info.readOnly)
        // Removed meanwhile, or another request opened it first: keep one driver, close the other.
        guard entries[id] != nil else { await d.close(); throw Self.notFound(id) }
        if let existing = entries[id]?.driver { await d.close(); return existing }
        entries[id]?.driver = d
        return d
    }

    /// Opens `uri` now (so a typo fails here, where the user typed it) and remembers it.
    public func add(uri: String, readOnly: Bool) async throws -> Info {
        let trimmed = uri.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else { throw APIError(.badRequest, "a connection needs a URI", code: .invalidArg) }
        // A console user may add hosts, not run programs on this one: the ext transport and
        // ssh's command= name a local program to start.
        if let parsed = try? ConnectionURI(parsing: trimmed),
           parsed.transport == "ext" || parsed[param: "command"] != nil {
            throw APIError(.badRequest, "the web console does not open '+ext' URIs or URIs with command=: they start a program on the console's host", code: .invalidArg)
        }
        if let same = existing(trimmed, readOnly) { return same }
        let d = try await opener(trimmed, readOnly)
        // Two adds of the same URI may both have waited for the opener.
        if let same = existing(trimmed, readOnly) { await d.close(); return same }
        let id = "c\(nextNumber)"
        nextNumber += 1
        let info = Info(id: id, uri: trimmed, readOnly: readOnly, local: false)
        entries[id] = Entry(info: info, driver: d)
        order.append(id)
        try save()
        return info
    }

    private func existing(_ uri: String, _ readOnly: Bool) -> Info? {
        order.compactMap { entries[$0] }.first { $0.info.uri == uri && $0.info.readOnly == readOnly }?.info
    }

    public func remove(_ id: String) async throws {
        guard let e = entries[id] else { throw Self.notFound(id) }
        guard !e.info.local else { throw APIError(.conflict, "the daemon's own connection cannot be removed", code: .operationInvalid) }
        entries[id] = nil
        order.removeAll { $0 == id }
        await e.driver?.close()
        try save()
    }

    /// Forgets an open driver whose connection broke; the next request reopens it.
    public func invalidate(_ id: String) async {
        guard let e = entries[id], !e.info.local, let d = e.driver else { return }
        entries[id]?.driver = nil
        await d.close()
    }

    static func notFound(_ id: String) -> APIError {
        APIError(.notFound, "no connection with id '\(id)'", code: .noConnect)
    }

    private func save() throws {
        guard let storeFile else { return }
        let saved = list().filter { !$0.local }
        let data = try JSONEncoder().encode(saved)
        let dir = (storeFile as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // temp + rename: a crash never leaves half a list.
        let tmp = storeFile + ".tmp"
        try data.write(to: URL(fileURLWithPath: tmp))
        guard rename(tmp, storeFile) == 0 else {
            throw APIError(.internalServerError, "cannot save connections to \(storeFile): \(String(cString: strerror(errno)))")
        }
    }

    private static func load(_ file: String?) -> [Info] {
        guard let file, let data = FileManager.default.contents(atPath: file) else { return [] }
        return (try? JSONDecoder().decode([Info].self, from: data)) ?? []
    }
}
