import Foundation
import Hypervisor
import Testing
@testable import RemoteProtocol

/// Wire layouts of the storage, network and device structs, and every new procedure through
/// a real socket (RemoteDriver → corrald's dispatcher → an in-memory driver).
@Suite struct ObjectWireTests {
    let uuid = UUID(uuidString: "00112233-4455-6677-8899-AABBCCDDEEFF")!
    var uuidBytes: [UInt8] { [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff] }

    @Test func poolAndVolumeReferences() throws {
        let pool = StoragePoolRef(name: "default", uuid: uuid)
        #expect(pool.xdrBytes == [0, 0, 0, 7] + Array("default".utf8) + [0] + uuidBytes)
        let vol = StorageVolRef(pool: "p", name: "v.qcow2", key: "/k")
        #expect(vol.xdrBytes == [0, 0, 0, 1, 0x70, 0, 0, 0] + [0, 0, 0, 7] + Array("v.qcow2".utf8) + [0] + [0, 0, 0, 2, 0x2f, 0x6b, 0, 0])
        #expect(try StorageVolRef(xdrBytes: vol.xdrBytes) == vol)
        #expect(try StoragePoolRef(xdrBytes: pool.xdrBytes) == pool)
    }

    @Test func infoStructsUseFourBytesForCharFields() throws {
        let info = StoragePoolGetInfoRet(StoragePoolInfo(state: .running, capacity: 1, allocation: 2, available: 3))
        #expect(info.xdrBytes == [0, 0, 0, 2] + [0, 0, 0, 0, 0, 0, 0, 1] + [0, 0, 0, 0, 0, 0, 0, 2] + [0, 0, 0, 0, 0, 0, 0, 3])
        #expect(try StoragePoolGetInfoRet(xdrBytes: info.xdrBytes) == info)
        let vinfo = StorageVolGetInfoRet(StorageVolInfo(type: .block, capacity: 1 << 32, allocation: 5))
        #expect(vinfo.xdrBytes == [0, 0, 0, 1] + [0, 0, 0, 1, 0, 0, 0, 0] + [0, 0, 0, 0, 0, 0, 0, 5])
        // A volume type this build does not know is an error, not a guess.
        #expect(throws: XDRError.invalidDiscriminant(42)) { try StorageVolGetInfoRet(xdrBytes: [0, 0, 0, 42] + [UInt8](repeating: 0, count: 16)) }
    }

    @Test func transferArgsLayout() throws {
        let vol = StorageVolRef(pool: "", name: "", key: "")
        let a = StorageVolTransferArgs(vol, offset: 0x0102_0304_0506_0708, length: 9, flags: 1)
        #expect(a.xdrBytes == [UInt8](repeating: 0, count: 12) + [1, 2, 3, 4, 5, 6, 7, 8] + [0, 0, 0, 0, 0, 0, 0, 9] + [0, 0, 0, 1])
        #expect(try StorageVolTransferArgs(xdrBytes: a.xdrBytes) == a)
        #expect(StreamHole(length: 4096, flags: 0).xdrBytes == [0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0])
    }

    @Test func dhcpLeaseAndInterfaceAddresses() throws {
        let lease = NetworkDHCPLease(iface: "br", expiryTime: -1, type: .ipv4, mac: "m", ipaddr: "1.2.3.4", prefix: 24,
                                     hostname: nil, clientid: "c")
        let expected: [UInt8] = [0, 0, 0, 2, 0x62, 0x72, 0, 0] + [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff] + [0, 0, 0, 0]
            + [0, 0, 0, 1, 0, 0, 0, 1, 0x6d, 0, 0, 0] + [0, 0, 0, 0]
            + [0, 0, 0, 7] + Array("1.2.3.4".utf8) + [0] + [0, 0, 0, 24] + [0, 0, 0, 0] + [0, 0, 0, 1, 0, 0, 0, 1, 0x63, 0, 0, 0]
        #expect(lease.xdrBytes == expected)
        #expect(try NetworkDHCPLease(xdrBytes: expected) == lease)
        let ifaces = DomainInterfaceAddressesRet([DomainInterfaceAddresses(name: "vnet0", hwaddr: nil,
                                                                           addrs: [DomainIPAddress(type: .ipv6, addr: "::1", prefix: 128)])])
        #expect(try DomainInterfaceAddressesRet(xdrBytes: ifaces.xdrBytes) == ifaces)
        #expect(Array(ifaces.xdrBytes.prefix(4)) == [0, 0, 0, 1])
    }

