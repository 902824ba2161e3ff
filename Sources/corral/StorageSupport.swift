import ArgumentParser
import Foundation
import Hypervisor

// What the pool-* and vol-* commands share: finding pools and volumes the way virsh does,
// virsh's scaled integers and human-readable sizes.

/// The pool argument of the pool commands: positional like virsh, or `--pool NAME`.
struct PoolArgument: ParsableArguments {
    @Argument(help: "Pool name or uuid.")
    var pool: String?

    @Option(name: .customLong("pool"), help: .hidden)
    var poolOption: String?

    func validate() throws {
        if pool == nil && poolOption == nil { throw ValidationError("missing <pool> argument (name or uuid)") }
        if pool != nil && poolOption != nil { throw ValidationError("the pool is given twice") }
    }

    var value: String { poolOption ?? pool ?? "" }
}

/// Which lookups a pool or volume argument may use (virsh's VIRSH_BYNAME / VIRSH_BYUUID).
struct LookupBy: OptionSet {
    let rawValue: Int
    static let name = LookupBy(rawValue: 1)
    /// For pools the UUID, for volumes the key and then the path.
    static let uuid = LookupBy(rawValue: 2)
    static let both: LookupBy = [.name, .uuid]
}

extension Shell {
    /// virshCommandOptPoolBy: a UUID (36 characters) first, then a name; the last lookup's error is reported.
    func pool(_ text: String, by: LookupBy = .both) async throws -> StoragePoolRef {
        let conn = try await connection()
        var lastError: (any Error)?
        if by.contains(.uuid), text.count == 36 {
            if let uuid = UUID(uuidString: text) {
                do { return try await conn.lookupStoragePool(uuid: uuid) } catch { lastError = error }
            } else {
                lastError = VirError.noStoragePool(uuid: text)
            }
        }
        if by.contains(.name) {
            do { return try await conn.lookupStoragePool(name: text) } catch { lastError = error }
        }
        throw CommandFailure(messages: ["failed to get pool '\(text)'"] + (lastError.map { [Self.describe($0)] } ?? []))
    }

    /// virshCommandOptVolBy: with a pool, the name in that (active) pool first; then the text as a
    /// key and as a path. `poolOption` names the command's pool option for the hint virsh gives
    /// when it was not used (nil: the command has none).
    func volume(_ text: String, pool poolText: String?, poolOption: String? = "pool",
                by: LookupBy = .both) async throws -> StorageVolRef {
        let conn = try await connection()
        var pool: StoragePoolRef?
        if let poolText {
            let p = try await self.pool(poolText)
            if !(try await conn.storagePoolIsActive(p)) { throw CommandFailure("pool '\(poolText)' is not active") }
            pool = p
        }
        var lastError: (any Error)?
        if let pool, by.contains(.name) {
            do { return try await conn.lookupStorageVolume(pool: pool, name: text) } catch { lastError = error }
        }
        if by.contains(.uuid) {
            do { return try await conn.lookupStorageVolume(key: text) } catch { lastError = error }
            do { return try await conn.lookupStorageVolume(path: text) } catch { lastError = error }
        }
        let first = pool != nil || poolOption == nil
            ? "failed to get vol '\(text)'" : "failed to get vol '\(text)', specifying --\(poolOption ?? "pool") might help"
        throw CommandFailure(messages: [first] + (lastError.map { [Self.describe($0)] } ?? []))
    }
}

/// virsh's scaled integers (virScaleInteger): digits, then an optional case-insensitive suffix
/// b/byte/bytes, k/KiB (1024), KB (1000), up to E/EiB/EB; no suffix means bytes.
enum ScaledInteger {
    struct Malformed: Error {
        /// libvirt's error for the suffix or the overflow; nil when the number itself is bad.
        var detail: String?
    }

