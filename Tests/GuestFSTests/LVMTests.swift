import Foundation
import Testing
@testable import GuestFS

@Suite struct LVMTests {
    @Test func volumeGroupAcrossTwoDisks() throws {
        let guest = try GuestDisks.open([(ImageFixtures.path("lvm-a.raw"), nil), (ImageFixtures.path("lvm-b.raw"), nil)])
        let vg = try #require(guest.volumeGroups.first)
        #expect(guest.volumeGroups.count == 1 && vg.name == "corralvg" && vg.missingPVs.isEmpty)
        #expect(vg.extentSize == 1 << 20)
        #expect(vg.logicalVolumes.map(\.path) == ["/dev/corralvg/root", "/dev/corralvg/data", "/dev/corralvg/stripes"])

        // root: two segments on the first PV in reverse order; data: spans both PVs.
        #expect(try readAll(guest.device(named: "/dev/corralvg/root")) == ImageFixtures.bytes("lvroot.expected"))
        #expect(try readAll(guest.device(named: "/dev/mapper/corralvg-data")) == ImageFixtures.bytes("lvdata.expected"))
        let error = #expect(throws: GuestFSError.self) { try guest.device(named: "/dev/corralvg/stripes") }
        #expect(error?.message.contains("striped over 2 stripes") == true)
        #expect(try guest.filesystemCandidates().map(\.name) == ["/dev/corralvg/root", "/dev/corralvg/data"])
    }

    @Test func pvsInPartitionsOfAQcow2Disk() throws {
        let guest = try GuestDisks.open([(ImageFixtures.path("mbr-lvm.qcow2"), nil)])
        #expect(guest.volumeGroups.map(\.name) == ["corralvg"])
        #expect(try readAll(guest.device(named: "/dev/corralvg/root")) == ImageFixtures.bytes("lvroot.expected"))
        #expect(try readAll(guest.device(named: "/dev/corralvg/data")) == ImageFixtures.bytes("lvdata.expected"))
        // PVs hold no filesystem of their own.
        #expect(try guest.filesystemCandidates().map(\.name) == ["/dev/corralvg/root", "/dev/corralvg/data"])
    }

    @Test func missingPVIsReportedWhenAnLVNeedsIt() throws {
        let guest = try GuestDisks.open([(ImageFixtures.path("lvm-a.raw"), nil)])
        let vg = try #require(guest.volumeGroups.first)
        #expect(vg.missingPVs.count == 1)
        #expect(try readAll(guest.device(named: "/dev/corralvg/root")) == ImageFixtures.bytes("lvroot.expected"))
        let error = #expect(throws: GuestFSError.self) { try guest.device(named: "/dev/corralvg/data") }
        #expect(error?.message.contains("was not found") == true)
    }

    @Test func metadataSyntax() throws {
        let text = """
        # comment
        vg1 {
            id = "abc-def"   # trailing comment
            seqno = 3
            status = ["READ", "WRITE"]
            nested { deeper { n = -5 } }
            quoted = "a \\"b\\""
        }
        """
        let top = try LVMSection.parse(text)
        let vg = try #require(top["vg1"]?.section)
        #expect(vg["id"] == .string("abc-def") && vg["seqno"] == .number(3))
        #expect(vg["status"] == .array([.string("READ"), .string("WRITE")]))
        #expect(vg["nested"]?.section?["deeper"]?.section?["n"] == .number(-5))
        #expect(vg["quoted"] == .string("a \"b\""))
        for bad in ["vg {", "vg }", "x = [1, 2", "x = \"open", "x = [[1]]", "= 3", String(repeating: "a {", count: 100)] {
            #expect(throws: GuestFSError.self, "\(bad)") { try LVMSection.parse(bad) }
        }
    }

    /// A hand-built PV whose metadata text wraps around the end of the circular metadata area.
    @Test func metadataWrapsAroundTheCircularBuffer() throws {
        var disk = [UInt8](repeating: 0, count: 64 << 10)
        let uuid = "ABCDEFabcdef0123456789ABCDEFabcd"
        // Label in sector 1, PV header at offset 32 of it.
        let label = 512
        disk.replaceSubrange(label..<(label + 8), with: Array("LABELONE".utf8))
        disk.putLE(1, at: label + 8, width: 8)
        disk.putLE(32, at: label + 20, width: 4)
        disk.replaceSubrange((label + 24)..<(label + 32), with: Array("LVM2 001".utf8))
        disk.replaceSubrange((label + 32)..<(label + 64), with: Array(uuid.utf8))
        disk.putLE(UInt64(disk.count), at: label + 64, width: 8)
        disk.putLE(32 << 10, at: label + 72, width: 8)   // data area
        // (zero pair), then the metadata area at 4096, 8 KiB long
        disk.putLE(4096, at: label + 104, width: 8); disk.putLE(8192, at: label + 112, width: 8)
        let mda = 4096, mdaSize = 8192
        disk.replaceSubrange((mda + 4)..<(mda + 20), with: Array(" LVM2 x[5A%r0N*>".utf8))
        disk.putLE(UInt64(mda), at: mda + 24, width: 8); disk.putLE(UInt64(mdaSize), at: mda + 32, width: 8)
        let text = Array("""
        wrapped { id = "vg-id" seqno = 9 extent_size = 8 physical_volumes { pv0 { id = "\(uuid)" pe_start = 64 pe_count = 4 } }
        logical_volumes { lv { status = ["VISIBLE"] segment1 { start_extent = 0 extent_count = 2 type = "striped" stripe_count = 1 stripes = ["pv0", 1] } } } }
        """.utf8) + [0]
        let textOffset = mdaSize - 100  // the first 100 bytes at the end, the rest after the header
        disk.putLE(UInt64(textOffset), at: mda + 40, width: 8); disk.putLE(UInt64(text.count), at: mda + 48, width: 8)
        disk.replaceSubrange((mda + textOffset)..<(mda + mdaSize), with: text[0..<100])
        disk.replaceSubrange((mda + 512)..<(mda + 512 + text.count - 100), with: text[100...])
        // LV data: extent 1 of the data area (pe_start 64 sectors, extents of 8 sectors).
        for i in 0..<(2 * 4096) { disk[32768 + 4096 + i] = UInt8(i % 251) }

        let pv = try #require(try LVMPhysicalVolume.read(MemoryDevice(bytes: disk)))
        #expect(pv.uuid == uuid)
        let vg = try #require(try LVM.scan([GuestDevice(name: "/dev/sda", device: MemoryDevice(bytes: disk))]).first)
        #expect(vg.name == "wrapped" && vg.seqno == 9)
        let lv = try #require(vg.logicalVolumes.first).open()
        #expect(try readAll(lv) == (0..<(2 * 4096)).map { UInt8($0 % 251) })
    }
}
