/// LVM2 physical volume label (in one of sectors 0-3) and the metadata it points to.
public struct LVMPhysicalVolume: Sendable {
    /// The 32-character PV UUID without dashes, as in the label.
    public var uuid: String
    public var deviceSize: UInt64
    /// The most recent metadata text of the first usable metadata area, if the PV has one.
    public var metadataText: String?

    static let labelMagic = Array("LABELONE".utf8)
    static let typeMagic = Array("LVM2 001".utf8)
    static let mdaMagic = Array(" LVM2 x[5A%r0N*>".utf8)
    static let mdaHeaderSize: UInt64 = 512
    static let maxMetadataText: UInt64 = 4 << 20

    /// The PV on `device`, or nil if it carries no LVM2 label.
    public static func read(_ device: any BlockDevice) throws(GuestFSError) -> LVMPhysicalVolume? {
        guard device.size >= 2048 else { return nil }
        let head = try device.read(at: 0, count: 2048)
        for sector in 0..<4 {
            let o = sector * 512
            let s = Array(head[o..<(o + 512)])
            guard s.starts(with: labelMagic), Array(s[24..<32]) == typeMagic else { continue }
            let b = ImageBytes(s)
            guard b.le64(8) == UInt64(sector) else { continue }
            return try parse(label: s, device: device)
        }
        return nil
    }

    private static func parse(label s: [UInt8], device: any BlockDevice) throws(GuestFSError) -> LVMPhysicalVolume {
        let b = ImageBytes(s)
        let h = Int(b.le32(20))
        guard h >= 32, h <= 512 - 40 - 32 else { throw GuestFSError("LVM: PV header offset \(h) invalid") }
        let uuid = String(decoding: s[h..<(h + 32)], as: UTF8.self)
        let deviceSize = b.le64(h + 32)
        // Two lists of (offset, size) disk locations, each ending in a zero pair: data areas, then
        // metadata areas. Both must end inside the label sector.
        var lists: [[(offset: UInt64, size: UInt64)]] = [[], []]
        var o = h + 40
        for list in 0..<2 {
            while true {
                guard o + 16 <= 512 else { throw GuestFSError("LVM: PV \(uuid): area list overruns the label sector") }
                let offset = b.le64(o), size = b.le64(o + 8)
                o += 16
                if offset == 0 && size == 0 { break }
                lists[list].append((offset, size))
            }
        }
        var text: String?
        for mda in lists[1] {
            if let t = try metadata(device, offset: mda.offset, size: mda.size, uuid: uuid) { text = t; break }
        }
        return LVMPhysicalVolume(uuid: uuid, deviceSize: deviceSize, metadataText: text)
    }

    /// Reads the current metadata from a metadata area: a 512-byte header, then a circular text buffer.
    private static func metadata(_ device: any BlockDevice, offset mdaStart: UInt64, size mdaSize: UInt64,
                                 uuid: String) throws(GuestFSError) -> String? {
        guard mdaSize > mdaHeaderSize, mdaStart <= device.size, mdaSize <= device.size - mdaStart else {
            throw GuestFSError("LVM: PV \(uuid): metadata area (\(mdaSize) bytes at \(mdaStart)) beyond end of device")
        }
        let header = try device.read(at: mdaStart, count: Int(mdaHeaderSize))
        guard Array(header[4..<20]) == mdaMagic else {
            throw GuestFSError("LVM: PV \(uuid): metadata area at \(mdaStart) has a bad magic")
        }
        let b = ImageBytes(header)
        // The first raw location is the committed metadata; flag 1 marks an ignored area.
        let offset = b.le64(40), size = b.le64(48), flags = b.le32(60)
        if offset == 0 || size == 0 || flags & 1 != 0 { return nil }
        guard offset >= mdaHeaderSize, offset < mdaSize, size <= mdaSize - mdaHeaderSize, size <= maxMetadataText else {
            throw GuestFSError("LVM: PV \(uuid): metadata text (\(size) bytes at \(offset)) does not fit its area")
        }
        let first = min(size, mdaSize - offset)
        var bytes = try device.read(at: mdaStart + offset, count: Int(first))
        if first < size {  // wrapped: the rest follows the header
            bytes += try device.read(at: mdaStart + mdaHeaderSize, count: Int(size - first))
        }
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }
}

/// A volume group assembled from the PVs found on some devices.
public struct VolumeGroup: Sendable {
    public var name: String
    public var uuid: String
    public var seqno: Int64
    /// Bytes per extent.
    public var extentSize: UInt64
    public var logicalVolumes: [LogicalVolume]
    /// PV uuids (without dashes) named in the metadata that no scanned device carries.
    public var missingPVs: [String]
    /// The VG's PVs in metadata order (virt-filesystems --vgs/--pvs).
    public var physicalVolumes: [PhysicalVolume] = []

