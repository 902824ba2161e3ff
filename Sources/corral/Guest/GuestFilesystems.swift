import ArgumentParser
import Foundation
import GuestFS

// `corral guest filesystems`: virt-filesystems. Rows per kind in virt-filesystems' order
// (filesystems, LVs, VGs, PVs, partitions, block devices), its columns, its text layout (columns
// padded to the widest cell, "-" for empty cells) and its CSV.

struct GuestFilesystems: GuestSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "filesystems", abstract: "List filesystems, partitions, block devices and LVM (virt-filesystems).",
        helpNames: [.long])

    @OptionGroup var disks: GuestDiskOptions

    @Flag(name: .customLong("all"), help: "Display everything.") var all = false
    @Flag(name: [.customLong("blkdevs"), .customLong("block-devices")], help: "Display block devices.") var blockDevices = false
    @Flag(name: [.customLong("partitions"), .customLong("parts")], help: "Display partitions.") var partitions = false
    @Flag(name: .customLong("filesystems"), help: "Display mountable filesystems.") var filesystems = false
    @Flag(name: .customLong("extra"), help: "Display swap and data filesystems.") var extra = false
    @Flag(name: [.customLong("lvs"), .customLong("logvols"), .customLong("logical-volumes")], help: "Display LVM logical volumes.") var lvs = false
    @Flag(name: [.customLong("vgs"), .customLong("volgroups"), .customLong("volume-groups")], help: "Display LVM volume groups.") var vgs = false
    @Flag(name: [.customLong("pvs"), .customLong("physvols"), .customLong("physical-volumes")], help: "Display LVM physical volumes.") var pvs = false
    @Flag(name: [.customShort("l"), .customLong("long")], help: "Long output.") var long = false
    @Flag(name: [.customShort("h"), .customLong("human-readable")], help: "Human-readable sizes in --long output.") var human = false
    @Flag(name: .customLong("csv"), help: "Output as Comma-Separated Values.") var csv = false
    @Flag(name: [.customLong("uuid"), .customLong("uuids")], help: "Add UUIDs to --long output.") var uuid = false
    @Flag(name: .customLong("no-title"), help: "No title in --long output.") var noTitle = false

    func validate() throws {
        if human && csv { throw ValidationError("you cannot use -h and --csv options together.") }
    }

    /// One column of the long output, in display order.
    enum Column: CaseIterable { case name, type, vfsType, vfsLabel, mbr, size, parents, uuid }

    struct Row {
        var name: String
        var type: String
        var vfsType: String?
        var vfsLabel: String?
        var mbr: UInt8?
        var size: UInt64?
        var parents: [String] = []
        var uuid: String?
    }

    func run(globalURI: String?, out: GuestOutput) async throws {
        let guest = try await disks.open(globalURI: globalURI)
        let inspector = GuestInspector(disks: guest)
        // No selection means --filesystems; --extra implies it.
        let showFS = all || filesystems || extra || !(blockDevices || partitions || lvs || vgs || pvs)
        let columns = self.columns(showFS: showFS)
        var rows: [Row] = []
        if showFS { rows += try filesystemRows(inspector, extra: all || extra, columns: columns) }
        let groups = guest.volumeGroups.sorted { $0.name < $1.name }
        if all || lvs {
            for vg in groups {
                for lv in vg.logicalVolumes.sorted(by: { $0.name < $1.name }) {
                    rows.append(Row(name: lv.path, type: "lv", size: lv.size, parents: ["/dev/\(vg.name)"], uuid: lv.uuid))
                }
            }
        }
        if all || vgs {
            // virt-filesystems 1.48 prints the first PV of `pvs` once per PV here (its PV uuid
            // comparison never matches); these are the VG's actual PVs.
            for vg in groups {
                rows.append(Row(name: "/dev/\(vg.name)", type: "vg", size: vg.size,
                                parents: vg.physicalVolumes.map { $0.device ?? $0.uuid }, uuid: vg.uuid.filter { $0 != "-" }))
            }
        }
        if all || pvs {
            // `pvs` lists PVs sorted by device name.
            let present = groups.flatMap { vg in vg.physicalVolumes.compactMap { pv in pv.device.map { (pv, $0, vg.extentSize) } } }
            for (pv, device, extentSize) in present.sorted(by: { $0.1 < $1.1 }) {
                rows.append(Row(name: device, type: "pv", size: pv.extentCount &* extentSize, uuid: pv.uuid))
            }
        }
        if all || partitions {
            for p in guest.partitions {
                let mbr = p.disk.partitionTable?.scheme == .mbr ? p.partition.mbrType : nil
                var size = p.partition.size
                if p.partition.isExtended {
                    // Linux maps only the start of an extended partition (its first EBR): two
                    // 512-byte sectors, or one sector of a 4096-byte-sector disk.
                    size = min(size, UInt64(max(p.disk.partitionTable?.sectorSize ?? 512, 1024)))
                }
                rows.append(Row(name: p.name, type: "partition", mbr: mbr, size: size, parents: [p.disk.name]))
            }
        }
        if all || blockDevices {
            for d in guest.disks { rows.append(Row(name: d.name, type: "device", size: d.device.size)) }
        }
        write(rows, columns: columns, title: long && !noTitle, to: out)
    }

    func columns(showFS: Bool) -> [Column] {
        guard long else { return [.name] }
        return Column.allCases.filter {
            switch $0 {
            case .vfsType, .vfsLabel: showFS
            case .mbr: all || partitions
            case .uuid: uuid
            default: true
            }
        }
    }

    private func filesystemRows(_ inspector: GuestInspector, extra: Bool, columns: [Column]) throws(GuestFSError) -> [Row] {
        var rows: [Row] = []
        for fs in try GuestDf.listFilesystems(inspector) {
            if !extra && (fs.type == "swap" || fs.type == "unknown") { continue }
            var row = Row(name: fs.device, type: "filesystem", vfsType: fs.type, vfsLabel: fs.label ?? "", uuid: fs.uuid ?? "")
            if columns.contains(.size) {
                // As virt-filesystems: the mounted filesystem's statvfs size, else the device's size.
                if let s = try? inspector.open(fs.device).statfs() {
                    row.size = s.blocks &* s.blockSize
                } else {
                    row.size = fs.size
                }
            }
            rows.append(row)
        }
        return rows
    }

    private func cells(_ row: Row, _ columns: [Column]) -> [String?] {
        columns.map { column -> String? in
            switch column {
            case .name: row.name
            case .type: row.type
            case .vfsType: row.vfsType
            case .vfsLabel: row.vfsLabel
            case .mbr: row.mbr.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }
            case .size: row.size.map { human ? GuestTable.human($0) : String($0) }
            case .parents: row.parents.joined(separator: ",")
            case .uuid: row.uuid
            }
        }
    }

    private func write(_ rows: [Row], columns: [Column], title: Bool, to out: GuestOutput) {
        var table: [[String?]] = []
        if title {
            let headings: [Column: String] = [.name: "Name", .type: "Type", .vfsType: "VFS", .vfsLabel: "Label",
                                              .mbr: "MBR", .size: "Size", .parents: "Parent", .uuid: "UUID"]
            table.append(columns.map { headings[$0] })
        }
        table += rows.map { cells($0, columns) }
        if csv {
            for cells in table {
                out.write(cells.map { $0.map(GuestTable.csvField) ?? "" }.joined(separator: ",") + "\n")
            }
            return
        }
        // Widths in bytes; an empty cell prints as "-"; a column with no cell at all is left out.
        var widths = [Int](repeating: 0, count: columns.count)
        for cells in table {
            for (i, cell) in cells.enumerated() {
                if let cell { widths[i] = max(widths[i], max(cell.utf8.count, 1)) }
            }
        }
        // Two spaces between columns unless the widest rows would pass 72 characters (counted over
        // all eight possible columns, as virt-filesystems does).
        let gap = widths.reduce(0, +) + 2 * Column.allCases.count > 72 ? 1 : 2
        for cells in table {
            var line = ""
            var pending = 0
            for (i, cell) in cells.enumerated() where widths[i] > 0 {
                line += String(repeating: " ", count: pending)
                let text = cell.flatMap { $0.isEmpty ? nil : $0 } ?? "-"
                line += text
                pending = widths[i] - text.utf8.count + gap
            }
            out.write(line + "\n")
        }
    }
}
