import Foundation
import Testing
import DomainXML
import Hypervisor
@testable import Storage

@Suite struct DirPoolTests {
    @Test func poolLifecycleOnDisk() async throws {
        let root = TempRoot()
        let m = StorageManager(root: root.path)
        let target = root.path + "/images"
        let ref = try await m.defineStoragePool(xml: """
        <pool type='dir'><name>p</name><target><path>\(target)</path><permissions><mode>0750</mode></permissions></target></pool>
        """, flags: 0)
        #expect(FileManager.default.fileExists(atPath: root.path + "/etc/storage/p.xml"))
        #expect(try await m.listAllStoragePools(flags: .inactive) == [ref])
        #expect(try await m.listAllStoragePools(flags: .active).isEmpty)
        #expect(try await m.storagePoolInfo(ref).state == .inactive)

        // Not built yet: libvirt's words.
        #expect(await errorText { try await m.startStoragePool(ref, flags: []) }
                == "cannot open directory '\(target)': No such file or directory")
        try await m.buildStoragePool(ref, flags: [])
        var st = stat()
        #expect(stat(target, &st) == 0 && st.st_mode & 0o7777 == 0o750)
        try await m.startStoragePool(ref, flags: [])
        #expect(await errorText { try await m.startStoragePool(ref, flags: []) }
                == "Requested operation is not valid: storage pool 'p' is already active")

        // Another process on the same root sees the same state.
        let other = StorageManager(root: root.path)
        #expect(try await other.storagePoolIsActive(ref))
        #expect(try await other.storagePoolIsPersistent(ref))
        let info = try await other.storagePoolInfo(ref)
        #expect(info.state == .running && info.capacity > 0 && info.capacity >= info.allocation + info.available / 2)
        let xml = try await other.storagePoolXML(ref, flags: [])
        #expect(xml.contains("<path>\(target)</path>") && xml.contains("<uuid>\(ref.uuid.uuidString.lowercased())</uuid>"))
        #expect(!xml.contains("<capacity unit='bytes'>0</capacity>"))

        try await m.setStoragePoolAutostart(ref, true)
        #expect(try await other.storagePoolAutostart(ref))
        #expect(try await other.listAllStoragePools(flags: .autostart) == [ref])
        #expect(try await other.listAllStoragePools(flags: .noAutostart).isEmpty)
        #expect(try await other.listAllStoragePools(flags: .fs).isEmpty)
        #expect(try await other.listAllStoragePools(flags: .dir) == [ref])

        #expect(await errorText { try await m.undefineStoragePool(ref) }
                == "Requested operation is not valid: storage pool 'p' is still active")
        #expect(await errorText { try await m.deleteStoragePool(ref, flags: 0) }
                == "Requested operation is not valid: storage pool 'p' is still active")
        try await other.destroyStoragePool(ref)
        #expect(try await m.storagePoolIsActive(ref) == false)
        #expect(await errorText { _ = try await m.listAllStorageVolumes(ref, flags: 0) }
                == "Requested operation is not valid: storage pool 'p' is not active")
        try await m.deleteStoragePool(ref, flags: 0)
        #expect(!FileManager.default.fileExists(atPath: target))
        try await m.undefineStoragePool(ref)
        #expect(!FileManager.default.fileExists(atPath: root.path + "/etc/storage/autostart/p.xml"))
        #expect(await errorText { _ = try await m.lookupStoragePool(name: "p") }
                == "Storage pool not found: no storage pool with matching name 'p'")
    }

    @Test func duplicatesAndRedefinition() async throws {
        let root = TempRoot()
        let m = StorageManager(root: root.path)
        let ref = try await m.defineStoragePool(xml: dirPoolXML("a", root.path + "/a"), flags: 0)
        // A redefinition carries the pool's uuid; without it, it clashes (libvirt's rule).
        let u = ref.uuid.uuidString.lowercased()
        let again = try await m.defineStoragePool(xml: dirPoolXML("a", root.path + "/a2", uuid: u), flags: 0)
        #expect(again == ref)
        #expect(try await m.storagePoolXML(ref, flags: .inactive).contains(root.path + "/a2"))
        let otherUUID = "c7a5fdbd-edaf-9455-926a-d65c16db1809"
        #expect(await errorText { _ = try await m.defineStoragePool(xml: dirPoolXML("a", root.path + "/x", uuid: otherUUID), flags: 0) }
                == "operation failed: pool 'a' already exists with uuid \(ref.uuid.uuidString.lowercased())")
        #expect(await errorText { _ = try await m.defineStoragePool(xml: dirPoolXML("a", root.path + "/a2"), flags: 0) }?
                    .hasPrefix("operation failed: pool 'a' already exists with uuid") == true)
        #expect(await errorText { _ = try await m.defineStoragePool(xml: dirPoolXML("b", root.path + "/b", uuid: u), flags: 0) }
                == "operation failed: pool 'a' is already defined with uuid \(u)")
        #expect(await errorText { _ = try await m.defineStoragePool(xml: dirPoolXML("c", root.path + "/a2"), flags: 0) }
                == "operation failed: Storage source conflict with pool: 'a'")
        #expect(try await m.lookupStoragePool(uuid: ref.uuid) == ref)
    }

    @Test func unsupportedAndBadPoolsAreRefusedCleanly() async throws {
        let root = TempRoot()
        let m = StorageManager(root: root.path)
        let nfs = "<pool type='netfs'><name>n</name><source><host name='h'/><dir path='/e'/></source><target><path>/mnt/n</path></target></pool>"
        let e = await errorText { _ = try await m.defineStoragePool(xml: nfs, flags: 0) }
        #expect(e?.contains("storage pool type 'netfs' is not supported yet") == true)
        let iscsi = "<pool type='iscsi'><name>i</name><source><host name='h'/><device path='iqn.x'/></source></pool>"
        #expect(await errorText { _ = try await m.createStoragePool(xml: iscsi, flags: []) }?.contains("'iscsi' is not supported yet") == true)
        #expect(await errorText { _ = try await m.defineStoragePool(xml: "<pool type='dir'><name>x</name></pool>", flags: 0) }
                == "XML error: missing storage pool target path")
        #expect(try await m.listAllStoragePools(flags: []).isEmpty)
        // A target that is a file.
        _ = FileManager.default.createFile(atPath: root.path + "/file", contents: Data([1]))
        let ref = try await m.defineStoragePool(xml: dirPoolXML("f", root.path + "/file"), flags: 0)
        #expect(await errorText { try await m.buildStoragePool(ref, flags: []) }
                == "cannot create path '\(root.path)/file': File exists and is not a directory")
        #expect(await errorText { try await m.startStoragePool(ref, flags: []) }
                == "cannot open directory '\(root.path)/file': Not a directory")
    }

    @Test func transientPoolVanishesOnDestroy() async throws {
        let root = TempRoot()
        let m = StorageManager(root: root.path)
        let ref = try await m.createStoragePool(xml: dirPoolXML("t", root.path + "/t"), flags: .build)
        #expect(try await m.storagePoolIsActive(ref))
        #expect(try await m.storagePoolIsPersistent(ref) == false)
        #expect(await errorText { try await m.setStoragePoolAutostart(ref, true) } == "internal error: cannot set autostart for transient pool")
        try await m.destroyStoragePool(ref)
        #expect(try await m.listAllStoragePools(flags: []).isEmpty)
    }

    @Test func defaultPoolOnFirstStart() async throws {
        let root = TempRoot()
        let m = StorageManager(root: root.path)
        #expect(try await m.defineDefaultPool())
        let ref = try await m.lookupStoragePool(name: "default")
        #expect(try await m.storagePoolAutostart(ref))
        #expect(try await m.storagePoolXML(ref, flags: .inactive).contains("<path>\(root.path)/lib/images</path>"))
        #expect(await m.autostartPools().isEmpty)
        #expect(try await m.storagePoolIsActive(ref))
        #expect(StorageFiles.isDirectory(root.path + "/lib/images"))
        // Once undefined by the user, it stays undefined.
        try await m.destroyStoragePool(ref)
        try await m.undefineStoragePool(ref)
        #expect(try await m.defineDefaultPool() == false)
    }
}