    public struct PhysicalVolume: Sendable {
        /// 32 characters, without dashes.
        public var uuid: String
        /// Our name for the device carrying it (`/dev/sda2`), nil when missing.
        public var device: String?
        public var extentCount: UInt64
        /// Bytes before the first extent.
        public var peStart: UInt64
    }

    /// Bytes in all extents of all PVs (LVM's vg_size).
    public var size: UInt64 {
        physicalVolumes.reduce(0) { $0 &+ $1.extentCount &* extentSize }
    }
}

public struct LogicalVolume: Sendable {
    public var vgName: String
    public var name: String
    /// `/dev/VG/LV`, as libguestfs names it.
    public var path: String { "/dev/\(vgName)/\(name)" }
    public var size: UInt64
    public var segments: [Segment]
    /// The LV's id as the metadata spells it, with dashes (what `lvs -o lv_uuid` and libguestfs's
    /// lvuuid print).
    public var uuid: String = ""

    public struct Segment: Sendable {
        public var startExtent: UInt64
        public var extentCount: UInt64
        public var type: String
        /// (PV key in the metadata, e.g. "pv0"; first physical extent) per stripe.
        public var stripes: [(pv: String, extent: UInt64)]
    }

    let extentSize: UInt64
    let pvs: [String: PVLocation]

    struct PVLocation: Sendable {
        var device: (any BlockDevice)?
        var uuid: String
        var peStart: UInt64
    }

    /// The LV's bytes. Linear LVs (striped with one stripe, any number of segments) are supported.
    public func open() throws(GuestFSError) -> any BlockDevice {
        var pieces: [LVDevice.Piece] = []
        var next: UInt64 = 0
        for (i, seg) in segments.enumerated() {
            let label = "LVM: LV \(vgName)/\(name) segment \(i + 1)"
            guard seg.type == "striped" || seg.type == "linear" else {
                throw GuestFSError("\(label) has type \"\(seg.type)\", which is not supported")
            }
            guard seg.stripes.count == 1 else {
                throw GuestFSError("\(label) is striped over \(seg.stripes.count) stripes, which is not supported")
            }
            guard seg.startExtent == next else { throw GuestFSError("\(label) starts at extent \(seg.startExtent), expected \(next)") }
            let stripe = seg.stripes[0]
            guard let pv = pvs[stripe.pv] else { throw GuestFSError("\(label) names unknown PV \"\(stripe.pv)\"") }
            guard let device = pv.device else { throw GuestFSError("\(label) needs PV \(pv.uuid), which was not found") }
            let (length, o1) = seg.extentCount.multipliedReportingOverflow(by: extentSize)
            let (pvOffset, o2) = stripe.extent.multipliedReportingOverflow(by: extentSize)
            let (start, o3) = pv.peStart.addingReportingOverflow(pvOffset)
            guard !o1, !o2, !o3, start <= device.size, length <= device.size - start else {
                throw GuestFSError("\(label) maps extents beyond the end of PV \(pv.uuid)")
            }
            pieces.append(.init(lvOffset: next * extentSize, length: length, device: device, deviceOffset: start))
            next += seg.extentCount
        }
        return LVDevice(size: size, pieces: pieces)
    }
}

/// A linear LV: consecutive pieces of PVs.
struct LVDevice: BlockDevice {
    struct Piece: Sendable {
        var lvOffset: UInt64, length: UInt64
        var device: any BlockDevice
        var deviceOffset: UInt64
    }
    let size: UInt64
    let pieces: [Piece]

    func read(at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] {
        guard count >= 0, offset <= size, UInt64(count) <= size - offset else {
            throw GuestFSError("LVM: read of \(count) bytes at \(offset) past the end of a \(size)-byte LV")
        }
        var out: [UInt8] = []
        out.reserveCapacity(count)
        var pos = offset
        let end = offset + UInt64(count)
        for piece in pieces where pos < end && pos < piece.lvOffset + piece.length {
            guard pos >= piece.lvOffset else { continue }
            let n = min(end, piece.lvOffset + piece.length) - pos
            out += try piece.device.read(at: piece.deviceOffset + (pos - piece.lvOffset), count: Int(n))
            pos += n
        }
        guard pos == end else { throw GuestFSError("LVM: LV has no mapping for offset \(pos)") }
        return out
    }
}

