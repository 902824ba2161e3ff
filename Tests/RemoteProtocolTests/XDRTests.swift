import Foundation
import Testing
import Hypervisor
@testable import RemoteProtocol

@Suite struct XDRTests {
    @Test func integersAreBigEndian() throws {
        var w = XDRWriter()
        w.writeInt32(-2)
        w.writeUInt64(0x0102_0304_0506_0708)
        w.writeBool(true)
        w.writeInt64(-1)
        w.writeDouble(1.5)
        #expect(w.bytes == [0xff, 0xff, 0xff, 0xfe, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 1,
                            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                            0x3f, 0xf8, 0, 0, 0, 0, 0, 0])
        var r = XDRReader(w.bytes)
        #expect(try r.readInt32() == -2)
        #expect(try r.readUInt64() == 0x0102_0304_0506_0708)
        #expect(try r.readBool() == true)
        #expect(try r.readInt64() == -1)
        #expect(try r.readDouble() == 1.5)
        try r.finish()
    }

    @Test func stringsAndOpaquesArePadded() throws {
        var w = XDRWriter()
        w.writeString("abcde")
        w.writeOpaque([1, 2, 3, 4], max: 8)
        w.writeFixedOpaque([9])
        #expect(w.bytes == [0, 0, 0, 5, 0x61, 0x62, 0x63, 0x64, 0x65, 0, 0, 0,
                            0, 0, 0, 4, 1, 2, 3, 4,
                            9, 0, 0, 0])
        var r = XDRReader(w.bytes)
        #expect(try r.readString() == "abcde")
        #expect(try r.readOpaque(max: 8) == [1, 2, 3, 4])
        #expect(try r.readFixedOpaque(1) == [9])
        try r.finish()
    }

    @Test func optionalsCarryAMarker() throws {
        var w = XDRWriter()
        w.writeOptionalString(nil)
        w.writeOptionalString("x")
        #expect(w.bytes == [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0x78, 0, 0, 0])
        var r = XDRReader(w.bytes)
        #expect(try r.readOptionalString() == nil)
        #expect(try r.readOptionalString() == "x")
        #expect(throws: XDRError.invalidOptional(2)) {
            var bad = XDRReader([0, 0, 0, 2])
            _ = try bad.readOptionalString()
        }
    }

    @Test func domainRefVector() throws {
        let uuid = try #require(UUID(uuidString: "6695eb01-f6a4-8304-79aa-97f2502e193f"))
        let dom = DomainRef(name: "test", uuid: uuid, id: -1)
        let expected: [UInt8] = [0, 0, 0, 4, 0x74, 0x65, 0x73, 0x74,
                                 0x66, 0x95, 0xeb, 0x01, 0xf6, 0xa4, 0x83, 0x04, 0x79, 0xaa, 0x97, 0xf2, 0x50, 0x2e, 0x19, 0x3f,
                                 0xff, 0xff, 0xff, 0xff]
        #expect(dom.xdrBytes == expected)
        #expect(try DomainRef(xdrBytes: expected) == dom)
    }

    @Test func typedParamArms() throws {
        let params: [TypedParam] = [
            TypedParam("i", .int(-5)), TypedParam("u", .uint(7)), TypedParam("l", .llong(-9)),
            TypedParam("ul", .ullong(1 << 40)), TypedParam("d", .double(0.25)),
            TypedParam("b", .boolean(true)), TypedParam("s", .string("vda")),
        ]
        for p in params { #expect(try TypedParam(xdrBytes: p.xdrBytes) == p) }
        // field "b", discriminant 6 (boolean), value 1
        #expect(TypedParam("b", .boolean(true)).xdrBytes == [0, 0, 0, 1, 0x62, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 1])
        #expect(throws: XDRError.invalidDiscriminant(8)) {
            _ = try TypedParam(xdrBytes: [0, 0, 0, 1, 0x62, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 1])
        }
    }

    @Test func nodeInfoModelIsThirtyTwoFourByteChars() throws {
        let info = NodeInfo(model: "x86_64", memoryKiB: 1024, cpus: 2, mhz: 2000, nodes: 1, sockets: 1, cores: 2, threads: 1)
        let bytes = NodeGetInfoRet(info).xdrBytes
        #expect(bytes.count == 32 * 4 + 8 + 6 * 4)
        #expect(Array(bytes[0..<8]) == [0, 0, 0, 0x78, 0, 0, 0, 0x38])  // 'x', '8'
        #expect(Array(bytes[24..<28]) == [0, 0, 0, 0])                    // NUL after "x86_64"
        #expect(try NodeGetInfoRet(xdrBytes: bytes).info == info)
    }

    @Test func domainInfoCharAndShortTakeFourBytes() throws {
        let info = DomainInfo(state: .paused, maxMemKiB: 2048, memoryKiB: 1024, nrVirtCPU: 3, cpuTimeNs: 5)
        let bytes = DomainGetInfoRet(info).xdrBytes
        #expect(bytes == [0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 5])
        #expect(try DomainGetInfoRet(xdrBytes: bytes).info == info)
    }

    @Test func remoteErrorVector() throws {
        let e = RemoteError(VirError(.noDomain, "Domain not found", domain: .qemu))
        var r = XDRReader(e.xdrBytes)
        #expect(try r.readInt32() == 42)
        #expect(try r.readInt32() == 10)
        #expect(try r.readOptionalString() == "Domain not found")
        #expect(try r.readInt32() == 2)                      // VIR_ERR_ERROR
        #expect(try r.readUInt32() == 0)                     // no domain
        #expect(try r.readOptionalString() == "Domain not found")
        #expect(try r.readOptionalString() == nil)
        #expect(try r.readOptionalString() == nil)
        #expect(try r.readInt32() == 0)
        #expect(try r.readInt32() == 0)
        #expect(try r.readUInt32() == 0)                     // no network
        try r.finish()
        #expect(try RemoteError(xdrBytes: e.xdrBytes).virError == VirError(.noDomain, "Domain not found", domain: .qemu))
    }

    @Test func securityLabelsAreCStringCharArrays() throws {
        let ret = SecurityModelRet(SecurityModel(model: "", doi: "0"))
        #expect(ret.xdrBytes == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0x30, 0, 0, 0, 0])
        #expect(try SecurityModelRet(xdrBytes: ret.xdrBytes) == ret)
        let none = SecurityLabelRet(nil)
        #expect(try SecurityLabelRet(xdrBytes: none.xdrBytes) == none)
        let some = SecurityLabelRet(SecurityLabel(label: "unconfined", enforcing: true))
        #expect(try SecurityLabelRet(xdrBytes: some.xdrBytes) == some)
    }

    @Test func structRoundTrips() throws {
        let uuid = UUID()
        let dom = DomainRef(name: "vm", uuid: uuid, id: 3)
        #expect(try ListAllDomainsRet(xdrBytes: ListAllDomainsRet(domains: [dom, dom], ret: 2).xdrBytes).domains == [dom, dom])
        let stats = GetAllDomainStatsRet(retStats: [DomainStatsRecord(domain: dom, params: [TypedParam("state.state", .int(1))])])
        #expect(try GetAllDomainStatsRet(xdrBytes: stats.xdrBytes) == stats)
        let vcpus = DomainGetVcpusRet(info: [VCPUInfo(number: 0, state: 1, cpuTimeNs: 9, cpu: 1)], cpumaps: [3])
        #expect(try DomainGetVcpusRet(xdrBytes: vcpus.xdrBytes) == vcpus)
        let ev = EventCallbackLifecycleMsg(callbackID: 1, dom: dom, event: 2, detail: 0)
        #expect(try EventCallbackLifecycleMsg(xdrBytes: ev.xdrBytes) == ev)
        let open = ConnectOpenArgs(name: nil, flags: 1)
        #expect(try ConnectOpenArgs(xdrBytes: open.xdrBytes) == open)
        let caps = DomainCapabilitiesArgs(arch: "x86_64", virttype: "qemu")
        #expect(try DomainCapabilitiesArgs(xdrBytes: caps.xdrBytes) == caps)
        let blk = DomainBlockStatsRet([1, 2, 3])
        #expect(blk.values == [1, 2, 3, -1, -1])
        #expect(try DomainBlockStatsRet(xdrBytes: blk.xdrBytes) == blk)
    }

    @Test func lengthsAreCheckedBeforeAllocating() {
        // A string claiming 4 GiB - 1 bytes: over REMOTE_STRING_MAX.
        #expect(throws: XDRError.lengthTooLarge(length: 0xffff_ffff, max: XDRLimits.stringMax)) {
            _ = try StringValue(xdrBytes: [0xff, 0xff, 0xff, 0xff])
        }
        // Within the maximum but longer than the data.
        #expect(throws: XDRError.truncated(needed: 100, remaining: 4)) {
            _ = try StringValue(xdrBytes: [0, 0, 0, 100, 1, 2, 3, 4])
        }
        // An array count over its .x limit (REMOTE_AUTH_TYPE_LIST_MAX 20).
        #expect(throws: XDRError.lengthTooLarge(length: 21, max: 20)) {
            _ = try AuthListRet(xdrBytes: [0, 0, 0, 21])
        }
        // An array count within the limit but needing more bytes than remain.
        #expect(throws: XDRError.truncated(needed: 64, remaining: 0)) {
            _ = try ListDomainIDsRet(xdrBytes: [0, 0, 0, 16])
        }
        #expect(throws: XDRError.trailingBytes(4)) { _ = try Int32Args(xdrBytes: [0, 0, 0, 1, 0, 0, 0, 2]) }
        #expect(throws: XDRError.invalidBool(7)) {
            var r = XDRReader([0, 0, 0, 7])
            _ = try r.readBool()
        }
        #expect(throws: XDRError.invalidUTF8) { _ = try StringValue(xdrBytes: [0, 0, 0, 1, 0xff, 0, 0, 0]) }
    }

    @Test func writerRecordsOverflow() {
        var w = XDRWriter()
        w.writeString("abc", max: 2)
        #expect(w.overflow == .lengthTooLarge(length: 3, max: 2))
    }

    @Test func apiNamesFollowLibvirt() {
        #expect(Procedures.domainDefineXMLFlags.api == "virDomainDefineXMLFlags")
        #expect(Procedures.connectGetURI.api == "virConnectGetURI")
        #expect(Procedures.domainCreate.api == "virDomainCreate")
        #expect(Procedures.domainGetOSType.api == "virDomainGetOSType")
        #expect(Set(Procedures.all.map(\.number)).count == Procedures.all.count)
    }
}
