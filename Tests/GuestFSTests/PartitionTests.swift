import Foundation
import Testing
@testable import GuestFS

@Suite struct PartitionTests {
    /// Compares our table with `sfdisk --json` (number from the node name, start/size in sectors).
    func expectMatchesSfdisk(_ table: PartitionTable, json: [String: Any]) throws {
        let sector = UInt64(try #require(json["sectorsize"] as? Int))
        #expect(UInt64(table.sectorSize) == sector)
        let entries = try #require(json["partitions"] as? [[String: Any]])
        #expect(table.partitions.count == entries.count)
        for (p, e) in zip(table.partitions, entries) {
            let node = try #require(e["node"] as? String)
            #expect(node.hasSuffix("\(p.number)"))
            #expect(p.start == UInt64(try #require(e["start"] as? Int)) * sector)
            #expect(p.size == UInt64(try #require(e["size"] as? Int)) * sector)
            let type = try #require(e["type"] as? String)
            if table.scheme == .mbr {
                #expect(p.mbrType == UInt8(type, radix: 16))
                #expect(p.bootable == (e["bootable"] as? Bool ?? false))
            } else {
                #expect(p.gptType == type)
                #expect(p.gptGUID == e["uuid"] as? String)
                #expect(p.gptName == e["name"] as? String)
            }
        }
    }

    @Test func mbrWithLogicalPartitions() throws {
        let table = try #require(try PartitionTable.read(openImage(path: ImageFixtures.path("mbr.raw"))))
        #expect(table.scheme == .mbr && table.diskID == "0c0ffee0")
        #expect(table.partitions.map(\.number) == [1, 2, 3, 5, 6])
        #expect(table.partitions.map(\.isExtended) == [false, false, true, false, false])
        try expectMatchesSfdisk(table, json: ImageFixtures.json("mbr.sfdisk.json"))
    }

    @Test(arguments: ["gpt.raw", "gpt-512.qcow2", "gpt4k.raw"])
    func gpt(image: String) throws {
        if image == "gpt4k.raw" && !ImageFixtures.exists(image) {
            try #require(ImageFixtures.exists("lvm.how.txt"))
            return  // built without loop devices: no 4096-byte-sector disk to compare with
        }
        let table = try #require(try PartitionTable.read(openImage(path: ImageFixtures.path(image))))
        #expect(table.scheme == .gpt)
        let json = image == "gpt4k.raw" ? "gpt4k.sfdisk.json" : "gpt.sfdisk.json"
        try expectMatchesSfdisk(table, json: ImageFixtures.json(json))
        if image != "gpt4k.raw" {
            #expect(table.diskID == "11111111-2222-3333-4444-555555555555")
            #expect(table.partitions.map(\.gptName) == ["root fs", "EFI system", "data ünïcode"])
        }
    }

    @Test func namingAcrossDisks() throws {
        let guest = try GuestDisks.open([(ImageFixtures.path("mbr.qcow2"), nil), (ImageFixtures.path("gpt.raw"), .raw)])
        #expect(guest.disks.map(\.name) == ["/dev/sda", "/dev/sdb"])
        #expect(guest.partitions.map(\.name) == ["/dev/sda1", "/dev/sda2", "/dev/sda3", "/dev/sda5", "/dev/sda6",
                                                 "/dev/sdb1", "/dev/sdb2", "/dev/sdb3"])
        let raw = try ImageFixtures.bytes("mbr.raw")
        let p6 = try guest.device(named: "/dev/sda6")
        #expect(try readAll(p6) == Array(raw[(14336 * 512)..<(16384 * 512)]))
        #expect(throws: GuestFSError.self) { try guest.device(named: "/dev/sdc1") }
        // The extended container is not a filesystem candidate; unpartitioned disks are.
        #expect(!(try guest.filesystemCandidates().map(\.name).contains("/dev/sda3")))
        #expect([0, 25, 26, 701, 702].map(GuestDisks.diskName) == ["sda", "sdz", "sdaa", "sdzz", "sdaaa"])
    }

    // MARK: hostile tables

    /// An MBR whose extended partition's EBR links back to itself.
    @Test func extendedPartitionLoop() throws {
        var disk = [UInt8](repeating: 0, count: 1 << 20)
        disk[510] = 0x55; disk[511] = 0xaa
        disk[446 + 4] = 0x05; disk.putLE(100, at: 446 + 8, width: 4); disk.putLE(1000, at: 446 + 12, width: 4)
        let ebr = 100 * 512
        disk[ebr + 510] = 0x55; disk[ebr + 511] = 0xaa
        disk[ebr + 446 + 4] = 0x83; disk.putLE(1, at: ebr + 446 + 8, width: 4); disk.putLE(10, at: ebr + 446 + 12, width: 4)
        disk[ebr + 462 + 4] = 0x05; disk.putLE(0, at: ebr + 462 + 8, width: 4); disk.putLE(20, at: ebr + 462 + 12, width: 4)
        let error = #expect(throws: GuestFSError.self) { try PartitionTable.read(MemoryDevice(bytes: disk)) }
        #expect(error?.message.contains("loops") == true)
    }

    /// An EBR overwritten by data ends the logical chain, as in Linux; the primaries stay listed.
    @Test func unsignedExtendedBootRecordEndsTheChain() throws {
        var disk = try ImageFixtures.bytes("mbr.raw")
        disk[8192 * 512 + 510] = 0; disk[8192 * 512 + 511] = 0
        let table = try #require(try PartitionTable.read(MemoryDevice(bytes: disk)))
        #expect(table.partitions.map(\.number) == [1, 2, 3])
    }

    /// A whole-disk FAT: its boot sector ends in 55AA but has no partition entries.
    @Test func wholeDiskFATIsNotPartitioned() throws {
        let guest = try GuestDisks.open([(ImageFixtures.path("fat12.img"), .raw)])
        #expect(guest.disks[0].partitionTable == nil)
        #expect(try guest.filesystemCandidates().map(\.name) == ["/dev/sda"])
    }

    /// Patches the primary GPT header's entry count and re-signs it, with or without a usable backup.
    @Test(arguments: [false, true])
    func gptWithAbsurdEntryCount(keepBackup: Bool) throws {
        var disk = try ImageFixtures.bytes("gpt.raw")
        disk.putLE(0xffff_ffff, at: 512 + 80, width: 4)
        disk.putLE(0, at: 512 + 16, width: 4)
        disk.putLE(UInt64(crc32Of(Array(disk[512..<(512 + 92)]))), at: 512 + 16, width: 4)
        if !keepBackup {
            disk.replaceSubrange((disk.count - 512)..<disk.count, with: [UInt8](repeating: 0, count: 512))
            let error = #expect(throws: GuestFSError.self) { try PartitionTable.read(MemoryDevice(bytes: disk)) }
            #expect(error?.message.contains("exceed") == true)
        } else {
            let table = try #require(try PartitionTable.read(MemoryDevice(bytes: disk)))
            #expect(table.partitions.count == 3)
        }
    }

    @Test func gptHeaderCRCMismatchIsNamed() throws {
        var disk = try ImageFixtures.bytes("gpt.raw")
        disk[512 + 40] ^= 1
        disk.replaceSubrange((disk.count - 512)..<disk.count, with: [UInt8](repeating: 0, count: 512))
        let error = #expect(throws: GuestFSError.self) { try PartitionTable.read(MemoryDevice(bytes: disk)) }
        #expect(error?.message.contains("header CRC") == true)
    }
}
