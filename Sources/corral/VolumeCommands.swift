import ArgumentParser
import DomainXML
import Foundation
import Hypervisor

// vol-create, vol-create-as, vol-create-from, vol-clone, vol-list, vol-info, vol-dumpxml,
// vol-path, vol-name, vol-key, vol-pool, vol-resize, vol-wipe, vol-delete.
// A volume is given by name (with --pool), key or path, as in virsh.

/// A volume argument with virsh's optional --pool: `vol-info NAME --pool P`, `vol-info PATH`.
struct VolumeArgument: ParsableArguments {
    @Argument(help: "Volume name, key or path.") var vol: String?
    @Option(name: .customLong("vol"), help: .hidden) var volOption: String?
    @Option(help: "Pool name or uuid.") var pool: String?

    func validate() throws {
        if vol == nil && volOption == nil { throw ValidationError("missing <vol> argument (name, key or path)") }
        if vol != nil && volOption != nil { throw ValidationError("the volume is given twice") }
    }

    var value: String { volOption ?? vol ?? "" }

    @MainActor
    func lookup(_ shell: Shell) async throws -> StorageVolRef {
        try await shell.volume(value, pool: pool)
    }
}

/// A volume given by key or path only (vol-name, vol-pool: commands without --pool).
struct VolumeKeyArgument: ParsableArguments {
    @Argument(help: "Volume key or path.") var vol: String?
    @Option(name: .customLong("vol"), help: .hidden) var volOption: String?

    func validate() throws {
        if vol == nil && volOption == nil { throw ValidationError("missing <vol> argument (key or path)") }
        if vol != nil && volOption != nil { throw ValidationError("the volume is given twice") }
    }

    var value: String { volOption ?? vol ?? "" }
}

struct VolCreate: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "vol-create", abstract: "create a vol from an XML file")
    @Argument(help: "Pool name or uuid, then the file containing an XML vol description.") var words: [String] = []
    @Option(name: .customLong("pool"), help: .hidden) var poolOption: String?
    @Option(name: .customLong("file"), help: .hidden) var fileOption: String?
    @Flag(name: .customLong("prealloc-metadata"), help: "Preallocate metadata (for qcow2 instead of full allocation).") var preallocMetadata = false
    @Flag(name: .customLong("validate"), help: "Validate the XML against the schema.") var validateXML = false

    func args() throws -> (pool: String, file: String) {
        let v = try fillPositionals(words, [("pool", poolOption), ("file", fileOption)], required: 2)
        return (v[0] ?? "", v[1] ?? "")
    }

    func validate() throws { _ = try args() }

    func execute(_ shell: Shell) async throws {
        let (poolText, file) = try args()
        var flags: StorageVolCreateFlags = []
        if preallocMetadata { flags.insert(.preallocMetadata) }
        if validateXML { flags.insert(.validate) }
        let pool = try await shell.pool(poolText)
        let xml = try readXMLFile(file)
        let vol = try await attempt("Failed to create vol from \(file)") {
            try await shell.connection().createStorageVolume(pool, xml: xml, flags: flags)
        }
        shell.extra("Vol \(vol.name) created from \(file)\n")
    }
}

