import Foundation
import Hypervisor
import NIOCore
import Testing
import TestDriver
@testable import RemoteProtocol

/// Deterministic pseudo-random numbers (SplitMix64), so a failure reproduces.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Feeds hostile bytes to the framing decoder and the dispatcher. Passing means: no crash,
/// no hang, and every call packet that decodes gets exactly one reply.
@Suite struct FuzzTests {
    /// Well-formed calls to mutate: every served procedure with plausible arguments.
    static func seeds() -> [RPCMessage] {
        let dom = DomainRef(name: "test", uuid: TestDriver.defaultUUID, id: 1)
        let pool = StoragePoolRef(name: "default", uuid: TestDriver.defaultUUID)
        let vol = StorageVolRef(pool: "default", name: "a.qcow2", key: "/var/lib/a.qcow2")
        let net = NetworkRef(name: "default", uuid: TestDriver.defaultUUID)
        let payloads: [(Int32, [UInt8])] = [
            (66, []), (1, ConnectOpenArgs(name: "qemu:///system").xdrBytes), (60, Int32Args(10).xdrBytes),
            (23, StringValue("test").xdrBytes), (24, UUIDArgs(TestDriver.defaultUUID).xdrBytes),
            (273, ListAllDomainsArgs(flags: 3).xdrBytes), (212, DomainFlagsArgs(dom).xdrBytes),
            (14, DomainFlagsArgs(dom).xdrBytes), (16, DomainArgs(dom).xdrBytes),
            (20, DomainGetVcpusArgs(dom, maxinfo: 2, maplen: 1).xdrBytes),
            (344, GetAllDomainStatsArgs(doms: [dom], stats: 0, flags: 0).xdrBytes),
            (316, EventCallbackRegisterArgs(eventID: 0, dom: dom).xdrBytes),
            (342, DomainCapabilitiesArgs(arch: "x86_64").xdrBytes), (37, Int32Args(5).xdrBytes),
            (159, DomainMemoryStatsArgs(dom, maxStats: 10).xdrBytes), (64, DomainPathArgs(dom, path: "vda").xdrBytes),
            // Storage, networks, device changes
            (84, StringValue("default").xdrBytes), (281, ListAllObjectsArgs(flags: 2).xdrBytes),
            (282, StoragePoolListAllVolumesArgs(pool).xdrBytes), (208, StorageVolTransferArgs(vol, offset: 0, length: 512).xdrBytes),
            (125, StorageVolCreateXMLFromArgs(pool, xml: "<volume/>", clonevol: vol).xdrBytes),
            (259, StorageVolWipePatternArgs(vol, algorithm: 0).xdrBytes), (72, Int32Args(4).xdrBytes),
            (341, NetworkGetDHCPLeasesArgs(net, mac: "52:54:00:00:00:01").xdrBytes), (313, NetworkEventRegisterArgs(eventID: 0, net: net).xdrBytes),
            (160, DomainDeviceFlagsArgs(dom, xml: "<disk/>", flags: 1).xdrBytes),
            (353, DomainInterfaceAddressesArgs(dom, source: 0).xdrBytes),
        ]
        return payloads.enumerated().map { i, p in
            RPCMessage(header: RPCHeader(program: RPCProgram.remote, version: 1, procedure: p.0, type: .call,
                                         serial: UInt32(i + 1), status: .ok), payload: p.1)
        }
    }

    static func mutate(_ bytes: [UInt8], _ rng: inout SeededRandom) -> [UInt8] {
        var b = bytes
        switch rng.next() % 6 {
        case 0 where !b.isEmpty:  // flip bits
            for _ in 0..<(1 + rng.next() % 4) { b[Int(rng.next() % UInt64(b.count))] ^= UInt8(truncatingIfNeeded: rng.next()) }
        case 1:  // truncate
            b = Array(b.prefix(Int(rng.next() % UInt64(b.count + 1))))
        case 2:  // extend with junk
            b += (0..<Int(rng.next() % 16)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        case 3 where b.count >= 4:  // a huge length word somewhere
            let at = Int(rng.next() % UInt64(b.count - 3)) & ~3
            let v: UInt32 = [0xffff_ffff, 0x7fff_ffff, 0x0100_0000, 0x0040_0001, 0x4001][Int(rng.next() % 5)]
            b[at] = UInt8(v >> 24); b[at + 1] = UInt8(v >> 16 & 0xff); b[at + 2] = UInt8(v >> 8 & 0xff); b[at + 3] = UInt8(v & 0xff)
        case 4:  // random bytes
            b = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        default:
            break
        }
        return b
    }

    @Test func mutatedPayloadsAlwaysGetOneReply() async throws {
        var rng = SeededRandom(state: 0xC0FF_EE)
        var c = Client()
        try await c.open()
        let seeds = Self.seeds()
        for i in 0..<3000 {
            let seed = seeds[Int(rng.next() % UInt64(seeds.count))]
            // Never let the fuzzer close the connection or change the open state.
            if seed.header.procedure == 1 { continue }
            let payload = Self.mutate(seed.payload, &rng)
            let reply = try await c.rawCall(seed.header.procedure, payload)
            #expect(reply.header.status == .ok || reply.header.status == .error, "iteration \(i)")
            if reply.header.status == .error { _ = try RemoteError(xdrBytes: reply.payload) }
        }
    }

    @Test func mutatedPacketsNeverCrashTheFramer() async throws {
        var rng = SeededRandom(state: 42)
        let seeds = Self.seeds()
        let c = Client()
        var decoded = 0, rejected = 0
        for _ in 0..<5000 {
            var wire: [UInt8] = []
            for _ in 0..<(1 + rng.next() % 3) { wire += seeds[Int(rng.next() % UInt64(seeds.count))].wireBytes }
            var buf = ByteBuffer(bytes: Self.mutate(wire, &rng))
            do {
                while let msg = try RPCMessageDecoder.decodeOne(&buf) {
                    decoded += 1
                    // Whatever the header says, the session must take it without trapping.
                    if msg.header.type != .call { await c.session.receive(msg) }
                }
            } catch {
                rejected += 1
            }
        }
        #expect(decoded > 0 && rejected > 0)
    }

    /// Every wire struct decodes random and mutated bytes without trapping; whatever decodes
    /// re-encodes to bytes that decode to the same value.
    @Test func everyMessageTypeSurvivesRandomBytes() {
        var rng = SeededRandom(state: 7)
        var decodedSome = 0
        for _ in 0..<400 {
            let seeds = Self.seeds()
            let seed = seeds[Int(rng.next() % UInt64(seeds.count))]
            decodedSome += RemoteProtocolFuzz.run(Self.mutate(seed.payload, &rng))
            decodedSome += RemoteProtocolFuzz.run(Self.mutate(seed.wireBytes, &rng))
        }
        #expect(decodedSome > 0)
    }

    @Test func everyDeclaredCallIsServed() {
        let table = RemoteServer.standardTable()
        for p in Procedures.all where p.number != Procedures.domainEventCallbackLifecycle.number {
            #expect(table.handler(p.number) != nil, "\(p.name) has no handler")
        }
    }
}
