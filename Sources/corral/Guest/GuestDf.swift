import ArgumentParser
import Foundation
import GuestFS

// `corral guest df`: virt-df. Every filesystem libguestfs would list (not swap, PVs or unknown
// contents) that a reader can open, in list-filesystems order, with statvfs numbers printed as
// virt-df prints them. Filesystems that cannot be opened are skipped, as virt-df skips those
// that fail to mount.

struct GuestDf: GuestSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "df", abstract: "Display free space on guest filesystems (virt-df).",
        helpNames: [.long])

    @OptionGroup var disks: GuestDiskOptions

    @Flag(name: [.customShort("h"), .customLong("human-readable")], help: "Print sizes in human-readable format.")
    var human = false

    @Flag(name: .customLong("csv"), help: "Output as Comma-Separated Values.")
    var csv = false

    @Flag(name: [.customShort("i"), .customLong("inodes")], help: "Display inodes.")
    var inodes = false

    @Flag(name: .customLong("uuid"), help: "Print UUIDs instead of names (only domains listed from libvirt have them, so -a and -d print names, as virt-df does).")
    var uuid = false

    @Flag(name: .customLong("one-per-guest"), help: "Accepted for compatibility (the default).")
    var onePerGuest = false

    @Option(name: .customShort("P"), help: "Accepted for compatibility (filesystems are read in-process).")
    var threads: Int?

    func validate() throws {
        // As virt-df (RHBZ#600977): spreadsheets would corrupt human-readable sizes.
        if human && csv { throw ValidationError("you cannot use -h and --csv options together.") }
    }

    func run(globalURI: String?, out: GuestOutput) async throws {
        let images = try await disks.images(globalURI: globalURI)
        let guest = try GuestDisks.open(images)
        let inspector = GuestInspector(disks: guest)
        var rows: [(device: String, usage: FilesystemUsage)] = []
        for fs in try Self.listFilesystems(inspector) where !["", "swap", "unknown"].contains(fs.type) {
            do {
                rows.append((fs.device, try inspector.open(fs.device).statfs()))
            } catch {
                if disks.verbose { GuestOutput.error("df", "\(fs.device): skipped: \(error.message)") }
            }
        }
        out.write(title())
        let name = displayName(images.map(\.path))
        for row in rows { out.write(line(name: name, device: row.device, row.usage)) }
    }

    /// One entry of libguestfs's list-filesystems.
    struct Listed {
        var device: String
        var type: String
        var label: String?
        var uuid: String?
        var size: UInt64
    }

    /// list-filesystems' order: partitions and whole disks, then LVs sorted by VG and LV name (the
    /// order `lvs` prints them in). LVs we cannot map (striped, missing PVs) are listed as
    /// "unknown", as libguestfs lists an LV whose contents blkid does not recognise.
    static func listFilesystems(_ inspector: GuestInspector) throws(GuestFSError) -> [Listed] {
        let all = try inspector.filesystems().map {
            Listed(device: $0.device, type: $0.signature.type, label: $0.signature.label, uuid: $0.signature.uuid, size: $0.size)
        }
        var lvs: [Listed] = []
        for vg in inspector.disks.volumeGroups {
            for lv in vg.logicalVolumes {
                lvs.append(all.first { $0.device == lv.path } ?? Listed(device: lv.path, type: "unknown", size: lv.size))
            }
        }
        let lvPaths = Set(lvs.map(\.device))
        return all.filter { !lvPaths.contains($0.device) } + lvs.sorted { $0.device < $1.device }
    }

    /// virt-df's name for a single guest: the domain, or the first image's file name with a "+"
    /// for each further disk.
    func displayName(_ paths: [String]) -> String {
        if let domain = disks.domain { return domain }
        let first = paths.first.map { $0.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? $0 } ?? ""
        return first + String(repeating: "+", count: max(paths.count - 1, 0))
    }

    func title() -> String {
        let cols = inodes ? ["Inodes", "IUsed", "IFree", "IUse%"]
                          : [human ? "Size" : "1K-blocks", "Used", "Available", "Use%"]
        if csv { return (["VirtualMachine", "Filesystem"] + cols).map(GuestTable.csvField).joined(separator: ",") + "\n" }
        return "Filesystem".padding(toLength: 36, withPad: " ", startingAt: 0)
            + GuestTable.right(cols[0], 10) + " " + GuestTable.right(cols[1], 10) + " "
            + GuestTable.right(cols[2], 10) + " " + GuestTable.right(cols[3], 5) + "\n"
    }

    func line(name: String, device: String, _ s: FilesystemUsage) -> String {
        var cols: [String]
        // virt-df keeps the percentage in a C float.
        let percent: Float
        if !inodes {
            let used = s.blocks >= s.freeBlocks ? s.blocks - s.freeBlocks : 0
            if human {
                cols = [s.blocks, used, s.availableBlocks].map { GuestTable.human($0, unit: s.blockSize) }
            } else {
                cols = [s.blocks, used, s.availableBlocks].map { String(Self.scale($0, from: s.blockSize)) }
            }
            percent = s.blocks != 0 ? Float(100.0 - 100.0 * Double(s.freeBlocks) / Double(s.blocks)) : 0
        } else {
            let used = s.files >= s.freeFiles ? s.files - s.freeFiles : 0
            cols = [String(s.files), String(used), String(s.freeFiles)]
            percent = s.files != 0 ? Float(100.0 - 100.0 * Double(s.freeFiles) / Double(s.files)) : 0
        }
        if csv {
            cols.append(String(format: "%.1f", Double(percent)))
            return ([name, device] + cols).map(GuestTable.csvField).joined(separator: ",") + "\n"
        }
        // df rounds the percentage up.
        cols.append(String(format: "%3.0f%%", Double(percent).rounded(.up)))
        let label = name + ":" + device
        let width = label.utf8.count
        let padded = width <= 36 ? label + String(repeating: " ", count: 36 - width)
                                 : label + "\n" + String(repeating: " ", count: 36)
        return padded + GuestTable.right(cols[0], 10) + " " + GuestTable.right(cols[1], 10) + " "
            + GuestTable.right(cols[2], 10) + " " + GuestTable.right(cols[3], 5) + "\n"
    }

    /// Blocks of `from` bytes as 1K blocks, truncating as virt-df's scale() does.
    static func scale(_ n: UInt64, from: UInt64) -> UInt64 {
        if from >= 1024 {
            let (v, overflow) = n.multipliedReportingOverflow(by: from / 1024)
            return overflow ? UInt64.max : v
        }
        return from == 0 ? 0 : n / (1024 / from)
    }
}

