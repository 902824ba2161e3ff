import ArgumentParser
import GuestFS

/// `corral guest cat`: virt-cat. Streams each file to stdout in 1 MiB chunks; a file that cannot
/// be read is reported and the others are still printed, with a failing exit status at the end.
struct GuestCat: GuestSubcommand {
    static let configuration = CommandConfiguration(commandName: "cat", abstract: "Display files in a guest (virt-cat).")

    @OptionGroup var disk: GuestDiskOptions
    @OptionGroup var mount: GuestMountOptions

    @Argument(help: "Guest files to display.")
    var files: [String] = []

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("no file given") }
    }

    func run(globalURI: String?, out: GuestOutput) async throws {
        let vfs = try await mount.open(disk, globalURI: globalURI, command: "cat")
        try cat(vfs, out)
    }

    /// Synchronous: see GuestCopyOut.copy (a Swift 6.3 release-build crash).
    private func cat(_ vfs: VFS, _ out: GuestOutput) throws {
        var failed = false
        for file in files {
            do throws(GuestFSError) {
                guard file.hasPrefix("/") else { throw GuestFSError("\(file): the path must be absolute (start with /)") }
                try vfs.readFile(file) { out.write(bytes: $0) }
            } catch {
                // Keep stdout and stderr in order for a reader watching both.
                out.flush()
                GuestOutput.error("cat", error.message)
                failed = true
            }
            if out.broken { break }
        }
        if failed { throw ExitCode.failure }
    }
}
