// Public entry points of DomainXML. The pieces behind them:
//   XMLTree.swift   strict XML reader/writer (no DTDs or entities, depth and size caps)
//   Parse.swift     element tree -> typed model, with libvirt's validation
//   Format.swift    typed model -> libvirt-ordered XML; unmodeled content kept in `Extra` goes back verbatim
//   Defaults.swift  what libvirt fills in on define (controllers, addresses, MACs, ...)
//   PCI.swift       PCIAddress and Domain.pciUsage() for the QEMU argv builder

/// What to leave out when formatting, as virsh dumpxml's flags.
public struct FormatOptions: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Omit live-only state: id, aliases, pty paths, auto-assigned ports.
    public static let inactive = FormatOptions(rawValue: 1 << 0)
    /// Include secrets such as graphics passwd (virsh --security-info).
    public static let secure = FormatOptions(rawValue: 1 << 1)
}

/// A parse or validation error that names the element/attribute and the problem.
public struct DomainXMLError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension Domain {
    /// Parses and validates a libvirt domain XML document.
    public init(xml: String) throws(DomainXMLError) {
        self = try DomainParser.parse(try XMLReader.parse(xml))
    }

    /// Formats as libvirt does (2-space indentation, libvirt's element order), ending with a newline.
    public func formatXML(_ options: FormatOptions = []) -> String {
        DomainFormatter(options: options).format(self)
    }

    /// Fills in what libvirt fills in on define: uuid, MAC addresses, default controllers and device addresses.
    public mutating func applyDefaults() {
        DomainDefaults.apply(to: &self)
    }
}
