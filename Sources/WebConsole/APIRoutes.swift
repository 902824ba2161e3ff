import Foundation
import Hummingbird
import Hypervisor
import NIOCore

/// The JSON API under /api/v1 (connections, domains, storage, networks). Every route asks the
/// connection registry for the connection's driver, so the same code serves the daemon's own
/// hypervisor and remote hosts; every failure leaves as an `APIError`.
enum APIRoutes {
    static func register(on router: Router<WebContext>, state: WebState) {
        let api = router.group("api/v1").add(middleware: APIErrorMiddleware(state: state))
        APIConnections.register(on: api, state: state)
        APIDomains.register(on: api, state: state)
        APIStorage.register(on: api, state: state)
        APINetworks.register(on: api, state: state)
    }

    /// JSON and XML request bodies: enough for any domain definition, small enough that a
    /// hostile client cannot make the daemon buffer much.
    static let maxBodyBytes = 1 << 20
}

/// Turns whatever a route throws into the API's JSON error, and drops a remote connection that
/// broke so that the next request reopens it.
struct APIErrorMiddleware: RouterMiddleware {
    typealias Context = WebContext
    let state: WebState

    func handle(_ request: Request, context: WebContext, next: (Request, WebContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let api = APIError.mapping(error)
            if api.brokenConnection, let conn = context.pathParameter("conn") {
                await state.connections.invalidate(conn)
            }
            throw api
        }
    }
}

extension APIError {
    /// `APIError(error)`, after mapping a few non-libvirt failures (oversized bodies,
    /// Hummingbird's own errors) to their statuses.
    static func mapping(_ error: any Error) -> APIError {
        if let tooMany = error as? NIOTooManyBytesError {
            return APIError(.contentTooLarge, "request body is larger than \(tooMany.maxBytes ?? APIRoutes.maxBodyBytes) bytes", code: .invalidArg)
        }
        if let http = error as? HTTPError {
            return APIError(http.status, http.body ?? http.status.reasonPhrase, code: .internalError)
        }
        return APIError(error)
    }
}

// MARK: - Request helpers

extension WebContext {
    /// A path parameter, percent-decoded (the pages encode names with encodeURIComponent).
    func pathParameter(_ name: String) -> String? {
        guard let raw = parameters.get(name) else { return nil }
        return raw.removingPercentEncoding ?? raw
    }

    func requireParameter(_ name: String) throws -> String {
        guard let value = pathParameter(name), !value.isEmpty else {
            throw APIError(.badRequest, "missing path parameter '\(name)'", code: .invalidArg)
        }
        return value
    }
}

extension Request {
    /// The body as UTF-8 text, refused past `APIRoutes.maxBodyBytes` (before reading when the
    /// client announced a larger Content-Length).
    func bodyText() async throws -> String {
        if let length = headers[.contentLength].flatMap({ Int($0) }), length > APIRoutes.maxBodyBytes {
            throw NIOTooManyBytesError(maxBytes: APIRoutes.maxBodyBytes)
        }
        let buffer = try await body.collect(upTo: APIRoutes.maxBodyBytes)
        guard let text = buffer.getString(at: buffer.readerIndex, length: buffer.readableBytes) else {
            throw APIError(.badRequest, "request body is not UTF-8 text", code: .invalidArg)
        }
        return text
    }

    /// The body decoded as JSON into `T`, with a message naming what is wrong.
    func decodeJSON<T: Decodable>(_ type: T.Type) async throws -> T {
        let text = try await bodyText()
        guard !text.isEmpty else { throw APIError(.badRequest, "request body must be a JSON object", code: .invalidArg) }
        do {
            return try JSONDecoder().decode(T.self, from: Data(text.utf8))
        } catch let DecodingError.keyNotFound(key, _) {
            throw APIError(.badRequest, "invalid JSON body: missing field '\(key.stringValue)'", code: .invalidArg)
        } catch let DecodingError.typeMismatch(_, ctx), let DecodingError.valueNotFound(_, ctx) {
            let field = ctx.codingPath.map(\.stringValue).joined(separator: ".")
            throw APIError(.badRequest, "invalid JSON body: wrong type for '\(field)'", code: .invalidArg)
        } catch {
            throw APIError(.badRequest, "invalid JSON body: \(error.localizedDescription)", code: .invalidArg)
        }
    }

    /// A boolean query flag: 1/true/yes/on.
    func flag(_ name: String) -> Bool {
        guard let v = uri.queryParameters[name[...]] else { return false }
        return ["1", "true", "yes", "on", ""].contains(v.lowercased())
    }
}

// MARK: - Responses

enum Reply {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try encoder.encode(value)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func xml(_ text: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/xml; charset=utf-8"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    static func noContent() -> Response { Response(status: .noContent) }
}

/// `{"warnings": [...]}`: what an otherwise successful call could not do.
struct Warnings: Codable, Sendable {
    var warnings: [String]
}

// MARK: - Timeouts

/// Runs `operation` but gives up after `seconds`: a remote host that stopped answering must not
/// hold a page's request forever. The operation keeps running detached until it returns.
func withDeadline<T: Sendable>(_ seconds: Double, _ what: String,
                               _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let box = OnceBox<Result<T, any Error>>()
    return try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, any Error>) in
        box.onResult = { cont.resume(with: $0) }
        Task {
            do { box.finish(.success(try await operation())) } catch { box.finish(.failure(error)) }
        }
        Task {
            try? await Task.sleep(for: .seconds(seconds))
            box.finish(.failure(APIError(.gatewayTimeout, "\(what) did not answer within \(Int(seconds)) s", code: .operationTimeout)))
        }
    }
}

/// Delivers the first of several results exactly once.
private final class OnceBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var done = false
    var onResult: ((T) -> Void)?

    func finish(_ value: T) {
        lock.lock()
        guard !done, let deliver = onResult else { lock.unlock(); return }
        done = true
        onResult = nil
        lock.unlock()
        deliver(value)
    }
}