struct VolCreateAs: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "vol-create-as", abstract: "create a volume from a set of args")
    @Argument(parsing: .allUnrecognized, help: "Pool name or uuid, volume name, capacity (scaled integer, default bytes).")
    var words: [String] = []
    @Option(name: .customLong("pool"), help: .hidden) var poolOption: String?
    @Option(name: .customLong("name"), help: .hidden) var nameOption: String?
    @Option(name: .customLong("capacity"), help: .hidden) var capacityOption: String?
    @Option(help: "Initial allocation size, as scaled integer (default bytes).") var allocation: String?
    @Option(help: "File format type raw,bochs,qcow,qcow2,qed,vmdk.") var format: String?
    @Option(name: .customLong("backing-vol"), help: "The backing volume if taking a snapshot.") var backingVol: String?
    @Option(name: .customLong("backing-vol-format"), help: "Format of backing volume if taking a snapshot.") var backingVolFormat: String?
    @Flag(name: .customLong("prealloc-metadata"), help: "Preallocate metadata (for qcow2 instead of full allocation).") var preallocMetadata = false
    @Flag(name: .customLong("print-xml"), help: "Print XML document, but don't define/create.") var printXML = false

    func args() throws -> (pool: String, name: String, capacity: String) {
        try rejectUnknownOptions(words)
        let v = try fillPositionals(words, [("pool", poolOption), ("name", nameOption), ("capacity", capacityOption)], required: 3)
        return (v[0] ?? "", v[1] ?? "", v[2] ?? "")
    }

    func validate() throws { _ = try args() }

    func execute(_ shell: Shell) async throws {
        let (poolText, name, capacityText) = try args()
        let conn = try await shell.connection()
        let pool = try await shell.pool(poolText)
        let capacity = try ScaledInteger.size(capacityText)
        let allocationBytes = try allocation.map { try ScaledInteger.size($0) }

        let e = xmlEscape
        var xml = "<volume>\n  <name>\(e(name))</name>\n  <capacity>\(capacity)</capacity>\n"
        if let allocationBytes { xml += "  <allocation>\(allocationBytes)</allocation>\n" }
        if let format { xml += "  <target>\n    <format type='\(e(format))'/>\n  </target>\n" }
        if let backingVol {
            // The backing volume by name in this pool, then by key, then by path (as virsh looks it up).
            var found: StorageVolRef?
            var lastError: (any Error)?
            do { found = try await conn.lookupStorageVolume(pool: pool, name: backingVol) } catch { lastError = error }
            if found == nil { do { found = try await conn.lookupStorageVolume(key: backingVol) } catch { lastError = error } }
            if found == nil { do { found = try await conn.lookupStorageVolume(path: backingVol) } catch { lastError = error } }
            guard let backing = found else {
                throw CommandFailure(messages: ["failed to get vol '\(backingVol)'"] + (lastError.map { [Shell.describe($0)] } ?? []))
            }
            let path = try await conn.storageVolumePath(backing)
            xml += "  <backingStore>\n    <path>\(e(path))</path>\n"
            if let backingVolFormat { xml += "    <format type='\(e(backingVolFormat))'/>\n" }
            xml += "  </backingStore>\n"
        }
        xml += "</volume>\n"

        if printXML {
            shell.print(xml)
            return
        }
        try await attempt("Failed to create vol \(name)") {
            _ = try await conn.createStorageVolume(pool, xml: xml, flags: preallocMetadata ? .preallocMetadata : [])
        }
        shell.extra("Vol \(name) created\n")
    }
}

struct VolCreateFrom: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "vol-create-from", abstract: "create a vol, using another volume as input")
    @Argument(help: "Pool name or uuid, XML file, input volume name, key or path.") var words: [String] = []
    @Option(name: .customLong("pool"), help: .hidden) var poolOption: String?
    @Option(name: .customLong("file"), help: .hidden) var fileOption: String?
    @Option(name: .customLong("vol"), help: .hidden) var volOption: String?
    @Option(help: "Pool name or uuid of the input volume's pool.") var inputpool: String?
    @Flag(name: .customLong("prealloc-metadata"), help: "Preallocate metadata (for qcow2 instead of full allocation).") var preallocMetadata = false
    @Flag(help: "Use btrfs COW lightweight copy.") var reflink = false
    @Flag(name: .customLong("validate"), help: "Validate the XML against the schema.") var validateXML = false

    func args() throws -> (pool: String, file: String, vol: String) {
        let v = try fillPositionals(words, [("pool", poolOption), ("file", fileOption), ("vol", volOption)], required: 3)
        return (v[0] ?? "", v[1] ?? "", v[2] ?? "")
    }

    func validate() throws { _ = try args() }

    func execute(_ shell: Shell) async throws {
        let (poolText, file, volText) = try args()
        var flags: StorageVolCreateFlags = []
        if preallocMetadata { flags.insert(.preallocMetadata) }
        if reflink { flags.insert(.reflink) }
        if validateXML { flags.insert(.validate) }
        let pool = try await shell.pool(poolText)
        let input = try await shell.volume(volText, pool: inputpool, poolOption: "inputpool")
        let xml = try readXMLFile(file)
        let vol = try await attempt("Failed to create vol from \(file)") {
            try await shell.connection().createStorageVolume(pool, xml: xml, from: input, flags: flags)
        }
        shell.extra("Vol \(vol.name) created from input vol \(input.name)\n")
    }
}

