import Foundation
import Testing
@testable import GuestFS

@Suite struct FilesystemDetectTests {
    func blkid(_ path: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for line in try ext4TestShell("blkid -p -o export \"$1\"", [path]).split(separator: "\n") {
            let kv = line.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { out[String(kv[0])] = String(kv[1]) }
        }
        return out
    }

    @Test func swapAndVfatAgreeWithBlkid() throws {
        let base = NSTemporaryDirectory() + "detect-\(getpid())"
        defer { for s in ["swap", "fat16", "fat32"] { try? FileManager.default.removeItem(atPath: "\(base).\(s)") } }
        try ext4TestShell("""
            set -e
            rm -f "$1.swap" "$1.fat16" "$1.fat32"
            truncate -s 8M "$1.swap" && mkswap -q -L swaplabel -U 11111111-2222-3333-4444-555555555555 "$1.swap"
            mkfs.vfat -C -n BOOTFS -i 1234ABCD "$1.fat16" 16384 >/dev/null
            mkfs.vfat -C -F 32 -n EFI -i 0BADF00D "$1.fat32" 40000 >/dev/null
            """, [base])
        for (suffix, type, label, uuid) in [
            ("swap", "swap", "swaplabel", "11111111-2222-3333-4444-555555555555"),
            ("fat16", "vfat", "BOOTFS", "1234-ABCD"), ("fat32", "vfat", "EFI", "0BAD-F00D"),
        ] {
            let path = "\(base).\(suffix)"
            let sig = detectFilesystem(try Ext4TestFileDevice(path: path))
            #expect(sig == FilesystemSignature(type: type, label: label, uuid: uuid), "\(suffix)")
            let b = try blkid(path)
            #expect(b["TYPE"] == type && b["LABEL"] == label && b["UUID"] == uuid, "blkid: \(b)")
        }
    }

    func image(_ size: Int, _ pokes: [(Int, [UInt8])]) -> Ext4TestMemoryDevice {
        var b = [UInt8](repeating: 0, count: size)
        for (at, bytes) in pokes { b.replaceSubrange(at..<(at + bytes.count), with: bytes) }
        return Ext4TestMemoryDevice(bytes: b)
    }

    @Test func signaturesByMagic() throws {
        let uuid: [UInt8] = Array(0x10...0x1F)
        let cases: [(Ext4TestMemoryDevice, FilesystemSignature)] = [
            (image(1 << 20, [(0x10040, Array("_BHRfS_M".utf8)), (0x10020, uuid), (0x1012B, Array("root".utf8))]),
             FilesystemSignature(type: "btrfs", label: "root", uuid: "10111213-1415-1617-1819-1a1b1c1d1e1f")),
            (image(4096, [(0, Array("XFSB".utf8)), (32, uuid), (108, Array("data".utf8))]),
             FilesystemSignature(type: "xfs", label: "data", uuid: "10111213-1415-1617-1819-1a1b1c1d1e1f")),
            (image(4096, [(0, [0xEB, 0x52, 0x90]), (3, Array("NTFS    ".utf8)),
                          (0x48, [0xEF, 0xCD, 0xAB, 0x89, 0x67, 0x45, 0x23, 0x01]), (510, [0x55, 0xAA])]),
             FilesystemSignature(type: "ntfs", label: nil, uuid: "0123456789ABCDEF")),
            (image(0x9000, [(0x8000, [1]), (0x8001, Array("CD001".utf8)), (0x8028, Array("INSTALL_CD   ".utf8)),
                            (0x8000 + 813, Array("2026112709183900".utf8))]),
             FilesystemSignature(type: "iso9660", label: "INSTALL_CD", uuid: "2026-11-27-09-18-39-00")),
            (image(4096, [(512, Array("LABELONE".utf8)), (512 + 20, [32, 0, 0, 0]), (512 + 24, Array("LVM2 001".utf8)),
                          (512 + 32, Array("abcdefghijklmnopqrstuvwxyz012345".utf8))]),
             FilesystemSignature(type: "LVM2_member", label: nil, uuid: "abcdef-ghij-klmn-opqr-stuv-wxyz-012345")),
            (image(4096, []), FilesystemSignature(type: "unknown", label: nil, uuid: nil)),
            (image(100, []), FilesystemSignature(type: "unknown", label: nil, uuid: nil)),
        ]
        for (dev, expected) in cases {
            #expect(detectFilesystem(dev) == expected)
        }
        // Recognised but unreadable filesystems are reported, never misread as something else.
        #expect(throws: GuestFSError("filesystem type btrfs is not supported for reading")) {
            try openFilesystem(cases[0].0)
        }
        // A bare XFS magic is sent to the XFS reader, which refuses the rest of the superblock.
        #expect(throws: GuestFSError("xfs: superblock version 0 is not supported (only 4 and 5)")) {
            try openFilesystem(cases[1].0)
        }
    }
}
