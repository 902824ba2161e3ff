import DomainXML
import Foundation
import Hummingbird
import Hypervisor
import NIOCore

/// /connections/{conn}/pools: storage pools and their volumes, with streamed upload and download.
enum APIStorage {
    struct PoolJSON: Codable, Sendable {
        var name: String
        var uuid: String
        var state: String
        var active: Bool
        var persistent: Bool
        var autostart: Bool
        var capacity: UInt64
        var allocation: UInt64
        var available: UInt64
        var type: String
        var path: String?
    }

    struct VolumeJSON: Codable, Sendable {
        var name: String
        var key: String
        var path: String
        var type: String
        var format: String?
        var capacity: UInt64
        var allocation: UInt64
    }

    struct PoolBody: Decodable {
        var xml: String
        var build: Bool?
        var start: Bool?
        var autostart: Bool?
    }

    struct VolumeBody: Decodable {
        var name: String?
        var capacity: UInt64?
        var format: String?
        var xml: String?
    }

    static let poolActions = ["start", "destroy", "refresh", "build"]

    static func register(on api: RouterGroup<WebContext>, state: WebState) {
        let pools = "connections/{conn}/pools"

        api.get(RouterPath(pools)) { _, context in
            let d = try await driver(state, context)
            var out: [PoolJSON] = []
            for ref in try await d.listAllStoragePools(flags: []).sorted(by: { $0.name < $1.name }) {
                do { out.append(try await poolJSON(d, ref)) } catch let e as VirError where e.code == .noStoragePool { continue }
            }
            return try Reply.json(out)
        }

        api.post(RouterPath(pools)) { request, context in
            let d = try await driver(state, context)
            let body = try await request.decodeJSON(PoolBody.self)
            let ref = try await d.defineStoragePool(xml: body.xml, flags: 0)
            // pool-define, then pool-build / pool-start / pool-autostart as virt-manager's wizard does.
            do {
                if body.build ?? false { try await d.buildStoragePool(ref, flags: []) }
                if body.start ?? false { try await d.startStoragePool(ref, flags: []) }
                if body.autostart ?? false { try await d.setStoragePoolAutostart(ref, true) }
            } catch {
                var e = APIError.mapping(error)
                e.message = "pool '\(ref.name)' was defined, but: \(e.message)"
                throw e
            }
            return try Reply.json(try await poolJSON(d, ref), status: .created)
        }

        api.get(RouterPath("\(pools)/{pool}")) { _, context in
            let (d, ref) = try await pool(state, context)
            return try Reply.json(try await poolJSON(d, ref))
        }

        api.post(RouterPath("\(pools)/{pool}/{action}")) { _, context in
            let action = try context.requireParameter("action")
            guard poolActions.contains(action) else {
                throw APIError(.notFound, "unknown pool action '\(action)'; expected one of \(poolActions.joined(separator: ", "))", code: .invalidArg)
            }
            let (d, ref) = try await pool(state, context)
            switch action {
            case "start": try await d.startStoragePool(ref, flags: [])
            case "destroy": try await d.destroyStoragePool(ref)
            case "refresh": try await d.refreshStoragePool(ref, flags: 0)
            default: try await d.buildStoragePool(ref, flags: [])
            }
            return try Reply.json(try await poolJSON(d, ref))
        }

        api.delete(RouterPath("\(pools)/{pool}")) { _, context in
            let (d, ref) = try await pool(state, context)
            // virt-manager stops a pool before deleting it; undefining a running pool would only
            // make it transient. The pool's directory and volumes stay (pool-delete is not asked for).
            if try await d.storagePoolIsActive(ref) { try await d.destroyStoragePool(ref) }
            if try await d.storagePoolIsPersistent(ref) { try await d.undefineStoragePool(ref) }
            return Reply.noContent()
        }

        api.get(RouterPath("\(pools)/{pool}/volumes")) { _, context in
            let (d, ref) = try await pool(state, context)
            var out: [VolumeJSON] = []
            for vol in try await d.listAllStorageVolumes(ref, flags: 0).sorted(by: { $0.name < $1.name }) {
                do { out.append(try await volumeJSON(d, vol)) } catch let e as VirError where e.code == .noStorageVol { continue }
            }
            return try Reply.json(out)
        }

        api.post(RouterPath("\(pools)/{pool}/volumes")) { request, context in
            let (d, ref) = try await pool(state, context)
            let body = try await request.decodeJSON(VolumeBody.self)
            let vol = try await d.createStorageVolume(ref, xml: try volumeXML(body), flags: [])
            return try Reply.json(try await volumeJSON(d, vol), status: .created)
        }

        api.get(RouterPath("\(pools)/{pool}/volumes/{vol}")) { _, context in
            let (d, vol) = try await volume(state, context)
            return try Reply.json(try await volumeJSON(d, vol))
        }

        api.delete(RouterPath("\(pools)/{pool}/volumes/{vol}")) { _, context in
            let (d, vol) = try await volume(state, context)
            try await d.deleteStorageVolume(vol, flags: [])
            return Reply.noContent()
        }

        api.put(RouterPath("\(pools)/{pool}/volumes/{vol}/content")) { request, context in
            let (d, vol) = try await volume(state, context)
            try await upload(request, d, vol)
            return try Reply.json(try await volumeJSON(d, vol))
        }

        api.get(RouterPath("\(pools)/{pool}/volumes/{vol}/content")) { _, context in
            let (d, vol) = try await volume(state, context)
            return try await download(d, vol)
        }
    }