    static func parse(_ text: String) throws(Malformed) -> UInt64 {
        // strtoull skips leading blanks; virsh's sizes refuse a sign.
        let trimmed = text.drop { $0 == " " || $0 == "\t" || $0 == "\n" }
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, let value = UInt64(digits) else { throw Malformed(detail: nil) }
        let suffix = String(trimmed.dropFirst(digits.count))
        var scale: UInt64 = 1
        if !suffix.isEmpty {
            let lower = suffix.lowercased()
            if lower == "b" || lower == "byte" || lower == "bytes" {
                scale = 1
            } else {
                let chars = Array(lower)
                let base: UInt64
                if chars.count == 1 || String(chars.dropFirst()) == "ib" {
                    base = 1024
                } else if chars.count == 2 && chars[1] == "b" {
                    base = 1000
                } else {
                    throw Malformed(detail: "invalid argument: unknown suffix '\(suffix)'")
                }
                guard let power = ["k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6][chars[0]] else {
                    throw Malformed(detail: "invalid argument: unknown suffix '\(suffix)'")
                }
                for _ in 0..<power { scale *= base }
            }
        }
        let (result, overflow) = value.multipliedReportingOverflow(by: scale)
        if overflow { throw Malformed(detail: "numerical overflow: value too large: \(value)\(suffix)") }
        return result
    }

    /// A size argument, failing as virsh's "Malformed size X".
    static func size(_ text: String) throws -> UInt64 {
        do { return try parse(text) } catch {
            throw CommandFailure(messages: ["Malformed size \(text)"] + (error.detail.map { [$0] } ?? []))
        }
    }
}

/// A byte count option (--offset): plain digits, no sign (vshCommandOptULongLong).
func unsignedOption(_ text: String?, name: String, wrapNegative: Bool = false) throws -> UInt64 {
    guard let text else { return 0 }
    if let v = UInt64(text) { return v }
    // --length accepts a negative number as "everything" (vshCommandOptULongLongWrap).
    if wrapNegative, text.hasPrefix("-"), let v = Int64(text) { return UInt64(bitPattern: v) }
    throw CommandFailure("Numeric value '\(text)' for <\(name)> option is malformed or out of range")
}

/// vshPrettyCapacity with virsh's "%.2lf %s": "1.00 GiB", "0.00 B".
func prettyCapacity(_ bytes: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    var unit = 0
    while unit < units.count - 1 && bytes >= UInt64(1) << (10 * (unit + 1)) { unit += 1 }
    return String(format: "%.2f", Double(bytes) / pow(1024, Double(unit))) + " " + units[unit]
}

/// virsh's data options: words fill the options not given by name, in order (so
/// `vol-create-as --pool p v 1G` and `vol-create-as p v 1G` mean the same).
func fillPositionals(_ words: [String], _ slots: [(name: String, value: String?)], required: Int) throws -> [String?] {
    var rest = words[...]
    var out: [String?] = []
    for slot in slots {
        if let value = slot.value {
            out.append(value)
        } else {
            out.append(rest.popFirst())
        }
    }
    if let extra = rest.first { throw ValidationError("unexpected data '\(extra)'") }
    for (i, slot) in slots.enumerated().prefix(required) where out[i] == nil {
        throw ValidationError("missing <\(slot.name)> argument")
    }
    return out
}

/// virsh sorts pools and volumes by name with strcasecmp: bytes, ASCII letters folded.
func asciiCaseInsensitiveLess(_ a: String, _ b: String) -> Bool {
    func fold(_ c: UInt8) -> UInt8 { (65...90).contains(c) ? c + 32 : c }
    return a.utf8.map(fold).lexicographicallyPrecedes(b.utf8.map(fold))
}

/// Data words gathered with `.allUnrecognized` (so that a negative size such as "-1G" is not taken
/// for an option) include unknown options too: refuse those here.
func rejectUnknownOptions(_ words: [String]) throws {
    if let option = words.first(where: { $0.hasPrefix("-") && !($0.dropFirst().first?.isNumber ?? false) }) {
        throw ValidationError("Unknown option '\(option)'")
    }
}
