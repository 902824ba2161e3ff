import DomainXML
import Foundation
import Hypervisor

/// One guest as the list and the detail page show it (virsh dominfo plus the consoles it has).
struct DomainSummary: Codable, Sendable {
    struct GraphicsJSON: Codable, Sendable {
        var type: String
        var port: Int?
        var listen: String?
        var autoport: Bool
    }
    var name: String
    var uuid: String
    var id: Int32
    /// virsh's word for the state ("running", "shut off", ...).
    var state: String
    var stateCode: Int32
    /// virsh domstate --reason's word ("booted", "destroyed", ...).
    var reason: String
    var reasonCode: Int32
    var vcpus: Int
    var memoryKiB: UInt64
    var maxMemoryKiB: UInt64
    var cpuTimeNs: UInt64
    var persistent: Bool
    var autostart: Bool
    var osType: String
    var graphics: [GraphicsJSON]
    /// Serial ports and consoles the serial console page can attach to.
    var serials: Int

    /// Reads everything through the driver; the XML is parsed only for the consoles, and XML the
    /// parser refuses leaves those empty rather than failing the whole summary.
    static func load(_ d: any HypervisorDriver, _ ref: DomainRef) async throws -> DomainSummary {
        let info = try await d.domainInfo(ref)
        let st = try await d.domainState(ref)
        let xml = try await d.domainXML(ref, flags: [])
        let def = try? Domain(xml: xml)
        let persistent = try await d.isPersistent(ref)
        // libvirt refuses autostart queries on nothing, but a remote host may lack the call.
        let autostart = (try? await d.autostart(ref)) ?? false
        // A shut-off domain's id is -1 whatever a stale ref said.
        let active = st.state != .shutoff && st.state != .noState
        let graphics = (def?.devices.graphics ?? []).map {
            GraphicsJSON(type: $0.type, port: $0.port.flatMap { $0 > 0 ? $0 : nil }, listen: $0.listen,
                         autoport: $0.autoport ?? ($0.port == nil || $0.port == -1))
        }
        return DomainSummary(
            name: ref.name, uuid: ref.uuid.lowercasedString, id: active ? ref.id : -1,
            state: st.state.virshName, stateCode: st.state.rawValue, reason: st.reasonName, reasonCode: st.reason,
            vcpus: Int(info.nrVirtCPU), memoryKiB: info.memoryKiB, maxMemoryKiB: info.maxMemKiB, cpuTimeNs: info.cpuTimeNs,
            persistent: persistent, autostart: autostart, osType: def?.os.type ?? "hvm",
            graphics: graphics, serials: def.map(serialCount) ?? 0)
    }

    /// Serial ports plus consoles that are not the usual alias of the first serial port
    /// (`<console type='pty'><target type='serial'/>` is the same device as serial0).
    static func serialCount(_ def: Domain) -> Int {
        def.devices.serials.count + def.devices.consoles.filter { ($0.targetType ?? "serial") != "serial" || def.devices.serials.isEmpty }.count
    }
}