    // MARK: Lookups

    static func driver(_ state: WebState, _ context: WebContext) async throws -> any HypervisorDriver {
        try await state.connections.driver(try context.requireParameter("conn"))
    }

    static func pool(_ state: WebState, _ context: WebContext) async throws -> (any HypervisorDriver, StoragePoolRef) {
        let d = try await driver(state, context)
        return (d, try await d.lookupStoragePool(name: try context.requireParameter("pool")))
    }

    static func volume(_ state: WebState, _ context: WebContext) async throws -> (any HypervisorDriver, StorageVolRef) {
        let (d, p) = try await pool(state, context)
        return (d, try await d.lookupStorageVolume(pool: p, name: try context.requireParameter("vol")))
    }

    static func poolJSON(_ d: any HypervisorDriver, _ ref: StoragePoolRef) async throws -> PoolJSON {
        let info = try await d.storagePoolInfo(ref)
        let def = try? StoragePool(xml: try await d.storagePoolXML(ref, flags: []))
        return PoolJSON(
            name: ref.name, uuid: ref.uuid.lowercasedString, state: info.state.virshName, active: info.state == .running,
            persistent: try await d.storagePoolIsPersistent(ref), autostart: (try? await d.storagePoolAutostart(ref)) ?? false,
            capacity: info.capacity, allocation: info.allocation, available: info.available,
            type: def?.type ?? "dir", path: def?.targetPath)
    }

    static func volumeJSON(_ d: any HypervisorDriver, _ vol: StorageVolRef) async throws -> VolumeJSON {
        let info = try await d.storageVolumeInfo(vol)
        let def = try? StorageVolume(xml: try await d.storageVolumeXML(vol, flags: 0))
        let path = (try? await d.storageVolumePath(vol)) ?? def?.targetPath ?? vol.key
        return VolumeJSON(name: vol.name, key: vol.key, path: path, type: info.type.virshName, format: def?.format,
                          capacity: info.capacity, allocation: info.allocation)
    }

    /// The volume XML for the simple form (name, size, format), or the caller's own XML.
    static func volumeXML(_ body: VolumeBody) throws -> String {
        if let xml = body.xml, !xml.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty { return xml }
        guard let name = body.name?.trimmingCharacters(in: .whitespaces), !name.isEmpty else {
            throw APIError(.badRequest, "a new volume needs a 'name' (or 'xml')", code: .invalidArg)
        }
        guard !name.contains("/"), name != ".", name != ".." else {
            throw APIError(.badRequest, "volume name '\(name)' cannot contain '/'", code: .invalidArg)
        }
        guard let capacity = body.capacity, capacity > 0 else {
            throw APIError(.badRequest, "a new volume needs a 'capacity' in bytes greater than 0", code: .invalidArg)
        }
        let format = body.format ?? "qcow2"
        guard ["qcow2", "raw"].contains(format) else {
            throw APIError(.badRequest, "unsupported volume format '\(format)'; expected qcow2 or raw", code: .invalidArg)
        }
        return """
            <volume>
              <name>\(xmlEscape(name))</name>
              <capacity unit='bytes'>\(capacity)</capacity>
              <target>
                <format type='\(format)'/>
              </target>
            </volume>
            """
    }

    // MARK: Streams

    /// vol-upload: the request body goes chunk by chunk into the driver's stream (HTTP flow
    /// control holds the client back while the host writes); never more than the volume holds.
    static func upload(_ request: Request, _ d: any HypervisorDriver, _ vol: StorageVolRef) async throws {
        let capacity = try await d.storageVolumeInfo(vol).capacity
        let announced = request.headers[.contentLength].flatMap { UInt64($0) }
        if let announced, announced > capacity {
            throw APIError(.contentTooLarge, "upload of \(announced) bytes does not fit volume '\(vol.name)' (\(capacity) bytes)", code: .invalidArg)
        }
        let stream = try await d.uploadStorageVolume(vol, offset: 0, length: announced ?? 0, flags: [])
        var written: UInt64 = 0
        do {
            for try await chunk in request.body {
                written += UInt64(chunk.readableBytes)
                if written > capacity {
                    throw APIError(.contentTooLarge, "upload is larger than volume '\(vol.name)' (\(capacity) bytes)", code: .invalidArg)
                }
                try await stream.write(Array(chunk.readableBytesView))
            }
            if let announced, written != announced {
                throw APIError(.badRequest, "upload ended after \(written) of \(announced) bytes", code: .invalidArg)
            }
            try await stream.finish()
        } catch {
            await stream.close()
            throw error
        }
    }

    /// vol-download, streamed as it is read (chunked, since a sparse or qcow2 file's length is
    /// not known up front).
    static func download(_ d: any HypervisorDriver, _ vol: StorageVolRef) async throws -> Response {
        let stream = try await d.downloadStorageVolume(vol, offset: 0, length: 0, flags: [])
        var headers = HTTPFields()
        headers[.contentType] = "application/octet-stream"
        let safeName = vol.name.filter { $0.isLetter || $0.isNumber || "._-".contains($0) }
        headers[.contentDisposition] = "attachment; filename=\"\(safeName.isEmpty ? "volume" : safeName)\""
        let body = ResponseBody { writer in
            do {
                while let bytes = try await stream.read() {
                    if !bytes.isEmpty { try await writer.write(ByteBuffer(bytes: bytes)) }
                }
                await stream.close()
            } catch {
                await stream.close()
                throw error
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }
}