struct VolClone: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "vol-clone", abstract: "clone a volume.")
    @Argument(help: "Original volume name, key or path, then the clone's name.") var words: [String] = []
    @Option(name: .customLong("vol"), help: .hidden) var volOption: String?
    @Option(name: .customLong("newname"), help: .hidden) var newnameOption: String?
    @Option(help: "Pool name or uuid.") var pool: String?
    @Flag(name: .customLong("prealloc-metadata"), help: "Preallocate metadata (for qcow2 instead of full allocation).") var preallocMetadata = false
    @Flag(help: "Use btrfs COW lightweight copy.") var reflink = false
    @Flag(name: .customLong("print-xml"), help: "Print XML document, but don't define/create.") var printXML = false

    func args() throws -> (vol: String, newname: String) {
        let v = try fillPositionals(words, [("vol", volOption), ("newname", newnameOption)], required: 2)
        return (v[0] ?? "", v[1] ?? "")
    }

    func validate() throws { _ = try args() }

    /// The original's XML with the new name (virsh's virshMakeCloneXML); the driver places the copy.
    static func cloneXML(_ xml: String, name: String) throws -> String {
        guard let open = xml.range(of: "<name>"), let close = xml.range(of: "</name>", range: open.upperBound..<xml.endIndex) else {
            throw CommandFailure("volume XML has no <name> element")
        }
        return xml.replacingCharacters(in: open.upperBound..<close.lowerBound, with: xmlEscape(name))
    }

    func execute(_ shell: Shell) async throws {
        let (volText, newname) = try args()
        let conn = try await shell.connection()
        let orig = try await shell.volume(volText, pool: pool)
        let origPool: StoragePoolRef
        do { origPool = try await conn.lookupStoragePool(volume: orig) } catch {
            throw CommandFailure("failed to get parent pool", Shell.describe(error))
        }
        var flags: StorageVolCreateFlags = []
        if preallocMetadata { flags.insert(.preallocMetadata) }
        if reflink { flags.insert(.reflink) }
        let xml = try Self.cloneXML(try await conn.storageVolumeXML(orig, flags: 0), name: newname)
        if printXML {
            shell.print(xml.hasSuffix("\n") ? xml : xml + "\n")
            return
        }
        let vol = try await attempt("Failed to clone vol from \(orig.name)") {
            try await conn.createStorageVolume(origPool, xml: xml, from: orig, flags: flags)
        }
        shell.extra("Vol \(vol.name) cloned from \(orig.name)\n")
    }
}

struct VolDelete: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "vol-delete", abstract: "delete a vol")
    @OptionGroup var vol: VolumeArgument
    @Flag(name: .customLong("delete-snapshots"), help: "Delete snapshots associated with volume (must be supported by storage driver).") var deleteSnapshots = false

    func execute(_ shell: Shell) async throws {
        let v = try await vol.lookup(shell)
        try await attempt("Failed to delete vol \(vol.value)") {
            try await shell.connection().deleteStorageVolume(v, flags: deleteSnapshots ? .withSnapshots : [])
        }
        shell.extra("Vol \(vol.value) deleted\n")
    }
}

