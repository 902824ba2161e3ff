import Foundation
import Hummingbird
import Hypervisor

/// The pages (config.webDir), Debian's browser libraries under /vendor/NAME/ (config.vendorDirs)
/// and the OpenAPI document. Files are served only from inside those directories: every path
/// component is percent-decoded first and `..`, `.` or a NUL anywhere is refused. Symbolic links
/// inside them are followed (Debian's /usr/share/javascript links into /usr/share/nodejs).
enum StaticRoutes {
    static func register(on router: Router<WebContext>, state: WebState) {
        router.get("api/v1/openapi.json") { _, context in
            try await serve(file: state.config.webDir + "/openapi.json", head: false, context: context)
        }
        // Registered last, so it only sees what no route answered.
        router.add(middleware: StaticFallback(config: state.config))
    }

    static let contentTypes: [String: String] = [
        "html": "text/html; charset=utf-8",
        "js": "text/javascript; charset=utf-8",
        "mjs": "text/javascript; charset=utf-8",
        "css": "text/css; charset=utf-8",
        "json": "application/json; charset=utf-8",
        "map": "application/json; charset=utf-8",
        "svg": "image/svg+xml",
        "png": "image/png",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "gif": "image/gif",
        "ico": "image/x-icon",
        "wasm": "application/wasm",
        "woff": "font/woff",
        "woff2": "font/woff2",
        "ttf": "font/ttf",
        "txt": "text/plain; charset=utf-8",
        "xml": "application/xml; charset=utf-8",
    ]

    static func contentType(for path: String) -> String {
        let ext = (path as NSString).pathExtension.lowercased()
        return contentTypes[ext] ?? "application/octet-stream"
    }

    /// The file a URL path names, or nil when it is outside the served directories.
    static func resolve(_ rawPath: String, config: WebConsoleConfig) -> String? {
        guard let decoded = rawPath.removingPercentEncoding, !decoded.contains("\0"), !decoded.contains("\\") else { return nil }
        let parts = decoded.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard !parts.contains(where: { $0 == ".." || $0 == "." }) else { return nil }
        if parts.first == "vendor" {
            guard parts.count >= 3, let dir = config.vendorDirs[parts[1]] else { return nil }
            return ([dir] + parts.dropFirst(2)).joined(separator: "/")
        }
        if parts.isEmpty { return config.webDir + "/index.html" }
        return ([config.webDir] + parts).joined(separator: "/")
    }

    /// A regular file, streamed, with its type.
    static func serve(file: String, head: Bool, context: WebContext) async throws -> Response {
        var st = stat()
        guard stat(file, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw APIError(.notFound, "no such file", code: .noSource)
        }
        var headers = HTTPFields()
        headers[.contentType] = contentType(for: file)
        headers[.contentLength] = String(st.st_size)
        // Pages change with the daemon; the browser must ask again (a 200 costs little on loopback).
        headers[.cacheControl] = "no-cache"
        headers[.xContentTypeOptions] = "nosniff"
        if head { return Response(status: .ok, headers: headers, body: .init()) }
        let body = try await FileIO().loadFile(path: file, context: context)
        return Response(status: .ok, headers: headers, body: body)
    }
}

/// Answers what the routers did not: unknown API paths with the API's JSON 404, GET/HEAD of
/// anything else from the static directories.
struct StaticFallback: RouterMiddleware {
    typealias Context = WebContext
    let config: WebConsoleConfig

    func handle(_ request: Request, context: WebContext, next: (Request, WebContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let path = request.uri.path
            if path == "/api" || path.hasPrefix("/api/") {
                throw APIError(.notFound, "no API endpoint \(request.method) \(path)", code: .noSupport)
            }
            guard request.method == .get || request.method == .head else {
                throw APIError(.methodNotAllowed, "\(request.method) is not allowed on \(path)", code: .noSupport)
            }
            guard let file = StaticRoutes.resolve(path, config: config) else {
                throw APIError(.notFound, "no such file", code: .noSource)
            }
            return try await StaticRoutes.serve(file: file, head: request.method == .head, context: context)
        }
    }
}