    @Test func listsAreBounded() {
        // A count above REMOTE_STORAGE_POOL_LIST_MAX is refused before anything is allocated.
        #expect(throws: XDRError.lengthTooLarge(length: 16_385, max: 16_384)) {
            try ListAllStoragePoolsRet(xdrBytes: [0, 0, 0x40, 0x01, 0, 0, 0, 0])
        }
        #expect(throws: XDRError.lengthTooLarge(length: 2049, max: 2048)) {
            try DomainInterfaceAddressesRet(xdrBytes: [0, 0, 0x08, 0x01])
        }
        // A count within the limit but beyond the bytes present is truncation, not a crash.
        #expect(throws: XDRError.self) { try NetworkGetDHCPLeasesRet(xdrBytes: [0, 0, 0x10, 0, 0, 0, 0, 0]) }
    }

    @Test func procedureTableHasLibvirtNumbersAndReadOnlyRules() {
        let byName = Dictionary(Procedures.all.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(Set(Procedures.all.map(\.number)).count == Procedures.all.count)
        let expected: [(String, Int32, Bool)] = [
            ("STORAGE_POOL_CREATE", 78, false), ("STORAGE_POOL_LOOKUP_BY_NAME", 84, true), ("STORAGE_VOL_UPLOAD", 208, false),
            ("STORAGE_VOL_DOWNLOAD", 209, false), ("CONNECT_LIST_ALL_STORAGE_POOLS", 281, true),
            ("STORAGE_POOL_LIST_ALL_VOLUMES", 282, true), ("CONNECT_LIST_ALL_NETWORKS", 283, true),
            ("NETWORK_GET_DHCP_LEASES", 341, true), ("DOMAIN_ATTACH_DEVICE_FLAGS", 160, false),
            ("DOMAIN_UPDATE_DEVICE_FLAGS", 174, false), ("DOMAIN_INTERFACE_ADDRESSES", 353, true),
            ("STORAGE_VOL_GET_INFO_FLAGS", 378, true), ("CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY", 368, true),
            ("CONNECT_NETWORK_EVENT_REGISTER_ANY", 313, true),
        ]
        for (name, number, ro) in expected {
            #expect(byName[name]?.number == number, "\(name)")
            #expect(byName[name]?.readOnly == ro, "\(name)")
        }
        #expect(byName["NETWORK_GET_DHCP_LEASES"]?.api == "virNetworkGetDHCPLeases")
        // Every declared procedure has a handler.
        let table = RemoteServer.standardTable()
        for p in Procedures.all where p.number != Procedures.domainEventCallbackLifecycle.number {
            #expect(table.handler(p.number) != nil, "\(p.name) has no handler")
        }
    }
}

@Suite struct ObjectProcedureTests {
    func withServer(_ body: (RemoteDriver, FakeObjectsDriver) async throws -> Void) async throws {
        let driver = FakeObjectsDriver()
        let server = try await InProcessServer(driver: driver)
        let d = try await server.connect(keepalive: nil)
        do { try await body(d, driver) } catch { await d.close(); await server.stop(); throw error }
        await d.close()
        await server.stop()
    }

    @Test func poolsThroughTheWire() async throws {
        try await withServer { d, fake in
            let p = try await d.defineStoragePool(xml: "<pool type='dir'><name>images</name></pool>", flags: 0)
            #expect(p.name == "images")
            try await d.buildStoragePool(p, flags: .noOverwrite)
            #expect(try await !d.storagePoolIsActive(p))
            try await d.startStoragePool(p, flags: [])
            let (active, persistent) = (try await d.storagePoolIsActive(p), try await d.storagePoolIsPersistent(p))
            #expect(active && persistent)
            #expect(try await d.listAllStoragePools(flags: .active) == [p])
            #expect(try await d.listAllStoragePools(flags: .inactive) == [])
            #expect(try await d.lookupStoragePool(uuid: p.uuid) == p)
            #expect(try await d.storagePoolInfo(p).state == .running)
            #expect(try await d.storagePoolXML(p, flags: .inactive).contains("<name>images</name>"))
            try await d.setStoragePoolAutostart(p, true)
            #expect(try await d.storagePoolAutostart(p))
            try await d.refreshStoragePool(p, flags: 0)
            let t = try await d.createStoragePool(xml: "<pool><name>scratch</name></pool>", flags: [])
            let (tActive, tPersistent) = (try await d.storagePoolIsActive(t), try await d.storagePoolIsPersistent(t))
            #expect(tActive && !tPersistent)
            try await d.destroyStoragePool(p)
            try await d.deleteStoragePool(p, flags: 0)
            try await d.undefineStoragePool(p)
            #expect(await fake.store.calls == ["build images 4", "refresh images", "delete images"])
            // The driver's error comes back with its code and message.
            await #expect(throws: VirError.noStoragePool(name: "images")) { try await d.lookupStoragePool(name: "images") }
        }
    }

