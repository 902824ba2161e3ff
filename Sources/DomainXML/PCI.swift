// PCI addresses as the model stores them (libvirt's <address type='pci' .../>), and which devices
// sit on PCI. The QEMU argv builder relies on these: addresses in the model are what argv uses.

public struct PCIAddress: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var domain: Int
    public var bus: Int
    public var slot: Int
    public var function: Int
    public var multifunction: Bool

    public init(domain: Int = 0, bus: Int = 0, slot: Int, function: Int = 0, multifunction: Bool = false) {
        self.domain = domain; self.bus = bus; self.slot = slot; self.function = function
        self.multifunction = multifunction
    }

    /// nil unless `address` is a well-formed PCI address.
    public init?(_ address: DeviceAddress?) {
        guard let address, address.type == "pci" else { return nil }
        guard let slot = address["slot"].flatMap(parseInteger), (0...31).contains(slot) else { return nil }
        let domain = address["domain"].flatMap(parseInteger) ?? 0
        let bus = address["bus"].flatMap(parseInteger) ?? 0
        let function = address["function"].flatMap(parseInteger) ?? 0
        guard (0...0xffff).contains(domain), (0...0xff).contains(bus), (0...7).contains(function) else { return nil }
        self.init(domain: domain, bus: bus, slot: slot, function: function,
                  multifunction: address["multifunction"] == "on")
    }

    /// As libvirt writes it: `type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'`.
    public var deviceAddress: DeviceAddress {
        var attrs = [XMLAttribute("domain", "0x" + hex(domain, 4)), XMLAttribute("bus", "0x" + hex(bus, 2)),
                     XMLAttribute("slot", "0x" + hex(slot, 2)), XMLAttribute("function", "0x" + hex(function, 1))]
        if multifunction { attrs.append(XMLAttribute("multifunction", "on")) }
        return DeviceAddress(type: "pci", attributes: attrs)
    }

    /// QEMU's `addr=` property value: "0x2", or "0x1.0x2" for a non-zero function.
    public var qemuAddr: String {
        function == 0 ? "0x" + String(slot, radix: 16) : "0x\(String(slot, radix: 16)).0x\(String(function, radix: 16))"
    }

    public var description: String {
        "\(hex(domain, 4)):\(hex(bus, 2)):\(hex(slot, 2)).\(function)"
    }

    public static func < (a: PCIAddress, b: PCIAddress) -> Bool {
        (a.domain, a.bus, a.slot, a.function) < (b.domain, b.bus, b.slot, b.function)
    }
}

private func hex(_ v: Int, _ width: Int) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: max(0, width - s.count)) + s
}

/// What a PCI slot holds, for listings and conflict checks.
public struct PCIUse: Sendable, Equatable {
    public var address: PCIAddress
    /// The device's element name and its index among elements of that name, e.g. ("disk", 0).
    public var element: String
    public var index: Int
}

extension Domain {
    /// True for Q35 machine types ("q35", "pc-q35-8.2").
    public var isQ35: Bool { os.machine?.contains("q35") ?? false }

    /// True for x86 guests, where the PC defaults (PIIX3/ICH9, ps2, isa-serial) apply.
    public var isX86: Bool { ["x86_64", "i686", nil].contains(os.arch) }

    /// Every device's PCI address as stored in the model, in libvirt's device order.
    public func pciUsage() -> [PCIUse] {
        var out: [PCIUse] = []
        func add(_ element: String, _ i: Int, _ a: DeviceAddress?) {
            if let p = PCIAddress(a) { out.append(PCIUse(address: p, element: element, index: i)) }
        }
        let d = devices
        for (i, x) in d.disks.enumerated() { add("disk", i, x.address) }
        for (i, x) in d.controllers.enumerated() { add("controller", i, x.address) }
        for (i, x) in d.filesystems.enumerated() { add("filesystem", i, x.address) }
        for (i, x) in d.interfaces.enumerated() { add("interface", i, x.address) }
        for (i, x) in d.serials.enumerated() { add("serial", i, x.address) }
        for (i, x) in d.inputs.enumerated() { add("input", i, x.address) }
        for (i, x) in d.sounds.enumerated() { add("sound", i, x.address) }
        for (i, x) in d.videos.enumerated() { add("video", i, x.address) }
        for (i, x) in d.hostdevs.enumerated() { add("hostdev", i, x.address) }
        for (i, x) in d.watchdogs.enumerated() { add("watchdog", i, x.address) }
        add("memballoon", 0, d.memballoon?.address)
        for (i, x) in d.rngs.enumerated() { add("rng", i, x.address) }
        return out
    }

    /// Two devices claiming the same PCI function, if any (the argv builder should refuse to start).
    public func pciConflict() -> (PCIUse, PCIUse)? {
        var seen: [PCIAddress: PCIUse] = [:]
        for u in pciUsage() {
            var key = u.address
            key.multifunction = false
            if let other = seen[key] { return (other, u) }
            seen[key] = u
        }
        return nil
    }
}