struct VolWipe: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "vol-wipe", abstract: "wipe a vol")
    @OptionGroup var vol: VolumeArgument
    @Option(help: "Perform selected wiping algorithm.") var algorithm: String?

    func execute(_ shell: Shell) async throws {
        let v = try await vol.lookup(shell)
        var alg = StorageVolWipeAlgorithm.zero
        if let algorithm {
            guard let a = StorageVolWipeAlgorithm.allCases.first(where: { $0.virshName == algorithm }) else {
                throw CommandFailure("Unsupported algorithm '\(algorithm)'")
            }
            alg = a
        }
        try await attempt("Failed to wipe vol \(vol.value)") {
            try await shell.connection().wipeStorageVolume(v, algorithm: alg, flags: 0)
        }
        shell.extra("Vol \(vol.value) wiped\n")
    }
}

struct VolResize: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "vol-resize", abstract: "resize a vol")
    @Argument(parsing: .allUnrecognized, help: "Volume name, key or path, then the new capacity (scaled integer, default bytes).")
    var words: [String] = []
    @Option(name: .customLong("vol"), help: .hidden) var volOption: String?
    @Option(name: .customLong("capacity"), help: .hidden) var capacityOption: String?
    @Option(help: "Pool name or uuid.") var pool: String?
    @Flag(help: "Allocate the new capacity, rather than leaving it sparse.") var allocate = false
    @Flag(help: "Use capacity as a delta to current size, rather than the new size.") var delta = false
    @Flag(help: "Allow the resize to shrink the volume.") var shrink = false

    func args() throws -> (vol: String, capacity: String) {
        try rejectUnknownOptions(words)
        let v = try fillPositionals(words, [("vol", volOption), ("capacity", capacityOption)], required: 2)
        return (v[0] ?? "", v[1] ?? "")
    }

    func validate() throws { _ = try args() }

    func execute(_ shell: Shell) async throws {
        let (volText, capacityArg) = try args()
        var flags: StorageVolResizeFlags = []
        if allocate { flags.insert(.allocate) }
        if delta { flags.insert(.delta) }
        if shrink { flags.insert(.shrink) }
        let v = try await shell.volume(volText, pool: pool)
        var capacityText = capacityArg.drop { $0 == " " || $0 == "\t" }
        if capacityText.hasPrefix("-") {
            // The API takes a positive size; virsh allows the sign for readability with --shrink.
            guard shrink else { throw CommandFailure("negative size requires --shrink") }
            capacityText = capacityText.dropFirst()
        }
        let capacity = try ScaledInteger.size(String(capacityText))
        let how = delta ? "by" : "to"
        try await attempt("Failed to change size of volume '\(v.name)' \(how) \(capacityText)") {
            try await shell.connection().resizeStorageVolume(v, capacity: capacity, flags: flags)
        }
        shell.extra("Size of volume '\(v.name)' successfully changed \(how) \(capacityText)\n")
    }
}

struct VolDumpXML: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "vol-dumpxml", abstract: "vol information in XML")
    @OptionGroup var vol: VolumeArgument

    func execute(_ shell: Shell) async throws {
        let v = try await vol.lookup(shell)
        let xml = try await shell.connection().storageVolumeXML(v, flags: 0)
        shell.print(xml.hasSuffix("\n") ? xml : xml + "\n")
    }
}

struct VolPath: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "vol-path", abstract: "returns the volume path for a given volume name or key")
    @OptionGroup var vol: VolumeArgument

    func execute(_ shell: Shell) async throws {
        let v = try await vol.lookup(shell)
        shell.print(try await shell.connection().storageVolumePath(v) + "\n")
    }
}

struct VolKey: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "vol-key", abstract: "returns the volume key for a given volume name or path")
    @OptionGroup var vol: VolumeArgument

    func execute(_ shell: Shell) async throws {
        shell.print(try await vol.lookup(shell).key + "\n")
    }
}

struct VolName: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "vol-name", abstract: "returns the volume name for a given volume key or path")
    @OptionGroup var vol: VolumeKeyArgument

    func execute(_ shell: Shell) async throws {
        shell.print(try await shell.volume(vol.value, pool: nil, poolOption: nil, by: .uuid).name + "\n")
    }
}

