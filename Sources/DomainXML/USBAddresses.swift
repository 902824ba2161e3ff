// USB port assignment as libvirt does it when a domain is defined (qemuDomainAssignUSBAddresses):
// every device on a USB bus gets `<address type='usb' bus='B' port='P[.P…]'/>`, and when the
// controllers have fewer ports than there are devices, `<hub type='usb'>` devices (8 ports each)
// are added. The addresses end up in the XML, so QEMU's port numbering never depends on device order.

public enum USBAllocator {
    /// Ports of a hub; libvirt's VIR_DOMAIN_USB_HUB_PORTS.
    static let hubPorts = 8
    /// Hubs may nest this deep below a root port (VIR_DOMAIN_DEVICE_USB_MAX_PORT_DEPTH).
    public static let maxDepth = 4

    /// Root ports of a USB controller model as libvirt counts them. UHCI companions of an EHCI
    /// controller give no bus of their own (they serve the EHCI bus's ports at USB 1.1 speed).
    public static func rootPorts(_ c: Controller) -> Int {
        guard c.type == "usb" else { return 0 }
        switch c.model ?? "" {
        case "piix3-uhci", "piix4-uhci", "vt82c686b-uhci": return 2
        case "ehci", "ich9-ehci1": return 6
        case "pci-ohci": return 3
        case "qemu-xhci", "nec-xhci":
            guard let ports = c.extra.attributes.first(where: { $0.name == "ports" }).flatMap({ parseInteger($0.value) }),
                  ports > 0, ports <= 15 else { return 4 }
            return ports
        default: return 0   // none, companions, models Corral does not know
        }
    }

    /// A device slot on a USB bus: controller index and the port path ("1.3" = hub on port 1, its port 3).
    struct Place: Hashable {
        var bus: Int
        var path: [Int]
    }

    static func place(_ address: DeviceAddress?) -> Place? {
        guard let address, address.type == "usb", let port = address["port"] else { return nil }
        let parts = port.split(separator: ".", omittingEmptySubsequences: false).map { Int($0) }
        guard !parts.isEmpty, parts.count <= maxDepth, parts.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
        return Place(bus: address["bus"].flatMap(parseInteger) ?? 0, path: parts.compactMap { $0 })
    }

    static func address(_ p: Place) -> DeviceAddress {
        DeviceAddress(type: "usb", attributes: [
            XMLAttribute("bus", String(p.bus)), XMLAttribute("port", p.path.map(String.init).joined(separator: ".")),
        ])
    }

    /// The `<hub type='usb'>` elements kept verbatim in `<devices>`: index in extra.children and address.
    static func hubs(_ d: Domain) -> [(child: Int, address: DeviceAddress?)] {
        d.devices.extra.children.enumerated().compactMap { i, node in
            guard case .element("hub", let attrs, let children) = node,
                  attrs.contains(where: { $0.name == "type" && $0.value == "usb" }) else { return nil }
            for case .element("address", let a, _) in children {
                let type = a.first { $0.name == "type" }?.value ?? ""
                return (i, DeviceAddress(type: type, attributes: a.filter { $0.name != "type" }))
            }
            return (i, nil)
        }
    }

    /// Addresses of the USB hubs of a domain, in document order (the argv builder creates them).
    public static func hubAddresses(_ d: Domain) -> [DeviceAddress?] { hubs(d).map(\.address) }

    static func setHubAddress(_ d: inout Domain, child: Int, _ a: DeviceAddress) {
        guard case .element(let name, let attrs, var children) = d.devices.extra.children[child] else { return }
        children.removeAll { if case .element("address", _, _) = $0 { return true } else { return false } }
        children.append(.element(name: "address", attributes: [XMLAttribute("type", a.type)] + a.attributes, children: []))
        d.devices.extra.children[child] = .element(name: name, attributes: attrs, children: children)
    }

