import ArgumentParser
import GuestFS

// `corral guest inspect`: virt-inspector. Prints the operating systems found on the disks as
// virt-inspector's XML (same elements, order, sorting, indentation and escaping as its libxml2
// writer). Icons are never produced (--no-icon is accepted for compatibility).

struct GuestInspect: GuestSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Display operating system version and other information (virt-inspector).")

    @OptionGroup var disks: GuestDiskOptions

    @Flag(name: .customLong("no-applications"), help: "Do not list installed applications.")
    var noApplications = false

    @Flag(name: .customLong("no-icon"), help: "Do not extract the guest's icon (icons are never extracted).")
    var noIcon = false

    func run(globalURI: String?, out: GuestOutput) async throws {
        let inspector = GuestInspector(disks: try await disks.open(globalURI: globalURI))
        let roots = try inspector.inspectOS()
        guard !roots.isEmpty else {
            throw GuestFSError("no operating system could be detected inside this disk image.\n\n"
                + "This may be because the file is not a disk image, or is not a virtual machine\n"
                + "image, or because the OS type is not understood by corral.")
        }
        let signatures = Dictionary(try inspector.filesystems().map { ($0.device, $0.signature) }, uniquingKeysWith: { a, _ in a })
        var xml = InspectorXML(out: out)
        xml.line("<?xml version=\"1.0\"?>")
        xml.open("operatingsystems")
        for os in roots {
            xml.open("operatingsystem")
            xml.element("root", os.root)
            if os.type != "unknown" { xml.element("name", os.type) }
            if let arch = os.arch { xml.element("arch", arch) }
            if os.distro != "unknown" { xml.element("distro", os.distro) }
            if os.productName != "unknown" { xml.element("product_name", os.productName) }
            xml.element("major_version", String(os.majorVersion))
            xml.element("minor_version", String(os.minorVersion))
            if let v = os.packageFormat { xml.element("package_format", v) }
            if let v = os.packageManagement { xml.element("package_management", v) }
            if let v = os.hostname { xml.element("hostname", v) }
            if let v = os.osinfo { xml.element("osinfo", v) }
            xml.open("mountpoints")
            // Shorter mount points first, then by name, so "/" leads and the output is stable.
            let mountpoints = os.mountpoints.sorted { a, b in
                a.path.utf8.count != b.path.utf8.count ? a.path.utf8.count < b.path.utf8.count
                    : a.path.utf8.lexicographicallyPrecedes(b.path.utf8)
            }
            for m in mountpoints {
                xml.element("mountpoint", m.path, attribute: ("dev", m.device))
            }
            xml.close("mountpoints")
            xml.open("filesystems")
            for device in os.filesystems.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                // vfs-type, vfs-label and vfs-uuid; a device that is not there gets an empty element.
                let sig = signatures[device]
                let children = [("type", sig?.type == "unknown" ? nil : sig?.type), ("label", sig?.label), ("uuid", sig?.uuid)]
                    .compactMap { name, value in value.flatMap { $0.isEmpty ? nil : (name, $0) } }
                if children.isEmpty {
                    xml.empty("filesystem", attribute: ("dev", device))
                    continue
                }
                xml.open("filesystem", attribute: ("dev", device))
                for (name, value) in children { xml.element(name, value) }
                xml.close("filesystem")
            }
            xml.close("filesystems")
            if !noApplications {
                let apps = try inspector.applications(os)
                if apps.isEmpty {
                    xml.empty("applications")
                } else {
                    xml.open("applications")
                    for app in apps { xml.application(app) }
                    xml.close("applications")
                }
            }
            xml.close("operatingsystem")
        }
        xml.close("operatingsystems")
    }
}

/// libxml2's indenting text writer, as virt-inspector configures it (two spaces per level).
struct InspectorXML {
    let out: GuestOutput
    var depth = 0

    init(out: GuestOutput) { self.out = out }

    func line(_ s: String) { out.write(String(repeating: "  ", count: depth) + s + "\n") }

    mutating func open(_ name: String, attribute: (String, String)? = nil) {
        line("<\(name)\(Self.attr(attribute))>")
        depth += 1
    }

    mutating func close(_ name: String) {
        depth -= 1
        line("</\(name)>")
    }

    func empty(_ name: String, attribute: (String, String)? = nil) { line("<\(name)\(Self.attr(attribute))/>") }

    func element(_ name: String, _ text: String, attribute: (String, String)? = nil) {
        line("<\(name)\(Self.attr(attribute))>\(Self.escapeText(text))</\(name)>")
    }

    mutating func application(_ a: InspectedApplication) {
        open("application")
        element("name", a.name)
        if !a.displayName.isEmpty { element("display_name", a.displayName) }
        if a.epoch != 0 { element("epoch", String(a.epoch)) }
        for (name, value) in [("version", a.version), ("release", a.release), ("arch", a.arch),
                              ("install_path", a.installPath), ("publisher", a.publisher), ("url", a.url),
                              ("source_package", a.sourcePackage), ("summary", a.summary),
                              ("description", a.description)] where !value.isEmpty {
            element(name, value)
        }
        close("application")
    }

    static func attr(_ a: (String, String)?) -> String {
        guard let (name, value) = a else { return "" }
        return " \(name)=\"\(escapeAttribute(value))\""
    }

    /// xmlEncodeSpecialChars: & < > " and carriage returns.
    static func escapeText(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "\r": out += "&#13;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// Attribute values also escape newlines and tabs.
    static func escapeAttribute(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "\r": out += "&#13;"
            case "\n": out += "&#10;"
            case "\t": out += "&#9;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}
