import Foundation
import DomainXML

/// virSecurityModel: empty model when no security driver is active.
public struct SecurityModel: Sendable, Equatable {
    public var model: String
    public var doi: String
    public init(model: String, doi: String) { self.model = model; self.doi = doi }
}

/// virSecurityLabel.
public struct SecurityLabel: Sendable, Equatable {
    public var label: String
    public var enforcing: Bool
    public init(label: String, enforcing: Bool) { self.label = label; self.enforcing = enforcing }
}

// Optional driver entry points (virsh dominfo needs them). They have defaults so that
// drivers written against the original protocol keep compiling; drivers override as needed.
extension HypervisorDriver {
    /// virDomainGetOSType: by default the domain XML's <os><type>.
    public func osType(_ dom: DomainRef) async throws -> String {
        let xml = try await domainXML(dom, flags: [])
        do { return try Domain(xml: xml).os.type } catch { return "hvm" }
    }
    /// virNodeGetSecurityModel: none by default.
    public func securityModel() async throws -> SecurityModel { SecurityModel(model: "", doi: "") }
    /// virDomainGetSecurityLabel: none by default.
    public func securityLabel(_ dom: DomainRef) async throws -> SecurityLabel? { nil }
}

extension UUID {
    /// libvirt prints UUIDs in lower case.
    public var lowercasedString: String { uuidString.lowercased() }
}

/// Corral's own version (what `corral version` reports as the library).
public enum CorralVersion {
    public static let major = 0, minor = 1, micro = 0
    public static var string: String { "\(major).\(minor).\(micro)" }
}
