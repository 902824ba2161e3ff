import NIOCore

// libvirt's RPC packet (src/rpc/virnetprotocol.x): a 4-byte big-endian length that counts
// itself, a 24-byte header, then the XDR payload.

public enum RPCLimits {
    /// VIR_NET_MESSAGE_MAX: the largest whole packet, length word included.
    public static let messageMax = 33_554_432
    /// VIR_NET_MESSAGE_LEN_MAX + VIR_NET_MESSAGE_HEADER_MAX: the smallest packet.
    public static let messageMin = 4 + RPCHeader.size
    /// VIR_NET_MESSAGE_PAYLOAD_MAX: what is left for the payload.
    public static let payloadMax = messageMax - messageMin
}

/// virNetMessageType. Unknown values are kept so the server can answer them.
public struct RPCMessageType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public static let call = RPCMessageType(rawValue: 0)
    public static let reply = RPCMessageType(rawValue: 1)
    public static let message = RPCMessageType(rawValue: 2)
    public static let stream = RPCMessageType(rawValue: 3)
    public static let callWithFDs = RPCMessageType(rawValue: 4)
    public static let replyWithFDs = RPCMessageType(rawValue: 5)
    public static let streamHole = RPCMessageType(rawValue: 6)
    public var description: String {
        let names = ["CALL", "REPLY", "MESSAGE", "STREAM", "CALL_WITH_FDS", "REPLY_WITH_FDS", "STREAM_HOLE"]
        return names.indices.contains(Int(rawValue)) ? names[Int(rawValue)] : "type \(rawValue)"
    }
}

/// virNetMessageStatus.
public struct RPCStatus: RawRepresentable, Hashable, Sendable {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }
    public static let ok = RPCStatus(rawValue: 0)
    public static let error = RPCStatus(rawValue: 1)
    /// More stream data follows.
    public static let `continue` = RPCStatus(rawValue: 2)
}

/// virNetMessageHeader.
public struct RPCHeader: Hashable, Sendable {
    public static let size = 24
    public var program: UInt32
    public var version: UInt32
    public var procedure: Int32
    public var type: RPCMessageType
    public var serial: UInt32
    public var status: RPCStatus

    public init(program: UInt32, version: UInt32, procedure: Int32, type: RPCMessageType, serial: UInt32, status: RPCStatus) {
        self.program = program; self.version = version; self.procedure = procedure
        self.type = type; self.serial = serial; self.status = status
    }
}

/// Program numbers and versions.
public enum RPCProgram {
    public static let remote: UInt32 = 0x2000_8086
    public static let remoteVersion: UInt32 = 1
    public static let qemu: UInt32 = 0x2000_8087
    public static let lxc: UInt32 = 0x0006_8000
    public static let keepalive: UInt32 = 0x6b65_6570
    public static let keepaliveVersion: UInt32 = 1
    public static let keepalivePing: Int32 = 1
    public static let keepalivePong: Int32 = 2
}

/// One packet: header and raw XDR payload.
public struct RPCMessage: Hashable, Sendable {
    public var header: RPCHeader
    public var payload: [UInt8]

    public init(header: RPCHeader, payload: [UInt8] = []) { self.header = header; self.payload = payload }

    /// The packet as sent on the wire, length word included.
    public var wireBytes: [UInt8] {
        var w = XDRWriter()
        w.writeUInt32(UInt32(truncatingIfNeeded: RPCLimits.messageMin + payload.count))
        w.writeUInt32(header.program)
        w.writeUInt32(header.version)
        w.writeInt32(header.procedure)
        w.writeInt32(header.type.rawValue)
        w.writeUInt32(header.serial)
        w.writeInt32(header.status.rawValue)
        return w.bytes + payload
    }
}

/// Why a byte stream is not a valid sequence of packets; the connection cannot continue.
public enum RPCFramingError: Error, Equatable, Sendable, CustomStringConvertible {
    case packetTooSmall(UInt32)
    case packetTooLarge(UInt32)
    public var description: String {
        switch self {
        case .packetTooSmall(let n): "packet \(n) bytes received from peer is too small"
        case .packetTooLarge(let n): "packet \(n) bytes received from peer exceeds maximum \(RPCLimits.messageMax)"
        }
    }
}

/// Splits a byte stream into `RPCMessage`s. The length word is validated before any body
/// bytes are awaited or allocated.
public struct RPCMessageDecoder: ByteToMessageDecoder, Sendable {
    public typealias InboundOut = RPCMessage
    public init() {}

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let message = try Self.decodeOne(&buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(message))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A partial packet at EOF is dropped: the peer went away mid-message.
        while let message = try Self.decodeOne(&buffer) {
            context.fireChannelRead(Self.wrapInboundOut(message))
        }
        return .needMoreData
    }

    /// One packet from the front of `buffer`, nil if it is not complete yet.
    public static func decodeOne(_ buffer: inout ByteBuffer) throws(RPCFramingError) -> RPCMessage? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        guard length >= RPCLimits.messageMin else { throw .packetTooSmall(length) }
        guard length <= RPCLimits.messageMax else { throw .packetTooLarge(length) }
        guard buffer.readableBytes >= Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        // The guards above make these reads infallible; the defaults only satisfy the types.
        let program = buffer.readInteger(as: UInt32.self) ?? 0
        let version = buffer.readInteger(as: UInt32.self) ?? 0
        let procedure = buffer.readInteger(as: Int32.self) ?? 0
        let type = buffer.readInteger(as: Int32.self) ?? 0
        let serial = buffer.readInteger(as: UInt32.self) ?? 0
        let status = buffer.readInteger(as: Int32.self) ?? 0
        let payload = buffer.readBytes(length: Int(length) - RPCLimits.messageMin) ?? []
        return RPCMessage(header: RPCHeader(program: program, version: version, procedure: procedure,
                                            type: RPCMessageType(rawValue: type), serial: serial,
                                            status: RPCStatus(rawValue: status)),
                          payload: payload)
    }
}

/// Writes `RPCMessage`s as packets.
public struct RPCMessageEncoder: MessageToByteEncoder, Sendable {
    public typealias OutboundIn = RPCMessage
    public init() {}

    public func encode(data: RPCMessage, out: inout ByteBuffer) throws {
        out.reserveCapacity(RPCLimits.messageMin + data.payload.count)
        out.writeInteger(UInt32(truncatingIfNeeded: RPCLimits.messageMin + data.payload.count))
        out.writeInteger(data.header.program)
        out.writeInteger(data.header.version)
        out.writeInteger(data.header.procedure)
        out.writeInteger(data.header.type.rawValue)
        out.writeInteger(data.header.serial)
        out.writeInteger(data.header.status.rawValue)
        out.writeBytes(data.payload)
    }
}
