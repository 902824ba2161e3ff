import Foundation
import Hypervisor

// The server's procedure table: handlers registered against the declarations in
// Procedures.swift, looked up by number, with argument decoding, the read-only rule and
// result encoding done once here rather than in every handler.

/// What a handler gets: the calling client's session.
public typealias ProcedureHandler<Args: XDRCodable, Ret: XDRCodable> = @Sendable (ClientSession, Args) async throws -> Ret

/// A registered procedure with its types erased.
struct RegisteredProcedure: Sendable {
    let info: ProcedureInfo
    /// Runs the call on raw argument bytes and returns the raw result bytes.
    let run: @Sendable (ClientSession, [UInt8]) async throws -> [UInt8]
}

/// Handlers by procedure number.
public struct ProcedureTable: Sendable {
    private(set) var handlers: [Int32: RegisteredProcedure] = [:]

    public init() {}

    public mutating func register<A, R>(_ p: Procedure<A, R>, _ body: @escaping ProcedureHandler<A, R>) {
        handlers[p.number] = RegisteredProcedure(info: p.info) { session, bytes in
            let args: A
            do {
                args = try A(xdrBytes: bytes)
            } catch {
                throw VirError(.rpc, "Unable to decode message payload: \(error)", domain: .rpc)
            }
            let ret = try await body(session, args)
            var w = XDRWriter()
            ret.encode(xdr: &w)
            if let overflow = w.overflow {
                throw VirError(.rpc, "Unable to encode message payload: \(overflow)", domain: .rpc)
            }
            return w.bytes
        }
    }

    func handler(_ number: Int32) -> RegisteredProcedure? { handlers[number] }

    /// Procedures a client may call before CONNECT_OPEN.
    static let beforeOpen: Set<Int32> = [
        Procedures.authList.number, Procedures.connectOpen.number, Procedures.connectSupportsFeature.number,
    ]
}
