import ArgumentParser
import Foundation
import Hypervisor

// dumpxml, edit, domxml-to-native.

struct DumpXML: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "dumpxml", abstract: "domain information in XML")
    @OptionGroup var domain: DomainArgument
    @Flag(help: "Show inactive defined XML.") var inactive = false
    @Flag(name: .customLong("security-info"), help: "Include security sensitive information in XML dump.") var securityInfo = false
    @Flag(name: .customLong("update-cpu"), help: "Update guest CPU according to host CPU.") var updateCPU = false
    @Flag(help: "Provide XML suitable for migrations.") var migratable = false

    func execute(_ shell: Shell) async throws {
        var flags: DomainXMLFlags = []
        if inactive { flags.insert(.inactive) }
        if securityInfo { flags.insert(.secure) }
        if updateCPU { flags.insert(.updateCPU) }
        if migratable { flags.insert(.migratable) }
        let dom = try await shell.domain(domain.value)
        shell.print(try await shell.connection().domainXML(dom, flags: flags))
    }
}

struct Edit: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "edit", abstract: "edit XML configuration for a domain")
    @OptionGroup var domain: DomainArgument
    @Flag(name: .customLong("skip-validate"), help: "Skip validation of the XML against the schema.") var skipValidate = false

    func execute(_ shell: Shell) async throws {
        let conn = try await shell.connection()
        let dom = try await shell.domain(domain.value)
        let original = try await conn.domainXML(dom, flags: [.inactive, .secure])
        let dir = FileManager.default.temporaryDirectory.path
        let file = "\(dir)/corral-edit-\(dom.name.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString.prefix(8)).xml"
        do { try original.write(toFile: file, atomically: true, encoding: .utf8) } catch {
            throw CommandFailure("failed to create temporary file \(file): \(error.localizedDescription)")
        }
        defer { try? FileManager.default.removeItem(atPath: file) }

        var validate = !skipValidate
        while true {
            try runEditor(file, shell)
            let edited: String
            do { edited = try String(contentsOfFile: file, encoding: .utf8) } catch {
                throw CommandFailure("failed to read \(file): \(error.localizedDescription)")
            }
            if edited == original {
                shell.extra("Domain '\(dom.name)' XML configuration not changed.\n")
                return
            }
            do {
                let redefined = try await conn.defineDomain(xml: edited, validate: validate)
                shell.extra("Domain '\(redefined.name)' XML configuration edited.\n")
                return
            } catch {
                shell.error(Shell.describe(error))
                // Only a person at a terminal can answer; scripts fail with the old config kept.
                guard isatty(STDIN_FILENO) == 1 else { throw CommandFailure("domain '\(dom.name)' XML configuration not changed") }
                retry: while true {
                    switch shell.ask("Failed. Try again? [y,n,i,f,?]: ")?.trimmingCharacters(in: .whitespaces).lowercased() {
                    case "y": break retry
                    case "i", "f": validate = false; break retry
                    case "n", nil: throw CommandFailure("domain '\(dom.name)' XML configuration not changed")
                    default:
                        shell.print("y - yes, start editor again\nn - no, throw away my changes\n"
                            + "i - turn off validation and try to redefine again\n"
                            + "f - force, try to redefine again\n? - print this help\n")
                    }
                }
            }
        }
    }

    /// $VISUAL, then $EDITOR, then vi, run by the shell so that "emacs -nw" works.
    @MainActor
    func runEditor(_ file: String, _ shell: Shell) throws {
        shell.flush()
        let env = ProcessInfo.processInfo.environment
        let editor = [env["VISUAL"], env["EDITOR"]].compactMap { $0 }.first { !$0.isEmpty } ?? "vi"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "\(editor) \"$0\"", file]
        do { try process.run() } catch {
            throw CommandFailure("cannot run editor '\(editor)': \(error.localizedDescription)")
        }
        process.waitUntilExit()
        if process.terminationStatus != 0 {
            throw CommandFailure("\(editor) \(file): editor exited with status \(process.terminationStatus)")
        }
    }
}

struct DomXMLToNative: ShellCommand {
    static let configuration = CommandConfiguration(commandName: "domxml-to-native", abstract: "Convert domain XML to native guest configuration")
    @Argument(help: "Target config data type format (qemu-argv).") var format: String
    @Argument(help: "Domain XML file.") var xmlFile: String?
    @Option(name: .customLong("xml"), help: .hidden) var xmlOption: String?
    @Option(name: .customLong("domain"), help: "Domain name, id or uuid to take the XML from.") var domainName: String?

    func validate() throws {
        if (xmlFile ?? xmlOption) == nil && domainName == nil { throw ValidationError("Either --domain or --xml must be specified") }
    }

    func execute(_ shell: Shell) async throws {
        let xml: String
        if let path = xmlOption ?? xmlFile {
            xml = try readXMLFile(path)
        } else {
            let dom = try await shell.domain(domainName ?? "")
            xml = try await shell.connection().domainXML(dom, flags: [.inactive])
        }
        let native = try await shell.connection().domainXMLToNative(format: format, xml: xml)
        shell.print(native.hasSuffix("\n") ? native : native + "\n")
    }
}