    public static func assign(_ d: inout Domain) {
        // libvirt states that USB host devices are not detached from host drivers unless asked.
        for i in d.devices.hostdevs.indices where d.devices.hostdevs[i].type == "usb"
            && !d.devices.hostdevs[i].extra.attributes.contains(where: { $0.name == "managed" }) {
            d.devices.hostdevs[i].extra.attributes.append(XMLAttribute("managed", "no"))
        }
        var buses: [Int: Int] = [:]
        for c in d.devices.controllers where c.type == "usb" {
            let n = rootPorts(c)
            if n > 0, buses[c.index] == nil { buses[c.index] = n }
        }
        guard !buses.isEmpty else { return }
        let devs = d.devices
        let usbHostdevs = devs.hostdevs.indices.filter { devs.hostdevs[$0].mode == "subsystem" && devs.hostdevs[$0].type == "usb" }
        let usbDisks = devs.disks.indices.filter { devs.disks[$0].targetBus == "usb" }
        let usbInputs = devs.inputs.indices.filter { devs.inputs[$0].bus == "usb" }
        let usbSerials = devs.serials.indices.filter { devs.serials[$0].targetType == "usb-serial" }
        let usbSounds = devs.sounds.indices.filter { devs.sounds[$0].model == "usb" }
        let usbRedirs = devs.redirdevs.indices.filter { devs.redirdevs[$0].bus == "usb" }

        // Hubs when the devices (hubs included) outnumber the ports, as qemuDomainUSBAddressAddHubs.
        var hubList = hubs(d)
        let count = hubList.count + usbHostdevs.count + usbDisks.count + usbInputs.count + usbSerials.count
            + usbSounds.count + usbRedirs.count
        let available = buses.values.reduce(0, +) + hubList.count * hubPorts
        if count > available {
            let needed = (count - available + 1 + hubPorts - 2) / (hubPorts - 1)
            for _ in 0..<needed {
                d.devices.extra.children.append(.element(name: "hub", attributes: [XMLAttribute("type", "usb")], children: []))
            }
            hubList = hubs(d)
        }

        // Explicit addresses are taken first; a hub given a place opens its ports.
        var used = Set<Place>()
        var hubPlaces = Set<Place>()
        let explicit = hubList.map(\.address) + usbHostdevs.map { devs.hostdevs[$0].address } + usbDisks.map { devs.disks[$0].address }
            + usbInputs.map { devs.inputs[$0].address } + usbSerials.map { devs.serials[$0].address }
            + usbSounds.map { devs.sounds[$0].address } + usbRedirs.map { devs.redirdevs[$0].address }
        for case let p? in explicit.map(place) { used.insert(p) }
        for case let p? in hubList.map({ place($0.address) }) { hubPlaces.insert(p) }

        /// The first free port: the bus's own ports before those of its hubs, breadth by level.
        func freePort(_ bus: Int, _ prefix: [Int], ports: Int) -> Place? {
            for port in 1...ports where !used.contains(Place(bus: bus, path: prefix + [port])) {
                return Place(bus: bus, path: prefix + [port])
            }
            guard prefix.count + 1 < maxDepth else { return nil }
            for port in 1...ports where hubPlaces.contains(Place(bus: bus, path: prefix + [port])) {
                if let p = freePort(bus, prefix + [port], ports: hubPorts) { return p }
            }
            return nil
        }
        func next() -> DeviceAddress? {
            for bus in buses.keys.sorted() {
                if let p = freePort(bus, [], ports: buses[bus] ?? 0) {
                    used.insert(p)
                    return address(p)
                }
            }
            return nil   // no free port: QEMU picks one itself (or refuses) when the domain starts
        }

        for hub in hubList where place(hub.address) == nil {
            guard let a = next(), let p = place(a) else { break }
            hubPlaces.insert(p)
            setHubAddress(&d, child: hub.child, a)
        }
        for i in usbHostdevs where place(d.devices.hostdevs[i].address) == nil { d.devices.hostdevs[i].address = next() }
        for i in usbDisks where place(d.devices.disks[i].address) == nil { d.devices.disks[i].address = next() }
        for i in usbInputs where place(d.devices.inputs[i].address) == nil { d.devices.inputs[i].address = next() }
        for i in usbSerials where place(d.devices.serials[i].address) == nil { d.devices.serials[i].address = next() }
        for i in usbSounds where place(d.devices.sounds[i].address) == nil { d.devices.sounds[i].address = next() }
        for i in usbRedirs where place(d.devices.redirdevs[i].address) == nil { d.devices.redirdevs[i].address = next() }
    }
}
