import ArgumentParser
import DomainXML
import Foundation
import GuestFS
import Hypervisor

// `corral guest SUBCOMMAND`: libguestfs's virt-* tools, reading images natively and read-only.
// Not shell commands: they stream large outputs straight to stdout, and take libguestfs's flags.

enum GuestTool {
    static let subcommands: [any GuestSubcommand.Type] = [
        GuestFish.self,
        GuestDf.self,
        GuestFilesystems.self,
        GuestInspect.self,
        GuestLs.self,
        GuestCat.self,
        GuestCopyOut.self,
        GuestTarOut.self,
    ]

    /// Runs `corral guest ARGS...`; `uri` is the global `-c`, used by `-d` unless the subcommand has its own.
    static func run(_ args: [String], uri: String?) async -> Int32 {
        guard let name = args.first, name != "-h", name != "--help", name != "help" else {
            print(usage(), terminator: "")
            return args.isEmpty ? 1 : 0
        }
        guard let type = subcommands.first(where: { $0.configuration.commandName == name }) else {
            GuestOutput.error(nil, "unknown subcommand '\(name)'. Subcommands: "
                + subcommands.compactMap { $0.configuration.commandName }.joined(separator: ", "))
            return 1
        }
        let command: any GuestSubcommand
        do {
            guard let parsed = try type.parseAsRoot(type.normalize(Array(args.dropFirst()))) as? any GuestSubcommand else {
                // --help comes back as ArgumentParser's own help command, not as an error.
                print(type.helpMessage())
                return 0
            }
            command = parsed
        } catch {
            let code = type.exitCode(for: error)
            if code == .success {
                print(type.fullMessage(for: error))
                return 0
            }
            GuestOutput.error(name, type.message(for: error))
            return 1
        }
        let out = GuestOutput()
        do {
            try await command.run(globalURI: uri, out: out)
            out.flush()
            return 0
        } catch let code as ExitCode {
            // The subcommand reported its errors itself (e.g. one per missing file) and chose the status.
            out.flush()
            return code.rawValue
        } catch {
            out.flush()
            GuestOutput.error(name, GuestOutput.describe(error))
            return 1
        }
    }

    static func usage() -> String {
        var s = "usage: corral guest SUBCOMMAND [OPTIONS] ...\n\nRead guest disk images without booting them (libguestfs's virt-* tools).\n\n"
        for t in subcommands {
            let name = t.configuration.commandName ?? ""
            s += "    " + name.padding(toLength: max(name.count, 14), withPad: " ", startingAt: 0) + " " + t.configuration.abstract + "\n"
        }
        return s
    }
}

/// One `corral guest` subcommand.
protocol GuestSubcommand: ParsableCommand {
    func run(globalURI: String?, out: GuestOutput) async throws
    /// Rewrites arguments before parsing, for libguestfs spellings ArgumentParser lacks (optional values).
    static func normalize(_ args: [String]) -> [String]
}

extension GuestSubcommand {
    static func normalize(_ args: [String]) -> [String] { args }
}

/// The disk selection every subcommand takes, with libguestfs's spellings.
struct GuestDiskOptions: ParsableArguments {
    @Option(name: [.customShort("a"), .customLong("add")], help: "Add a disk image (repeatable).")
    var add: [String] = []

    @Option(name: .customLong("format"), help: "Format of the -a images: raw or qcow2 (default: probe).")
    var format: String?

    @Option(name: [.customShort("d"), .customLong("domain")], help: "Use the disks of this domain.")
    var domain: String?

    @Option(name: [.customShort("c"), .customLong("connect")], help: "Connection URI for -d.")
    var connect: String?

    @Flag(name: .customLong("ro"), help: "Read-only (always the case).")
    var readOnly = false

    @Flag(name: [.customShort("v"), .customLong("verbose")], help: "Verbose messages.")
    var verbose = false

    @Flag(name: .customShort("x"), help: "Trace calls (accepted for compatibility).")
    var trace = false

    func validate() throws {
        if add.isEmpty == (domain == nil) {
            throw ValidationError(add.isEmpty ? "you must specify at least one -a or -d option"
                                              : "you cannot use -a and -d together")
        }
        if let format, format != "auto", ImageFormat(rawValue: format) == nil {
            throw ValidationError("--format: unknown format '\(format)' (raw or qcow2)")
        }
    }

    /// The images to open: the -a paths, or the disks of domain -d read through the connection.
    func images(globalURI: String?) async throws -> [(path: String, format: ImageFormat?)] {
        let forced = format.flatMap { ImageFormat(rawValue: $0) }
        guard let domain else { return add.map { ($0, forced) } }
        let uri = connect ?? globalURI ?? ConnectionURI.defaultURI()
        let conn = try await Connection.open(uri: uri, readOnly: true)
        let xml: String
        do {
            let dom = try await conn.lookupDomain(name: domain)
            xml = try await conn.domainXML(dom, flags: [])
            await conn.close()
        } catch {
            await conn.close()
            throw error
        }
        let model = try Domain(xml: xml)
        var out: [(path: String, format: ImageFormat?)] = []
        for disk in model.devices.disks where disk.type == "file" || disk.type == "block" {
            guard let path = disk.sourcePath else { continue }
            // The domain's declared format is trusted, as libvirt does, so images are not probed.
            out.append((path, disk.driverType.flatMap { ImageFormat(rawValue: $0) } ?? forced))
        }
        guard !out.isEmpty else { throw GuestFSError("domain \(domain) has no disks with a local file or block device") }
        return out
    }

    func open(globalURI: String?) async throws -> GuestDisks {
        try Self.openDisks(try await images(globalURI: globalURI))
    }

    /// Synchronous and untyped: a typed-throws call inside an async function crashes Swift 6.3's
    /// release optimizer (coroutine splitting).
    private static func openDisks(_ images: [(path: String, format: ImageFormat?)]) throws -> GuestDisks {
        try GuestDisks.open(images)
    }
}

/// Buffered stdout (listings of 50,000 files must not cost a write(2) per line); stops quietly when
/// the reader goes away (`corral guest ls -R / | head`).
final class GuestOutput {
    private var buffer: [UInt8] = []
    private(set) var broken = false

    init() { buffer.reserveCapacity(1 << 16) }

    func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    func write(bytes: [UInt8]) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { flush() }
    }

    func flush() {
        guard !broken else { buffer.removeAll(keepingCapacity: true); return }
        var offset = 0
        while offset < buffer.count {
            let n = buffer.withUnsafeBytes { Foundation.write(1, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                broken = true
                break
            }
            offset += n
        }
        buffer.removeAll(keepingCapacity: true)
    }

    static func error(_ command: String?, _ message: String) {
        let prefix = command.map { "corral guest \($0)" } ?? "corral guest"
        FileHandle.standardError.write(Data("\(prefix): error: \(message)\n".utf8))
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case let e as GuestFSError: e.message
        case let e as VirError: e.message
        case let e as DomainXMLError: e.message
        default: String(describing: error)
        }
    }
}