/// Output helpers shared by the df and filesystems subcommands: libguestfs's CSV quoting and
/// gnulib's human_readable() as the virt-* tools call it.
enum GuestTable {
    /// Quoted only when it contains a space, quote, newline or comma; quotes doubled.
    static func csvField(_ field: String) -> String {
        guard field.contains(where: { $0 == " " || $0 == "\"" || $0 == "\n" || $0 == "," }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Right-aligned in `width` bytes, as printf's %Ns.
    static func right(_ s: String, _ width: Int) -> String {
        let n = s.utf8.count
        return n >= width ? s : String(repeating: " ", count: width - n) + s
    }

    /// gnulib human_readable(n, human_round_to_nearest | human_autoscale | human_base_1024 |
    /// human_SI, from_block_size: unit, to_block_size: 1): powers of 1024 with a K/M/G... suffix
    /// and no "B", one decimal below 10 ("2.0K", "1.9M", "940K"), ties rounded to even.
    static func human(_ n: UInt64, unit: UInt64 = 1) -> String {
        let letters: [Character] = ["K", "M", "G", "T", "P", "E", "Z", "Y"]
        let (product, overflow) = n.multipliedReportingOverflow(by: max(unit, 1))
        guard !overflow else {
            // Beyond 16 EiB: gnulib switches to long double; one decimal of the scaled value suffices.
            var v = Double(n) * Double(unit)
            var e = 0
            while v >= 1024 && e < letters.count { v /= 1024; e += 1 }
            return String(format: v < 10 ? "%.1f" : "%.0f", v) + (e > 0 ? String(letters[e - 1]) : "")
        }
        var amt = product
        var tenths: UInt64 = 0
        // 0: exact; 1: below a half tenth; 2: exactly a half; 3: above a half.
        var rounding: UInt64 = 0
        var exponent = 0
        var fraction = ""
        if amt >= 1024 {
            repeat {
                let r10 = (amt % 1024) * 10 + tenths
                let r2 = (r10 % 1024) * 2 + (rounding >> 1)
                amt /= 1024
                tenths = r10 / 1024
                rounding = r2 < 1024 ? (r2 + rounding != 0 ? 1 : 0) : 2 + (1024 < r2 + rounding ? 1 : 0)
                exponent += 1
            } while amt >= 1024 && exponent < letters.count
            if amt < 10 {
                if 2 < rounding + (tenths & 1) {
                    tenths += 1
                    rounding = 0
                    if tenths == 10 { amt += 1; tenths = 0 }
                }
                if amt < 10 {
                    fraction = "." + String(tenths)
                    tenths = 0; rounding = 0
                }
            }
        }
        if 5 < tenths + (0 < rounding + (amt & 1) ? 1 : 0) {
            amt += 1
            if amt == 1024 && exponent < letters.count && exponent > 0 {
                exponent += 1
                fraction = ".0"
                amt = 1
            }
        }
        return String(amt) + fraction + (exponent > 0 ? String(letters[exponent - 1]) : "")
    }
}
