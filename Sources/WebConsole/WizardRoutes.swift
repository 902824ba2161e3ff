import Foundation
import Hummingbird
import Hypervisor
import OSInfo

/// The new-guest wizard's API: osinfo-db lookups and virt-install's job (build the domain XML for
/// an OS and install kind, create its disk, define, start).
enum WizardRoutes {
    static func register(on router: Router<WebContext>, state: WebState) {
        let root = state.config.osinfoDir
        // Parse osinfo-db in the background now, so the first search does not wait for it.
        Task.detached(priority: .background) { _ = OSDatabase.shared(root: root) }

        router.get("/api/v1/osinfo") { request, _ -> Response in
            let q = request.uri.queryParameters.get("q") ?? ""
            guard q.utf8.count <= 200 else { throw APIError(.badRequest, "the search text is too long (200 bytes at most)", code: .invalidArg) }
            let db = await database(root)
            return try Reply.json(db.search(q, limit: 50).map(OSSummaryJSON.init))
        }
        router.get("/api/v1/osinfo/:id") { _, context -> Response in
            let id = context.parameters.get("id") ?? ""
            let db = await database(root)
            guard let v = db.lookup(id) else { throw unknownOS(id) }
            return try Reply.json(OSDetailJSON(v))
        }
        router.post("/api/v1/connections/:conn/guests") { request, context -> Response in
            let conn = context.parameters.get("conn") ?? ""
            let dryRun = ["1", "true", "yes"].contains(request.uri.queryParameters.get("dryRun") ?? "")
            var request = request
            let body: ByteBuffer
            do { body = try await request.collectBody(upTo: 64 * 1024) } catch {
                throw APIError(.contentTooLarge, "the request body is larger than 64 KiB", code: .invalidArg)
            }
            let spec: GuestRequest
            do { spec = try JSONDecoder().decode(GuestRequest.self, from: Data(body.readableBytesView)) } catch {
                throw APIError(.badRequest, "the request body is not a valid guest description: \(describe(error))", code: .invalidArg)
            }
            let info = try await state.connections.info(conn)
            let driver: any HypervisorDriver
            do { driver = try await state.connections.driver(conn) } catch { throw APIError(error) }
            let db = await database(root)
            let wizard = GuestWizard(driver: driver, db: db, localHost: info.local)
            if dryRun {
                let plan = try await wizard.plan(spec)
                return try Reply.json(["xml": plan.plan.domainXML])
            }
            let created = try await wizard.create(spec)
            return try Reply.json(created, status: .created)
        }
    }

    static func database(_ root: String) async -> OSDatabase {
        await Task.detached { OSDatabase.shared(root: root) }.value
    }

    static func unknownOS(_ id: String) -> APIError {
        APIError(.notFound, "unknown OS '\(id)': not in osinfo-db (search /api/v1/osinfo?q=...)", code: .invalidArg)
    }


    /// A decoding error in words a form can show (which field, what was wrong).
    static func describe(_ error: any Error) -> String {
        guard let e = error as? DecodingError else { return "\(error)" }
        func path(_ c: DecodingError.Context) -> String {
            let p = c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "" : "'\(p)': "
        }
        switch e {
        case .keyNotFound(let key, let c): return "\(path(c))missing field '\(key.stringValue)'"
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): return path(c) + c.debugDescription
        @unknown default: return "\(error)"
        }
    }
}

// MARK: JSON shapes

struct ResourcesJSON: Codable, Equatable {
    var memoryMiB: Int?
    var vcpus: Int?
    var diskGiB: Int?

    init?(_ r: OSResources?) {
        guard let r else { return nil }
        memoryMiB = r.ramBytes.map { Int(clamping: $0 >> 20) }
        vcpus = r.nCPUs
        diskGiB = r.storageBytes.map { Int(clamping: ($0 + (1 << 30) - 1) >> 30) }
    }
}

struct OSSummaryJSON: Codable {
    var id: String
    var name: String
    var family: String?
    var distro: String?
    var version: String?
    var vendor: String?
    var releaseDate: String?
    var eol: Bool

    init(_ v: OSVariant) {
        id = v.shortID; name = v.name; family = v.family; distro = v.distro; version = v.version
        vendor = v.vendor; releaseDate = v.releaseDate; eol = v.isEOL()
    }
}

struct OSDetailJSON: Codable {
    var id: String
    var uri: String
    var shortIDs: [String]
    var name: String
    var family: String?
    var distro: String?
    var version: String?
    var vendor: String?
    var codename: String?
    var releaseDate: String?
    var eolDate: String?
    var eol: Bool
    var derivesFrom: [String]
    var recommended: ResourcesJSON?
    var minimum: ResourcesJSON?
    var defaults: OSDefaults
    var devices: [String]

    init(_ v: OSVariant) {
        id = v.shortID; uri = v.id; shortIDs = v.shortIDs; name = v.name; family = v.family; distro = v.distro
        version = v.version; vendor = v.vendor; codename = v.codename; releaseDate = v.releaseDate
        eolDate = v.eolDate; eol = v.isEOL(); derivesFrom = v.derivesFrom
        recommended = ResourcesJSON(v.recommended()); minimum = ResourcesJSON(v.minimum())
        defaults = v.defaults(); devices = v.devices.sorted()
    }
}

/// POST /connections/{conn}/guests (the wizard's form; every field but name, os and install
/// defaults from the OS).
struct GuestRequest: Decodable, Sendable {
    struct Install: Decodable, Sendable {
        var kind: String
        var iso: String?
        var disk: String?
        var kernel: String?
        var initrd: String?
        var cmdline: String?
    }
    struct Disk: Decodable, Sendable {
        var pool: String?
        var sizeGiB: Double?
        var format: String?
        var bus: String?
    }
    struct Network: Decodable, Sendable {
        var type: String
        var name: String?
        var model: String?
    }
    var name: String
    var os: String?
    var install: Install
    var memoryMiB: Int?
    var vcpus: Int?
    var disk: Disk?
    var network: Network?
    var graphics: String?
    var video: String?
    var firmware: String?
    var serial: Bool?
    var start: Bool?
}

/// What a created guest answers: the domain as the guest list shows it, and the XML defined.
struct GuestCreatedJSON: Encodable {
    var domain: DomainSummary
    var xml: String
    /// Volumes the wizard created for the guest ("pool/volume").
    var createdVolumes: [String]
}