struct VolPool: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "vol-pool", abstract: "returns the storage pool for a given volume key or path")
    @OptionGroup var vol: VolumeKeyArgument
    @Flag(help: "Return the pool uuid rather than pool name.") var uuid = false

    func execute(_ shell: Shell) async throws {
        let v = try await shell.volume(vol.value, pool: nil, poolOption: nil, by: .uuid)
        let pool: StoragePoolRef
        do { pool = try await shell.connection().lookupStoragePool(volume: v) } catch {
            throw CommandFailure("failed to get parent pool", Shell.describe(error))
        }
        shell.print((uuid ? pool.uuid.lowercasedString : pool.name) + "\n")
    }
}

struct VolInfo: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "vol-info", abstract: "storage vol information")
    @OptionGroup var vol: VolumeArgument
    @Flag(help: "Return vol info in bytes.") var bytes = false
    @Flag(help: "Return the physical size of the volume in allocation field.") var physical = false
    @Flag(help: "Machine-readable output (JSON).") var json = false

    func execute(_ shell: Shell) async throws {
        let v = try await vol.lookup(shell)
        let info = try await shell.connection().storageVolumeInfo(v, flags: physical ? .physical : [])
        if json {
            let obj: [String: Any] = [
                "name": v.name, "key": v.key, "pool": v.pool, "type": info.type.virshName,
                "capacity": info.capacity, physical ? "physical" : "allocation": info.allocation,
            ]
            shell.print(JSONOutput.encode(obj))
            return
        }
        func size(_ n: UInt64) -> String { bytes ? "\(n) bytes" : prettyCapacity(n) }
        var out = DomInfo.line("Name:", v.name) + DomInfo.line("Type:", info.type.virshName)
        out += DomInfo.line("Capacity:", size(info.capacity))
        out += DomInfo.line(physical ? "Physical:" : "Allocation:", size(info.allocation))
        shell.print(out)
    }
}

struct VolList: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "vol-list", abstract: "list vols")
    @OptionGroup var pool: PoolArgument
    @Flag(help: "Display extended details.") var details = false
    @Flag(help: "Machine-readable output (JSON).") var json = false

    func validate() throws {
        if json && details { throw ValidationError("--json cannot be combined with --details") }
    }

    func execute(_ shell: Shell) async throws {
        let conn = try await shell.connection()
        let p = try await shell.pool(pool.value)
        let vols = try await attempt("Failed to list volumes") { try await conn.listAllStorageVolumes(p, flags: 0) }
            .sorted { asciiCaseInsensitiveLess($0.name, $1.name) }
        var rows: [(vol: StorageVolRef, path: String?, info: StorageVolInfo?)] = []
        for v in vols {
            let info = details || json ? try? await conn.storageVolumeInfo(v) : nil
            rows.append((v, try? await conn.storageVolumePath(v), info))
        }
        if json {
            shell.print(JSONOutput.encode(rows.map { row -> [String: Any] in
                var obj: [String: Any] = ["name": row.vol.name, "key": row.vol.key]
                if let path = row.path { obj["path"] = path }
                if let info = row.info {
                    obj["type"] = info.type.virshName; obj["capacity"] = info.capacity; obj["allocation"] = info.allocation
                }
                return obj
            }))
            return
        }
        var table = details ? Table("Name", "Path", "Type", "Capacity", "Allocation") : Table("Name", "Path")
        for row in rows {
            let path = row.path ?? "unknown"
            guard details else { table.append(row.vol.name, path); continue }
            if let info = row.info {
                table.append(row.vol.name, path, info.type.virshName, prettyCapacity(info.capacity), prettyCapacity(info.allocation))
            } else {
                table.append(row.vol.name, path, "unknown", "unknown", "unknown")
            }
        }
        shell.print(table.render(header: !shell.quiet))
    }
}
