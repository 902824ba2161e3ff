import NIOCore
import NIOEmbedded
import Testing
@testable import RemoteProtocol

@Suite struct FramingTests {
    static let ping = RPCMessage(header: RPCHeader(program: RPCProgram.keepalive, version: 1, procedure: 1,
                                                   type: .message, serial: 0, status: .ok))
    static let call = RPCMessage(header: RPCHeader(program: RPCProgram.remote, version: 1, procedure: 23,
                                                   type: .call, serial: 7, status: .ok),
                                 payload: StringValue("tiny").xdrBytes)

    /// AUTH_LIST call as virsh sends it (captured layout: length 28, no payload).
    static let authListWire: [UInt8] = [0, 0, 0, 28, 0x20, 0x00, 0x80, 0x86, 0, 0, 0, 1, 0, 0, 0, 66,
                                        0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]

    func channel() throws -> EmbeddedChannel {
        let ch = EmbeddedChannel()
        try ch.pipeline.syncOperations.addHandler(ByteToMessageHandler(RPCMessageDecoder()))
        try ch.pipeline.syncOperations.addHandler(MessageToByteHandler(RPCMessageEncoder()))
        return ch
    }

    @Test func decodesAWholePacket() throws {
        let ch = try channel()
        try ch.writeInbound(ByteBuffer(bytes: Self.authListWire))
        let msg = try #require(try ch.readInbound(as: RPCMessage.self))
        #expect(msg.header == RPCHeader(program: RPCProgram.remote, version: 1, procedure: 66, type: .call, serial: 1, status: .ok))
        #expect(msg.payload.isEmpty)
        #expect(try ch.finish().isClean)
    }

    @Test func encoderIsByteExact() throws {
        let ch = try channel()
        try ch.writeOutbound(Self.call)
        let buf = try #require(try ch.readOutbound(as: ByteBuffer.self))
        let expected: [UInt8] = [0, 0, 0, 36, 0x20, 0x00, 0x80, 0x86, 0, 0, 0, 1, 0, 0, 0, 23,
                                 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0,
                                 0, 0, 0, 4, 0x74, 0x69, 0x6e, 0x79]
        #expect(Array(buf.readableBytesView) == expected)
        #expect(Self.call.wireBytes == expected)
    }

    @Test func splitAndMergedPackets() throws {
        let ch = try channel()
        let bytes = Self.call.wireBytes + Self.ping.wireBytes + Self.call.wireBytes
        // Byte by byte: nothing until a packet is complete.
        for b in bytes.prefix(Self.call.wireBytes.count - 1) { try ch.writeInbound(ByteBuffer(bytes: [b])) }
        #expect(try ch.readInbound(as: RPCMessage.self) == nil)
        // The rest in one go: three packets.
        try ch.writeInbound(ByteBuffer(bytes: Array(bytes.dropFirst(Self.call.wireBytes.count - 1))))
        #expect(try ch.readInbound(as: RPCMessage.self) == Self.call)
        #expect(try ch.readInbound(as: RPCMessage.self) == Self.ping)
        #expect(try ch.readInbound(as: RPCMessage.self) == Self.call)
        #expect(try ch.readInbound(as: RPCMessage.self) == nil)
    }

    @Test func oversizedLengthIsRejectedBeforeTheBody() throws {
        let ch = try channel()
        // 32 MiB + 1: refused from the length word alone.
        #expect(throws: RPCFramingError.packetTooLarge(33_554_433)) {
            try ch.writeInbound(ByteBuffer(bytes: [0x02, 0x00, 0x00, 0x01]))
        }
    }

    @Test func undersizedLengthIsRejected() throws {
        let ch = try channel()
        #expect(throws: RPCFramingError.packetTooSmall(27)) {
            try ch.writeInbound(ByteBuffer(bytes: [0, 0, 0, 27] + Array(repeating: 0, count: 24)))
        }
    }

    @Test func maximumSizeIsAccepted() throws {
        var buf = ByteBuffer(bytes: Self.authListWire)
        buf.setInteger(UInt32(RPCLimits.messageMax), at: 0)
        // Incomplete but legal: waits for more data.
        #expect(try RPCMessageDecoder.decodeOne(&buf) == nil)
    }
}