public enum LVM {
    /// Finds PVs among `devices` and assembles their volume groups. Devices without an LVM label
    /// are skipped; a label with unreadable metadata throws.
    public static func scan(_ devices: [GuestDevice]) throws(GuestFSError) -> [VolumeGroup] {
        var pvDevices: [String: any BlockDevice] = [:]
        var pvNames: [String: String] = [:]
        // Newest metadata per VG uuid (every PV may hold a copy).
        var newest: [String: (seqno: Int64, name: String, vg: LVMSection)] = [:]
        for named in devices {
            let top: LVMSection
            do {
                guard let pv = try LVMPhysicalVolume.read(named.device) else { continue }
                pvDevices[pv.uuid] = named.device
                pvNames[pv.uuid] = named.name
                guard let text = pv.metadataText else { continue }
                top = try LVMSection.parse(text)
            } catch {
                throw GuestFSError("\(named.name): \(error.message)")
            }
            for entry in top.entries {
                guard let vg = entry.value.section, vg["physical_volumes"] != nil,
                      let id = vg["id"]?.string else { continue }
                let seqno = vg["seqno"]?.number ?? 0
                if let have = newest[id], have.seqno >= seqno { continue }
                newest[id] = (seqno, entry.key, vg)
            }
        }
        var groups: [VolumeGroup] = []
        for (id, found) in newest.sorted(by: { $0.value.name < $1.value.name }) {
            groups.append(try assemble(name: found.name, uuid: id, seqno: found.seqno, vg: found.vg, pvDevices: pvDevices, pvNames: pvNames))
        }
        return groups
    }

    private static func assemble(name: String, uuid: String, seqno: Int64, vg: LVMSection,
                                 pvDevices: [String: any BlockDevice], pvNames: [String: String]) throws(GuestFSError) -> VolumeGroup {
        guard let sectors = vg["extent_size"]?.number, sectors > 0, sectors <= 1 << 32 else {
            throw GuestFSError("LVM: VG \(name): extent_size missing or invalid")
        }
        let extentSize = UInt64(sectors) * 512
        var pvs: [String: LogicalVolume.PVLocation] = [:]
        var missing: [String] = []
        var list: [VolumeGroup.PhysicalVolume] = []
        for entry in vg["physical_volumes"]?.section?.entries ?? [] {
            guard let pv = entry.value.section, let id = pv["id"]?.string,
                  let peStart = pv["pe_start"]?.number, peStart >= 0, peStart < 1 << 54 else {
                throw GuestFSError("LVM: VG \(name): physical volume \(entry.key) lacks id or pe_start")
            }
            let uuid = id.filter { $0 != "-" }
            if pvDevices[uuid] == nil { missing.append(uuid) }
            let peCount = pv["pe_count"]?.number ?? 0
            list.append(.init(uuid: uuid, device: pvNames[uuid], extentCount: peCount > 0 && peCount < 1 << 40 ? UInt64(peCount) : 0,
                              peStart: UInt64(peStart) * 512))
            pvs[entry.key] = .init(device: pvDevices[uuid], uuid: uuid, peStart: UInt64(peStart) * 512)
        }
        var lvs: [LogicalVolume] = []
        for entry in vg["logical_volumes"]?.section?.entries ?? [] {
            guard let lv = entry.value.section else { continue }
            // Hidden LVs are internal parts (thin pool data, raid images) that libguestfs does not list either.
            let status = lv["status"]?.array?.compactMap(\.string) ?? []
            guard status.contains("VISIBLE") else { continue }
            var segments: [LogicalVolume.Segment] = []
            var total: UInt64 = 0
            for segEntry in lv.entries {
                guard segEntry.key.hasPrefix("segment"), let seg = segEntry.value.section else { continue }
                guard let start = seg["start_extent"]?.number, let count = seg["extent_count"]?.number,
                      start >= 0, count >= 0, count < 1 << 40, let type = seg["type"]?.string else {
                    throw GuestFSError("LVM: LV \(name)/\(entry.key) \(segEntry.key) lacks start_extent, extent_count or type")
                }
                var stripes: [(pv: String, extent: UInt64)] = []
                let list = seg["stripes"]?.array ?? []
                var i = 0
                while i + 1 < list.count {
                    guard let pv = list[i].string, let pe = list[i + 1].number, pe >= 0 else {
                        throw GuestFSError("LVM: LV \(name)/\(entry.key) \(segEntry.key): malformed stripes")
                    }
                    stripes.append((pv, UInt64(pe)))
                    i += 2
                }
                segments.append(.init(startExtent: UInt64(start), extentCount: UInt64(count), type: type, stripes: stripes))
                total += UInt64(count)
            }
            segments.sort { $0.startExtent < $1.startExtent }
            let (size, overflow) = total.multipliedReportingOverflow(by: extentSize)
            guard !overflow else { throw GuestFSError("LVM: LV \(name)/\(entry.key) is impossibly large") }
            lvs.append(LogicalVolume(vgName: name, name: entry.key, size: size, segments: segments,
                                     uuid: lv["id"]?.string ?? "", extentSize: extentSize, pvs: pvs))
        }
        return VolumeGroup(name: name, uuid: uuid, seqno: seqno, extentSize: extentSize, logicalVolumes: lvs, missingPVs: missing,
                           physicalVolumes: list)
    }
}
