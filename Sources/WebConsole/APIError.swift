import Foundation
import Hummingbird
import Hypervisor

/// An API failure as JSON: `{"error": {"code": N, "domain": N, "message": "..."}}` with libvirt's
/// error numbers when the driver raised it, and an HTTP status that says what kind of failure it is.
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: Int32
    public var domain: Int32
    public var message: String

    public init(_ status: HTTPResponse.Status, _ message: String, code: VirError.Code = .internalError, domain: ErrorDomain = .none) {
        self.status = status; self.message = message; self.code = code.rawValue; self.domain = domain.rawValue
    }

    /// Any error a route threw, with the status its libvirt number implies.
    public init(_ error: any Error) {
        if let api = error as? APIError { self = api; return }
        guard let vir = error as? VirError else {
            self.init(.internalServerError, "\(error)")
            return
        }
        self.init(Self.status(for: vir.code), vir.message, code: vir.code, domain: vir.domain)
    }

    /// The connection itself broke (not one call on it): only then is the shared driver dropped,
    /// which cuts every console and feed on that host.
    public var brokenConnection: Bool {
        [VirError.Code.noConnect, .invalidConn, .rpc].contains { $0.rawValue == code }
    }

    static func status(for code: VirError.Code) -> HTTPResponse.Status {
        switch code {
        case .noDomain, .noNetwork, .noStoragePool, .noStorageVol, .deviceMissing: return .notFound
        case .operationDenied, .accessDenied, .authFailed: return .forbidden
        case .xmlError, .xmlDetail, .invalidArg, .xmlInvalidSchema, .confSyntax, .parseFailed, .invalidMAC, .noName, .noSource, .noTarget, .noOS, .osType:
            return .badRequest
        case .operationInvalid, .domExist, .networkExist, .storageVolExist, .storagePoolBuilt, .resourceBusy: return .conflict
        case .noSupport, .operationUnsupported, .configUnsupported: return .notImplemented
        case .noConnect, .invalidConn, .rpc, .operationTimeout: return .badGateway
        default: return .internalServerError
        }
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let data = try JSONEncoder().encode(ErrorBody(error: .init(code: code, domain: domain, message: message)))
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// The JSON shape of every API error.
struct ErrorBody: Codable {
    struct Inner: Codable { var code: Int32; var domain: Int32; var message: String }
    var error: Inner
}