    @Test func volumesThroughTheWire() async throws {
        try await withServer { d, _ in
            let p = try await d.createStoragePool(xml: "<pool><name>p</name></pool>", flags: [])
            let v = try await d.createStorageVolume(p, xml: "<volume><name>a.img</name></volume>", flags: [])
            #expect(v == StorageVolRef(pool: "p", name: "a.img", key: "/pools/p/a.img"))
            #expect(try await d.listAllStorageVolumes(p, flags: 0) == [v])
            #expect(try await d.lookupStorageVolume(pool: p, name: "a.img") == v)
            #expect(try await d.lookupStorageVolume(key: v.key) == v)
            #expect(try await d.lookupStorageVolume(path: "/pools/p/a.img") == v)
            #expect(try await d.lookupStoragePool(volume: v) == p)
            #expect(try await d.storageVolumePath(v) == "/pools/p/a.img")
            try await d.resizeStorageVolume(v, capacity: 4096, flags: [])
            #expect(try await d.storageVolumeInfo(v) == StorageVolInfo(type: .file, capacity: 4096, allocation: 4096))
            #expect(try await d.storageVolumeXML(v, flags: 0).contains("a.img"))
            let c = try await d.createStorageVolume(p, xml: "<volume><name>b.img</name></volume>", from: v, flags: [])
            #expect(try await d.storageVolumeInfo(c).capacity == 4096)
            try await d.wipeStorageVolume(c, algorithm: .zero, flags: 0)
            // Another algorithm goes through WIPE_PATTERN and reaches the driver, which refuses it.
            await #expect(throws: VirError.self) { try await d.wipeStorageVolume(c, algorithm: .random, flags: 0) }
            try await d.deleteStorageVolume(c, flags: [])
            #expect(try await d.listAllStorageVolumes(p, flags: 0).map(\.name) == ["a.img"])
        }
    }

    /// 5 MiB (20 STREAM packets of libvirt's 256 KiB chunk) up and back down, byte for byte.
    @Test func uploadAndDownloadLargeData() async throws {
        try await withServer { d, fake in
            let p = try await d.createStoragePool(xml: "<pool><name>p</name></pool>", flags: [])
            let v = try await d.createStorageVolume(p, xml: "<volume><name>big</name></volume>", flags: [])
            // Random blocks, so a misplaced or repeated chunk cannot compare equal.
            let block = (0..<4096).map { _ in UInt8.random(in: 0...255) }
            var data: [UInt8] = []
            for i in 0..<(5 << 8) { data += block; data[data.count - 1] = UInt8(truncatingIfNeeded: i) }
            let up = try await d.uploadStorageVolume(v, offset: 0, length: 0, flags: [])
            for start in stride(from: 0, to: data.count, by: 1_000_000) {
                try await up.write(Array(data[start..<min(data.count, start + 1_000_000)]))
            }
            try await up.finish()
            #expect(try await fake.store.content(v) == data)

            let down = try await d.downloadStorageVolume(v, offset: 0, length: 0, flags: [])
            var got: [UInt8] = []
            while let chunk = try await down.read() { got += chunk }
            try await down.finish()
            #expect(got.count == data.count && got == data)

            // A window: offset and length reach the driver.
            let part = try await d.downloadStorageVolume(v, offset: 100, length: 50, flags: .sparseStream)
            var window: [UInt8] = []
            while let chunk = try await part.read() { window += chunk }
            try await part.finish()
            #expect(window == Array(data[100..<150]))
            // The connection is still good for calls.
            #expect(try await d.storageVolumeInfo(v).capacity == UInt64(data.count))
        }
    }

