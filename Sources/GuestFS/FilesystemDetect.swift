// blkid-like identification from superblocks only. Unknown or unsupported filesystems are named,
// never parsed further here.

public struct FilesystemSignature: Sendable, Equatable {
    /// "ext2", "ext3", "ext4", "jbd", "vfat", "iso9660", "xfs", "btrfs", "ntfs", "swap",
    /// "LVM2_member", or "unknown".
    public var type: String
    public var label: String?
    public var uuid: String?
}

/// Identifies what `device` holds by magic numbers. Read errors (a device too small for a given
/// signature) just mean that signature is absent.
public func detectFilesystem(_ device: any BlockDevice) -> FilesystemSignature {
    func bytes(_ offset: UInt64, _ count: Int) -> [UInt8]? {
        guard offset <= device.size, UInt64(count) <= device.size - offset else { return nil }
        return try? device.read(at: offset, count: count)
    }
    func text(_ b: [UInt8]) -> String? {
        let end = b.firstIndex(of: 0) ?? b.count
        let s = String(decoding: b[..<end], as: UTF8.self).trimmingSpaces()
        return s.isEmpty ? nil : s
    }
    func hex(_ b: some Collection<UInt8>) -> String {
        b.map { String($0, radix: 16, uppercase: true).leftPad(2) }.joined()
    }

    // LVM2 physical volume: "LABELONE" in one of the first four sectors.
    for sector: UInt64 in 0..<4 {
        if let l = bytes(sector * 512, 512), l[0..<8].elementsEqual("LABELONE".utf8),
           l[24..<32].elementsEqual("LVM2 001".utf8) {
            let pv = Int(l.le32(20))
            let raw = l.bytes(pv, 32)
            var uuid: String?
            if raw.count == 32 {
                // LVM prints its 32-character ids in groups of 6-4-4-4-4-4-6.
                var s = "", i = 0
                for (n, len) in [6, 4, 4, 4, 4, 4, 6].enumerated() {
                    if n > 0 { s += "-" }
                    s += String(decoding: raw[i..<(i + len)], as: UTF8.self); i += len
                }
                uuid = s
            }
            return FilesystemSignature(type: "LVM2_member", label: nil, uuid: uuid)
        }
    }
    for page: UInt64 in [4096, 8192, 16384, 65536] {
        if let m = bytes(page - 10, 10),
           m.elementsEqual("SWAPSPACE2".utf8) || m.elementsEqual("SWAP-SPACE".utf8) {
            let h = bytes(1024, 48) ?? []
            let uuid = h.bytes(12, 16)
            return FilesystemSignature(type: "swap", label: text(h.bytes(28, 16)),
                                       uuid: uuid.count == 16 && !uuid.allSatisfy { $0 == 0 } ? formatUUID(uuid) : nil)
        }
    }
    if let sb = bytes(Ext4Superblock.offset, 1024), sb.le16(0x38) == Ext4Superblock.magic,
       let parsed = try? Ext4Superblock(sb) {
        return FilesystemSignature(type: parsed.kind, label: parsed.label, uuid: parsed.uuidString)
    }
    if let sb = bytes(0, 512), sb[0..<4].elementsEqual("XFSB".utf8) {
        return FilesystemSignature(type: "xfs", label: text(sb.bytes(108, 12)), uuid: formatUUID(sb.bytes(32, 16)))
    }
    if let sb = bytes(0x10000, 0x1000), sb[0x40..<0x48].elementsEqual("_BHRfS_M".utf8) {
        return FilesystemSignature(type: "btrfs", label: text(sb.bytes(0x12B, 256)), uuid: formatUUID(sb.bytes(0x20, 16)))
    }
    if let boot = bytes(0, 512) {
        if boot[3..<11].elementsEqual("NTFS    ".utf8) {
            return FilesystemSignature(type: "ntfs", label: nil, uuid: hex(boot[0x48..<0x50].reversed()))
        }
        let signed = boot[510] == 0x55 && boot[511] == 0xAA
        let jump = boot[0] == 0xEB || boot[0] == 0xE9
        let fat16 = boot[54..<59].elementsEqual("FAT12".utf8) || boot[54..<59].elementsEqual("FAT16".utf8)
            || boot[54..<57].elementsEqual("FAT".utf8)
        let fat32 = boot[82..<87].elementsEqual("FAT32".utf8)
        if signed && jump && (fat16 || fat32) {
            let serial = fat32 ? boot.le32(67) : boot.le32(39)
            let s = String(serial >> 16, radix: 16, uppercase: true).leftPad(4) + "-"
                + String(serial & 0xFFFF, radix: 16, uppercase: true).leftPad(4)
            // Like blkid, the root directory's label entry wins over the boot sector's copy.
            let rootLabel = (try? FATFilesystem(device: device).rootDirectoryLabel()).flatMap { $0 }.flatMap(text)
            let bootLabel = text(fat32 ? boot.bytes(71, 11) : boot.bytes(43, 11))
            let label = rootLabel.flatMap { $0 == "NO NAME" ? nil : $0 } ?? bootLabel
            return FilesystemSignature(type: "vfat", label: label == "NO NAME" ? nil : label, uuid: s)
        }
    }
    if let pvd = bytes(0x8000, 2048), pvd[1..<6].elementsEqual("CD001".utf8) {
        // blkid's ISO "UUID" is the volume creation time, digits grouped as 2026-11-27-09-18-39-00.
        let date = pvd.bytes(813, 16)
        var uuid: String?
        if date.count == 16, date.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            let d = String(decoding: date, as: UTF8.self)
            var parts: [String] = []
            var i = d.startIndex
            for len in [4, 2, 2, 2, 2, 2, 2] {
                let j = d.index(i, offsetBy: len)
                parts.append(String(d[i..<j])); i = j
            }
            uuid = parts.joined(separator: "-")
        }
        return FilesystemSignature(type: "iso9660", label: text(pvd.bytes(40, 32)), uuid: uuid)
    }
    return FilesystemSignature(type: "unknown", label: nil, uuid: nil)
}

/// Opens a reader for the filesystem on `device`, or throws naming what was found instead.
public func openFilesystem(_ device: any BlockDevice) throws(GuestFSError) -> any Filesystem {
    let sig = detectFilesystem(device)
    switch sig.type {
    case "ext2", "ext3", "ext4": return try Ext4Filesystem(device: device)
    case "vfat": return try FATFilesystem(device: device)
    case "xfs": return try XFSFilesystem(device: device)
    case "iso9660": return try ISO9660Filesystem(device: device)
    default: throw GuestFSError("filesystem type \(sig.type) is not supported for reading")
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.last == " " { s.removeLast() }
        while s.first == " " { s.removeFirst() }
        return String(s)
    }
}
