import Foundation
import Hummingbird
import Hypervisor
import NIOCore

/// Who may use the console. Without a token only loopback peers are served (corrald also
/// refuses to listen elsewhere without one); with a token every request must carry it, as
/// `Authorization: Bearer T`, the `corral_token` cookie, or `?token=T` (WebSockets and the first
/// page load cannot set headers). A good `?token=` sets the cookie, so that the page's scripts,
/// styles and vendor files that the browser fetches on its own are let in too.
enum AccessControl {
    static let cookieName = "corral_token"

    static func install(on router: Router<WebContext>, wsRouter: Router<WebContext>, state: WebState) {
        let gate = AccessMiddleware(token: state.config.token)
        router.add(middleware: gate)
        wsRouter.add(middleware: gate)
    }

    enum Verdict: Equatable {
        case allow
        /// Allowed by `?token=`: remember it in the cookie.
        case allowSetCookie
        case deny(String)
    }

    static func check(token: String?, peer: SocketAddress?, request: Request) -> Verdict {
        // Another site's page in the user's browser must not drive the console (its requests
        // carry that site's Origin), nor read it through a DNS name rebound to 127.0.0.1 (its
        // requests carry that name as Host).
        let authority = request.head.authority
        if let origin = request.headers[.origin], let authority, !sameOrigin(origin, authority) {
            return .deny("cross-site request from \(origin) refused")
        }
        guard let token else {
            if let authority, !isLoopbackName(authority) {
                return .deny("this console only serves the local host, by a loopback name (127.0.0.1, localhost, [::1]), not '\(authority)'; corrald needs --http-token-file to serve others")
            }
            return isLoopback(peer) ? .allow
                : .deny("this console only serves the local host; corrald needs --http-token-file to serve others")
        }
        if let auth = request.headers[.authorization] {
            let parts = auth.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer", constantTimeEqual(String(parts[1]).trimmingCharacters(in: .whitespaces), token) {
                return .allow
            }
        }
        if let cookie = request.cookies[cookieName], constantTimeEqual(cookie.value, token) { return .allow }
        if let query = request.uri.queryParameters["token"], constantTimeEqual(String(query), token) { return .allowSetCookie }
        return .deny("missing or wrong access token: send 'Authorization: Bearer TOKEN', the \(cookieName) cookie, or ?token=TOKEN")
    }

    /// 127.0.0.0/8, ::1 and IPv4-mapped loopback. An unknown peer is not loopback.
    static func isLoopback(_ peer: SocketAddress?) -> Bool {
        guard let ip = peer?.ipAddress else { return false }
        if ip == "::1" { return true }
        let v4 = ip.hasPrefix("::ffff:") ? String(ip.dropFirst(7)) : ip
        return v4.hasPrefix("127.") && v4.split(separator: ".").count == 4
    }

    /// A browser's Origin is scheme://host[:port] of the page and must name this console exactly;
    /// non-browser WebSocket clients send ws://host without the port.
    static func sameOrigin(_ origin: String, _ authority: String) -> Bool {
        guard let sep = origin.range(of: "://") else { return false }
        let scheme = origin[..<sep.lowerBound].lowercased(), rest = origin[sep.upperBound...].lowercased()
        let authority = authority.lowercased()
        if (scheme == "http" || scheme == "https") && rest == authority { return true }
        guard scheme == "ws" || scheme == "wss" else { return false }
        if rest == authority { return true }
        // ws://host against host:port: the same host, no port named.
        let hostPart = authority.hasPrefix("[") ? String(authority[...(authority.firstIndex(of: "]") ?? authority.startIndex)])
            : String(authority.split(separator: ":", maxSplits: 1).first ?? "")
        return !rest.isEmpty && rest == hostPart
    }

    /// A Host header naming this machine's loopback: 127.x.y.z, localhost or [::1], with or without a port.
    static func isLoopbackName(_ authority: String) -> Bool {
        var host = Substring(authority)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            host = host[host.index(after: host.startIndex)..<close]
            return host == "::1"
        }
        if let colon = host.lastIndex(of: ":") { host = host[..<colon] }
        let name = host.lowercased()
        if name == "localhost" { return true }
        let octets = name.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }

    /// RFC 6265's cookie-octet.
    static func isCookieOctet(_ c: UInt8) -> Bool {
        c == 0x21 || (0x23...0x2B).contains(c) || (0x2D...0x3A).contains(c) || (0x3C...0x5B).contains(c) || (0x5D...0x7E).contains(c)
    }

    /// Compares without returning early on the first differing byte, so response timing does not
    /// tell an attacker how much of a guess was right.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var diff = UInt8(truncatingIfNeeded: x.count ^ y.count) | (x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) {
            diff |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0)
        }
        return diff == 0
    }
}

struct AccessMiddleware: RouterMiddleware {
    typealias Context = WebContext
    let token: String?

    func handle(_ request: Request, context: WebContext, next: (Request, WebContext) async throws -> Response) async throws -> Response {
        switch AccessControl.check(token: token, peer: context.remoteAddress, request: request) {
        case .allow:
            return try await next(request, context)
        case .allowSetCookie:
            var response = try await next(request, context)
            // A token with characters a cookie cannot hold keeps working through the other two ways.
            if let token, token.utf8.allSatisfy(AccessControl.isCookieOctet) {
                response.headers[values: .setCookie].append("\(AccessControl.cookieName)=\(token); Path=/; HttpOnly; SameSite=Strict")
            }
            return response
        case .deny(let why):
            var response = try APIError(.unauthorized, why, code: .authFailed).response(from: request, context: context)
            response.headers[.wwwAuthenticate] = "Bearer realm=\"corrald\""
            return response
        }
    }
}