    @Test func uploadAbortAndInStreamErrors() async throws {
        try await withServer { d, fake in
            let p = try await d.createStoragePool(xml: "<pool><name>p</name></pool>", flags: [])
            let v = try await d.createStorageVolume(p, xml: "<volume><name>v</name></volume>", flags: [])
            // close() without finish() aborts: the server closes the driver's stream instead of
            // finishing it (this fake only stores on finish).
            let aborted = try await d.uploadStorageVolume(v, offset: 0, length: 0, flags: [])
            try await aborted.write([1, 2, 3])
            await aborted.close()
            #expect(try await d.storageVolumeInfo(v).capacity == 0)

            // A write the driver refuses comes back in-stream: later writes or the finish fail
            // with the driver's message, and nothing is committed.
            let limited = try await d.uploadStorageVolume(v, offset: 0, length: 4, flags: [])
            var failure: VirError?
            do {
                try await limited.write([1, 2, 3, 4, 5])
                for _ in 0..<200 { try await limited.write([0]); try await Task.sleep(for: .milliseconds(5)) }
                try await limited.finish()
            } catch let e as VirError { failure = e }
            #expect(failure?.message == "invalid argument: upload exceeds the requested length")
            #expect(try await fake.store.content(v) == [])

            // A commit that fails is the finish's error.
            let tooBig = try await d.uploadStorageVolume(v, offset: 65 << 20, length: 0, flags: [])
            try await tooBig.write([1])
            await #expect(throws: VirError(.operationFailed, "operation failed: volume full")) { try await tooBig.finish() }

            // Opening a transfer on a missing volume is the call's error.
            await #expect(throws: VirError.self) {
                _ = try await d.uploadStorageVolume(StorageVolRef(pool: "p", name: "nope", key: "x"), offset: 0, length: 0, flags: [])
            }
            #expect(try await d.storageVolumeInfo(v).capacity == 0)
        }
    }

    @Test func networksThroughTheWire() async throws {
        try await withServer { d, _ in
            let n = try await d.defineNetwork(xml: "<network><name>lab</name></network>", flags: 0)
            #expect(try await d.listAllNetworks(flags: .inactive) == [n])
            try await d.startNetwork(n)
            let (nActive, nPersistent) = (try await d.networkIsActive(n), try await d.networkIsPersistent(n))
            #expect(nActive && nPersistent)
            #expect(try await d.lookupNetwork(name: "lab") == n)
            #expect(try await d.lookupNetwork(uuid: n.uuid) == n)
            #expect(try await d.networkBridgeName(n) == "virbr9")
            #expect(try await d.networkXML(n, flags: []).contains("<name>lab</name>"))
            try await d.setNetworkAutostart(n, true)
            #expect(try await d.networkAutostart(n))
            #expect(try await d.networkDHCPLeases(n, mac: nil) == FakeStore.leases)
            #expect(try await d.networkDHCPLeases(n, mac: "52:54:00:dd:ee:ff").map(\.ipaddr) == ["fd00::10"])
            let t = try await d.createNetwork(xml: "<network><name>tmp</name></network>", flags: 1)
            #expect(try await !d.networkIsPersistent(t))
            try await d.destroyNetwork(n)
            try await d.undefineNetwork(n)
            await #expect(throws: VirError.noNetwork(name: "lab")) { try await d.lookupNetwork(name: "lab") }
        }
    }

    @Test func deviceChangesAndAddresses() async throws {
        try await withServer { d, fake in
            let dom = try await d.lookupDomain(name: "test")
            try await d.attachDevice(dom, xml: "<disk/>", flags: [.live, .config])
            try await d.detachDevice(dom, xml: "<interface/>", flags: .config)
            try await d.updateDevice(dom, xml: "<disk device='cdrom'/>", flags: .force)
            #expect(await fake.store.calls == ["attach test 3 <disk/>", "detach test 2 <interface/>", "update test 4 <disk device='cdrom'/>"])
            let a = try await d.interfaceAddresses(dom, source: .arp, flags: 0)
            #expect(a == [DomainInterfaceAddresses(name: "vnet0", hwaddr: "52:54:00:aa:bb:cc",
                                                   addrs: [DomainIPAddress(type: .ipv4, addr: "192.168.122.12", prefix: 24)])])
        }
    }
}

/// Packet-level checks against the dispatcher: legacy calls, read-only refusals, holes,
/// event registrations.
@Suite struct ObjectDispatchTests {
    @Test func legacyListsAndReadOnly() async throws {
        var c = Client(driver: FakeObjectsDriver())
        try await c.open()
        let p = try await c.call(Procedures.storagePoolDefineXML, XMLFlagsArgs("<pool><name>a</name></pool>")).object
        _ = try await c.call(Procedures.storagePoolCreateXML, XMLFlagsArgs("<pool><name>b</name></pool>"))
        #expect(try await c.call(Procedures.connectNumOfStoragePools, XDRVoid()).value == 1)
        #expect(try await c.call(Procedures.connectListStoragePools, Int32Args(10)).names == ["b"])
        #expect(try await c.call(Procedures.connectListDefinedStoragePools, Int32Args(10)).names == ["a"])
        #expect(try await c.call(Procedures.connectListDefinedStoragePools, Int32Args(0)).names == [])
        await #expect(throws: VirError.self) { _ = try await c.call(Procedures.connectListStoragePools, Int32Args(100_000)) }
        _ = try await c.call(Procedures.storageVolCreateXML, ObjectXMLFlagsArgs(p, xml: "<volume><name>v</name></volume>"))
        #expect(try await c.call(Procedures.storagePoolNumOfVolumes, StoragePoolArgs(p)).value == 1)
        #expect(try await c.call(Procedures.storagePoolListVolumes, ObjectIntArgs(p, 5)).names == ["v"])
        let counted = try await c.call(Procedures.connectListAllStoragePools, ListAllObjectsArgs(needResults: 0, flags: 0))
        #expect(counted.objects.isEmpty && counted.ret == 2)
        _ = try await c.call(Procedures.networkDefineXML, StringValue("<network><name>n</name></network>"))
        #expect(try await c.call(Procedures.connectNumOfDefinedNetworks, XDRVoid()).value == 1)
        #expect(try await c.call(Procedures.connectListDefinedNetworks, Int32Args(3)).names == ["n"])
        #expect(try await c.call(Procedures.connectListNetworks, Int32Args(3)).names == [])

        var ro = Client(driver: FakeObjectsDriver(), readOnly: true)
        try await ro.open()
        #expect(try await ro.call(Procedures.connectListAllStoragePools, ListAllObjectsArgs(flags: 0)).ret == 0)
        await #expect(throws: VirError.readOnly("virStoragePoolDefineXML")) {
            _ = try await ro.call(Procedures.storagePoolDefineXML, XMLFlagsArgs("<pool><name>x</name></pool>"))
        }
        let vol = StorageVolRef(pool: "a", name: "v", key: "k")
        await #expect(throws: VirError.readOnly("virStorageVolDownload")) {
            _ = try await ro.call(Procedures.storageVolDownload, StorageVolTransferArgs(vol, offset: 0, length: 0))
        }
        let dom = try await ro.call(Procedures.domainLookupByName, StringValue("test")).dom
        await #expect(throws: VirError.readOnly("virDomainAttachDeviceFlags")) {
            _ = try await ro.call(Procedures.domainAttachDeviceFlags, DomainDeviceFlagsArgs(dom, xml: "<disk/>"))
        }
        // Lease and ARP addresses are queries; the agent talks to the guest and is refused.
        #expect(try await ro.call(Procedures.domainInterfaceAddresses, DomainInterfaceAddressesArgs(dom, source: 0)).ifaces.count == 1)
        await #expect(throws: VirError.self) {
            _ = try await ro.call(Procedures.domainInterfaceAddresses, DomainInterfaceAddressesArgs(dom, source: 1))
        }
        await #expect(throws: VirError.self) {
            _ = try await ro.call(Procedures.domainInterfaceAddresses, DomainInterfaceAddressesArgs(dom, source: 7))
        }
    }

    @Test func plainAttachMeansLive() async throws {
        let driver = FakeObjectsDriver()
        var c = Client(driver: driver)
        try await c.open()
        let dom = try await c.call(Procedures.domainLookupByName, StringValue("test")).dom
        _ = try await c.call(Procedures.domainAttachDevice, DomainDeviceArgs(dom, "<a/>"))
        _ = try await c.call(Procedures.domainDetachDevice, DomainDeviceArgs(dom, "<b/>"))
        #expect(await driver.store.calls == ["attach test 1 <a/>", "detach test 1 <b/>"])
    }

    @Test func sparseUploadHolesBecomeZeros() async throws {
        let driver = FakeObjectsDriver()
        var c = Client(driver: driver)
        try await c.open()
        let p = try await c.call(Procedures.storagePoolCreateXML, XMLFlagsArgs("<pool><name>p</name></pool>")).object
        let v = try await c.call(Procedures.storageVolCreateXML, ObjectXMLFlagsArgs(p, xml: "<volume><name>v</name></volume>")).object
        func upload(flags: UInt32) async throws -> UInt32 {
            let r = try await c.rawCall(Procedures.storageVolUpload.number, StorageVolTransferArgs(v, offset: 0, length: 0, flags: flags).xdrBytes)
            #expect(r.header.status == .ok)
            return r.header.serial
        }
        func packet(_ serial: UInt32, _ type: RPCMessageType, _ status: RPCStatus, _ payload: [UInt8] = []) -> RPCMessage {
            RPCMessage(header: RPCHeader(program: RPCProgram.remote, version: 1, procedure: 208, type: type, serial: serial, status: status),
                       payload: payload)
        }
        let s = try await upload(flags: 1)
        await c.session.receive(packet(s, .stream, .continue, [7, 7]))
        await c.session.receive(packet(s, .streamHole, .continue, StreamHole(length: 3_000_000).xdrBytes))
        await c.session.receive(packet(s, .stream, .continue, [9]))
        await c.session.receive(packet(s, .stream, .ok))
        let ok = await c.outbox.wait { $0.header.serial == s && $0.header.type == .stream }
        #expect(ok?.header.status == .ok)
        let stored = try await driver.store.content(v)
        #expect(stored.count == 3_000_003 && stored.prefix(2) == [7, 7] && stored.last == 9)
        #expect(stored[2..<3_000_002].allSatisfy { $0 == 0 })

        // Without the sparse flag a hole is a protocol error, reported in-stream; the later
        // finish repeats the error and commits nothing.
        let plain = try await upload(flags: 0)
        await c.session.receive(packet(plain, .stream, .continue, [1]))
        await c.session.receive(packet(plain, .streamHole, .continue, StreamHole(length: 5).xdrBytes))
        let err = try #require(await c.outbox.wait { $0.header.serial == plain && $0.header.type == .stream })
        #expect(err.header.status == .error)
        #expect(try RemoteError(xdrBytes: err.payload).message == "Unexpected stream hole")
        await c.session.receive(packet(plain, .stream, .ok))
        try await Task.sleep(for: .milliseconds(50))
        #expect(try await driver.store.content(v).count == 3_000_003)
    }

    @Test func objectEventRegistrationsAreAccepted() async throws {
        var c = Client(driver: FakeObjectsDriver())
        try await c.open()
        let n = try await c.call(Procedures.connectNetworkEventRegisterAny, NetworkEventRegisterArgs(eventID: 0, net: nil)).value
        let p = try await c.call(Procedures.connectStoragePoolEventRegisterAny, StoragePoolEventRegisterArgs(eventID: 1, pool: nil)).value
        #expect(n != p)
        // A pool callback cannot be deregistered as a network one.
        await #expect(throws: VirError.self) { _ = try await c.call(Procedures.connectNetworkEventDeregisterAny, Int32Args(p)) }
        _ = try await c.call(Procedures.connectNetworkEventDeregisterAny, Int32Args(n))
        _ = try await c.call(Procedures.connectStoragePoolEventDeregisterAny, Int32Args(p))
        await #expect(throws: VirError.self) { _ = try await c.call(Procedures.connectStoragePoolEventDeregisterAny, Int32Args(p)) }
        await #expect(throws: VirError.self) {
            _ = try await c.call(Procedures.connectStoragePoolEventRegisterAny, StoragePoolEventRegisterArgs(eventID: 9, pool: nil))
        }
    }
}
