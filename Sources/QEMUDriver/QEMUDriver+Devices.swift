import Foundation
import DomainXML
import Hypervisor
#if canImport(Glibc)
import Glibc
#endif

// Live and persistent device changes (virDomainAttachDeviceFlags, DetachDeviceFlags,
// UpdateDeviceFlags). The persistent side edits etc/qemu/NAME.xml through the same parse +
// defaults path as define; the live side talks QMP and rewrites the live XML (status.xml),
// naming devices and block nodes exactly as the argv builder does at start, so a device
// attached here and one present since boot are detached the same way.

extension QEMUDriver {
    public func attachDevice(_ dom: DomainRef, xml: String, flags: DeviceModifyFlags) async throws {
        try await changeDevice(dom, xml: xml, flags: flags, .attach)
    }

    public func detachDevice(_ dom: DomainRef, xml: String, flags: DeviceModifyFlags) async throws {
        try await changeDevice(dom, xml: xml, flags: flags, .detach)
    }

    public func updateDevice(_ dom: DomainRef, xml: String, flags: DeviceModifyFlags) async throws {
        try await changeDevice(dom, xml: xml, flags: flags, .update)
    }

    enum DeviceChange { case attach, detach, update }

    /// libvirt's order: check the config change on a copy, apply the live change, then write
    /// the config, so a failed hotplug leaves the persistent definition as it was.
    func changeDevice(_ dom: DomainRef, xml: String, flags: DeviceModifyFlags, _ op: DeviceChange) async throws {
        let e = try resolve(dom)
        let name = e.name
        let lock = try await FileLock.acquire(state.domainLock(name), what: "domain")
        defer { lock.release() }
        let running = reconcileLocked(name)
        let live = running ? loadRunning(name)?.0 : nil
        let config = parsed.domain(at: state.configPath(name))

        var affectLive = flags.contains(.live), affectConfig = flags.contains(.config)
        if !affectLive && !affectConfig {
            if live != nil { affectLive = true } else { affectConfig = true }
        }
        if affectLive && live == nil { throw VirError.notRunning(name) }
        if affectConfig && config == nil {
            throw VirError.operationInvalid("transient domains do not have any persistent config")
        }

        var dev: DomainDevice
        do { dev = try DomainDevice(xml: xml) } catch { throw VirError.xml(error) }
        // One MAC for both definitions when a NIC without one goes to live and config.
        if case .interface(var n) = dev, n.mac == nil, op == .attach {
            n.mac = Self.freshMAC(avoiding: Set(((live?.devices.interfaces ?? []) + (config?.devices.interfaces ?? [])).compactMap(\.mac)))
            dev = .interface(n)
        }

        var newConfig: Domain?
        if affectConfig, let config { newConfig = try changedConfig(config, dev, op) }
        if affectLive, let live {
            switch op {
            case .attach: try await attachLive(name, live, dev)
            case .detach: try await detachLive(name, live, dev)
            case .update: try await updateLive(name, live, dev, force: flags.contains(.force))
            }
        }
        if let newConfig {
            try FileIO.writeAtomically(newConfig.formatXML([.inactive, .secure]), to: state.configPath(name))
        }
    }

    /// A MAC in the 52:54:00 range libvirt gives QEMU guests, not in `used` (made by the define defaults).
    static func freshMAC(avoiding used: Set<String>) -> String {
        var probe = Domain()
        probe.devices.interfaces = [Interface()]
        var mac: String
        repeat {
            probe.devices.interfaces[0].mac = nil
            probe.applyDefaults()
            mac = probe.devices.interfaces[0].mac ?? "52:54:00:00:00:01"
        } while used.contains(mac)
        return mac
    }

    // MARK: Persistent definition

    /// The config with the change applied, validated and with defaults filled in like a define.
    func changedConfig(_ config: Domain, _ dev: DomainDevice, _ op: DeviceChange) throws -> Domain {
        var def = config
        do {
            switch op {
            case .attach:
                try def.addDevice(dev)
            case .detach:
                let slot: DeviceSlot
                do { slot = try def.findDevice(dev) } catch { throw VirError(.deviceMissing, error.message, domain: .qemu) }
                def.removeDevice(at: slot)
            case .update:
                guard case .disk(var disk) = dev else {
                    throw VirError(.operationUnsupported, "Operation not supported: persistent update of device '\(dev.elementName)' is not supported", domain: .qemu)
                }
                guard let i = def.devices.disks.firstIndex(where: { $0.targetDev == disk.targetDev }) else {
                    throw VirError(.invalidArg, "invalid argument: target \(disk.targetDev) doesn't exist.", domain: .qemu)
                }
                let old = def.devices.disks[i]
                if disk.address == nil { disk.address = old.address }
                def.devices.disks[i] = disk
            }
        } catch let error as DomainXMLError {
            throw VirError.operationInvalid(error.message)
        }
        // Re-read as a whole definition: cross-device validation and defaults (addresses, MACs).
        return try parseDefinition(def.formatXML([.inactive, .secure]))
    }

    // MARK: Live changes

    func attachLive(_ name: String, _ live: Domain, _ dev: DomainDevice) async throws {
        var updated = live
        do { try updated.addDevice(dev) } catch { throw VirError.operationInvalid(error.message) }
        func controllerSet(_ d: Domain) -> Set<String> { Set(d.devices.controllers.map { "\($0.type)#\($0.index)" }) }
        let controllersBefore = controllerSet(updated)
        updated.applyDefaults()
        // Defaults must not invent hardware the running QEMU lacks (a SCSI controller, a root port).
        guard controllerSet(updated) == controllersBefore else {
            throw VirError.unsupported("\(dev.elementName) needs a controller the running domain does not have: add it to the configuration and restart")
        }
        // A disk is found by its target, a controller by type and index; anything else was
        // appended to its kind's list.
        var slot = DeviceSlot(element: dev.elementName, index: 0)
        if case .disk(let disk) = dev {
            slot.index = updated.devices.disks.firstIndex { $0.targetDev == disk.targetDev } ?? -1
        } else if case .controller = dev {
            let known = Set(live.devices.controllers.map { "\($0.type)#\($0.index)" })
            slot.index = updated.devices.controllers.firstIndex { !known.contains("\($0.type)#\($0.index)") } ?? -1
        } else {
            slot.index = updated.count(of: dev.elementName) - 1
        }
        guard let added = updated.device(at: slot) else { throw VirError.internalError("attached device vanished") }
        var builder = try deviceBuilder(updated)
        switch added {
        case .disk(var disk):
            // QEMU gets the volume's file; the live XML keeps type='volume', as libvirt's does.
            let resolved = try await resolvingVolume(disk)
            try checkSource(resolved)
            let number = try await withMonitor(name) { qmp in try await Self.nextNodeNumber(qmp) }
            var node: String?
            if resolved.sourcePath != nil { node = try argv { try builder.buildBlockdevs(resolved, number: number, "disk '\(disk.targetDev)'") } }
            guard let index = ArgvBuilder.diskIndex(disk.targetDev) else {
                throw VirError.unsupported("disk '\(disk.targetDev)': cannot understand target dev name; expected e.g. vda, sda, hdc")
            }
            let bus = disk.targetBus ?? builder.defaultBus(disk)
            guard ["virtio", "scsi", "usb"].contains(bus) else {
                throw VirError(.operationUnsupported, "Operation not supported: disk bus '\(bus)' cannot be hotplugged.", domain: .qemu)
            }
            try argv { try builder.buildDiskDevice(resolved, bus: bus, index: index, node: node, boot: disk.bootOrder, "disk '\(disk.targetDev)'") }
            let (blockdevs, devices) = try Self.split(builder.args)
            guard let device = devices.first, let alias = device["id"]?.string else { throw VirError.internalError("no device built for disk '\(disk.targetDev)'") }
            try await withMonitor(name) { qmp in
                var added: [String] = []
                do {
                    for b in blockdevs {
                        try await qmp.execute("blockdev-add", arguments: b)
                        if let n = b["node-name"]?.string { added.append(n) }
                    }
                    try await qmp.execute("device_add", arguments: device)
                } catch {
                    for n in added.reversed() { _ = try? await qmp.execute("blockdev-del", arguments: ["node-name": .string(n)]) }
                    throw error
                }
            }
            disk.alias = alias
            updated.replaceDevice(at: slot, with: .disk(disk))
        case .interface(var net):
            let n = Self.nextAliasNumber("net", in: live.devices.interfaces.compactMap(\.alias))
            let (alias, netdevID) = ("net\(n)", "hostnet\(n)")
            // The host side first, as a start does: a vnetN tap on the bridge (system mode, named
            // in <target dev>) or user-mode options shaped by the network (session mode).
            let backend = try await setUpInterface(&net, index: slot.index)
            var tap: String?
            if case .tap(let t) = backend { tap = t }
            // Recorded before QEMU gets it, so a stop or reconcile removes it even if this
            // attach is cut short.
            if let tap { recordTaps([tap], domain: name) }
            do {
                // The argv builder's own NIC code (netdev + device), run for this one interface:
                // the one place a NIC's netdev is made, with the backend as interface 0's.
                var one = updated
                one.devices.interfaces = [net]
                var b = try deviceBuilder(one) { context in
                    if let backend { context.interfaceBackends[0] = backend }
                }
                try argv { try b.buildInterfaces() }
                let netdevs = try Self.options(b.args, "-netdev").map { Self.renamed($0, ["id": netdevID]) }
                guard var device = try Self.options(b.args, "-device").first else { throw VirError.internalError("no device built for the interface") }
                device = Self.renamed(device, ["id": alias, "netdev": netdevID])
                try await withMonitor(name) { qmp in
                    var added: [String] = []
                    do {
                        for nd in netdevs {
                            try await qmp.execute("netdev_add", arguments: nd)
                            if let id = nd["id"]?.string { added.append(id) }
                        }
                        try await qmp.execute("device_add", arguments: device)
                    } catch {
                        for id in added.reversed() { _ = try? await qmp.execute("netdev_del", arguments: ["id": .string(id)]) }
                        throw error
                    }
                }
            } catch {
                if let tap { releaseTap(tap, domain: name) }
                throw error
            }
            net.alias = alias
            updated.replaceDevice(at: slot, with: .interface(net))
        case .input(var input):
            guard input.bus == "usb" || input.bus == "virtio" else {
                throw VirError(.operationUnsupported, "Operation not supported: input device on bus '\(input.bus ?? "ps2")' cannot be hotplugged.", domain: .qemu)
            }
            let alias = "input\(Self.nextAliasNumber("input", in: live.devices.inputs.compactMap(\.alias)))"
            var one = updated
            one.devices.inputs = [input]
            var b = try deviceBuilder(one)
            try argv { try b.buildInputs() }
            guard let device = try Self.options(b.args, "-device").first else { throw VirError.internalError("no device built for the input") }
            let renamed = Self.renamed(device, ["id": alias])
            try await withMonitor(name) { qmp in try await qmp.execute("device_add", arguments: renamed) }
            input.alias = alias
            updated.replaceDevice(at: slot, with: .input(input))
        case .controller(var controller, _):
            // As libvirt: only SCSI controllers can be hotplugged.
            guard controller.type == "scsi" else {
                throw VirError(.operationUnsupported, "Operation not supported: '\(controller.type)' controller cannot be hot plugged.", domain: .qemu)
            }
            var b = try deviceBuilder(updated)
            try argv { try b.buildController(controller) }
            guard let device = try Self.options(b.args, "-device").first, let alias = device["id"]?.string else {
                throw VirError.internalError("no device built for the controller")
            }
            try await withMonitor(name) { qmp in try await qmp.execute("device_add", arguments: device) }
            controller.alias = alias
            updated.replaceDevice(at: slot, with: .controller(controller, indexGiven: true))
        case .hostdev(var hostdev):
            guard hostdev.type == "usb" else {
                throw VirError(.operationUnsupported, "Operation not supported: live attach of hostdev type '\(hostdev.type)' is not supported", domain: .qemu)
            }
            let alias = "hostdev\(Self.nextAliasNumber("hostdev", in: live.devices.hostdevs.compactMap(\.alias)))"
            var one = updated
            one.devices.hostdevs = [hostdev]
            var b = try deviceBuilder(one)
            try argv { try b.buildHostdevs() }
            guard let device = try Self.options(b.args, "-device").first else { throw VirError.internalError("no device built for the hostdev") }
            let renamed = Self.renamed(device, ["id": alias])
            try await withMonitor(name) { qmp in try await qmp.execute("device_add", arguments: renamed) }
            hostdev.alias = alias
            updated.replaceDevice(at: slot, with: .hostdev(hostdev))
        default:
            throw VirError(.operationUnsupported, "Operation not supported: live attach of device '\(dev.elementName)' is not supported", domain: .qemu)
        }
        try writeLive(name, updated)
    }

    func detachLive(_ name: String, _ live: Domain, _ dev: DomainDevice) async throws {
        var updated = live
        let slot: DeviceSlot
        do { slot = try live.findDevice(dev) } catch { throw VirError(.deviceMissing, error.message, domain: .qemu) }
        guard let found = live.device(at: slot) else { throw VirError.internalError("device vanished") }
        let aliases = liveAliases(live)
        switch found {
        case .disk(let disk):
            let bus = disk.targetBus ?? DomainXML.Domain.diskBus(forTarget: disk.targetDev) ?? ""
            guard ["virtio", "scsi", "usb"].contains(bus) else {
                throw VirError(.operationUnsupported, "Operation not supported: This type of disk cannot be hot unplugged", domain: .qemu)
            }
            let alias = disk.alias ?? aliases.disks[slot.index]
            try await withMonitor(name) { qmp in
                let node = try await Self.blockNode(qmp, device: alias)
                try await Self.deleteDevice(qmp, alias)
                if let node { await Self.deleteNodes(qmp, node) }
            }
        case .interface(let net):
            let alias = net.alias ?? aliases.interfaces[slot.index]
            try await withMonitor(name) { qmp in
                try await Self.deleteDevice(qmp, alias)
                _ = try? await qmp.execute("netdev_del", arguments: ["id": .string("host" + alias)])
            }
            // QEMU has let go of the tap; it is ours to delete only if this domain's start or
            // attach created it (a <target dev> alone proves nothing).
            if let tap = net.targetDev { releaseTap(tap, domain: name) }
        case .input(let input):
            guard input.bus == "usb" || input.bus == "virtio" else {
                throw VirError(.operationUnsupported, "Operation not supported: input device on bus '\(input.bus ?? "ps2")' cannot be detached", domain: .qemu)
            }
            let alias = input.alias ?? aliases.inputs[slot.index]
            try await withMonitor(name) { qmp in try await Self.deleteDevice(qmp, alias) }
        case .controller(let controller, _):
            guard controller.type == "scsi" else {
                throw VirError(.operationUnsupported, "Operation not supported: '\(controller.type)' controller cannot be hot unplugged.", domain: .qemu)
            }
            let busy = live.devices.disks.contains { d in
                (d.targetBus ?? DomainXML.Domain.diskBus(forTarget: d.targetDev)) == "scsi"
                    && (d.address?["controller"].flatMap(parseXMLInt) ?? 0) == controller.index
            }
            guard !busy else {
                throw VirError.operationFailed("device cannot be detached: device is busy")
            }
            let alias = controller.alias ?? "scsi\(controller.index)"
            try await withMonitor(name) { qmp in try await Self.deleteDevice(qmp, alias) }
        case .hostdev(let hostdev) where hostdev.type == "usb":
            let alias = hostdev.alias ?? aliases.hostdevs[slot.index]
            try await withMonitor(name) { qmp in try await Self.deleteDevice(qmp, alias) }
        default:
            throw VirError(.operationUnsupported, "Operation not supported: live detach of device '\(dev.elementName)' is not supported", domain: .qemu)
        }
        updated.removeDevice(at: slot)
        try writeLive(name, updated)
    }

    /// CD-ROM/floppy media change, the only live update of a disk: the same QMP steps as
    /// libvirt's qemuDomainChangeMediaBlockdev (open tray, remove medium, add + insert, close).
    func updateLive(_ name: String, _ live: Domain, _ dev: DomainDevice, force: Bool) async throws {
        guard case .disk(let disk) = dev else {
            throw VirError(.operationUnsupported, "Operation not supported: live update of device '\(dev.elementName)' is not supported", domain: .qemu)
        }
        guard let i = live.devices.disks.firstIndex(where: { $0.targetDev == disk.targetDev }) else {
            throw VirError(.invalidArg, "invalid argument: target \(disk.targetDev) doesn't exist.", domain: .qemu)
        }
        let old = live.devices.disks[i]
        if disk.device != old.device { throw VirError(.operationUnsupported, "Operation not supported: cannot modify field 'device' of the disk", domain: .qemu) }
        if let bus = disk.targetBus, bus != old.targetBus { throw VirError(.operationUnsupported, "Operation not supported: cannot modify field 'bus' of the disk", domain: .qemu) }
        guard old.device == "cdrom" || old.device == "floppy" else {
            if disk.sourcePath == old.sourcePath { return }
            throw VirError(.operationUnsupported, "Operation not supported: disk source can be changed only in removable media", domain: .qemu)
        }
        if disk.sourcePath == old.sourcePath && disk.type == old.type { return }
        // The new image must exist before anything moves: a failed change keeps the old medium.
        try checkSource(disk)
        var media = old
        media.type = disk.type
        media.sourcePath = disk.sourcePath
        media.sourceExtra = disk.sourceExtra
        if disk.driverType != nil { media.driverType = disk.driverType }
        if media.sourcePath != nil && media.driverType == nil { media.driverType = "raw" }
        let alias = old.alias ?? liveAliases(live).disks[i]
        var builder = try deviceBuilder(live)
        let target = old.targetDev
        try await withMonitor(name) { qmp in
            let oldNode = try await Self.blockNode(qmp, device: alias)
            var blockdevs: [[String: QMPValue]] = []
            if media.sourcePath != nil {
                let number = try await Self.nextNodeNumber(qmp)
                _ = try argv { try builder.buildBlockdevs(media, number: number, "disk '\(target)'") }
                blockdevs = try Self.split(builder.args).blockdevs
            }
            try await Self.openTray(qmp, alias, force: force, target: target)
            try await Self.withTrayOpen(qmp, alias, force: force, target: target) {
                try await qmp.execute("blockdev-remove-medium", arguments: ["id": .string(alias)])
            }
            if let oldNode { await Self.deleteNodes(qmp, oldNode) }
            var added: [String] = []
            do {
                for b in blockdevs {
                    try await qmp.execute("blockdev-add", arguments: b)
                    if let n = b["node-name"]?.string { added.append(n) }
                }
                if let format = added.last {
                    try await Self.withTrayOpen(qmp, alias, force: force, target: target) {
                        try await qmp.execute("blockdev-insert-medium", arguments: ["id": .string(alias), "node-name": .string(format)])
                    }
                }
                try await qmp.execute("blockdev-close-tray", arguments: ["id": .string(alias)])
            } catch {
                for n in added.reversed() { _ = try? await qmp.execute("blockdev-del", arguments: ["node-name": .string(n)]) }
                throw error
            }
        }
        var updated = live
        media.alias = alias
        updated.devices.disks[i] = media
        try writeLive(name, updated)
    }

    // MARK: Helpers

    func writeLive(_ name: String, _ live: Domain) throws {
        try FileIO.writeAtomically(live.formatXML([.secure]), to: state.statusXML(name), durable: false)
    }

    /// Storage QEMU would fail on, named in libvirt's words before anything is changed.
    func checkSource(_ disk: Disk) throws {
        guard disk.type == "file" || disk.type == "block", let path = disk.sourcePath, !path.isEmpty else { return }
        guard access(path, R_OK) == 0 else {
            throw VirError(.systemError, "Cannot access storage file '\(path)': \(String(cString: strerror(errno)))", domain: .qemu)
        }
    }

    /// An argv builder over `def`, for building one device the way the start did. `prepare`
    /// fills in what the start resolves before building (e.g. a hotplugged NIC's host backend).
    func deviceBuilder(_ def: Domain, prepare: (inout QEMULaunchContext) -> Void = { _ in }) throws -> ArgvBuilder {
        let emulator = emulatorPath(for: def)
        let caps = try capabilities(emulator: emulator)
        var context = state.launchContext(def.name, accel: try accelerator(for: def))
        prepare(&context)
        return try argv { try ArgvBuilder(domain: def, context: context, caps: caps) }
    }

    /// The argv builder's complaints are configuration errors, as at start.
    func argv<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as DomainXMLError { throw VirError.unsupported(error.message) }
    }

    /// `-blockdev` and `-device` JSON options of an argv fragment, as QMP arguments.
    static func split(_ args: [String]) throws -> (blockdevs: [[String: QMPValue]], devices: [[String: QMPValue]]) {
        (try options(args, "-blockdev"), try options(args, "-device"))
    }

    static func options(_ args: [String], _ flag: String) throws -> [[String: QMPValue]] {
        var out: [[String: QMPValue]] = []
        var i = 0
        while i + 1 < args.count {
            if args[i] == flag {
                guard let obj = QMPValue.parse(Array(args[i + 1].utf8))?.object else {
                    throw VirError.internalError("cannot read the argv builder's \(flag) \(args[i + 1])")
                }
                out.append(obj)
                i += 2
            } else {
                i += 1
            }
        }
        return out
    }

    static func renamed(_ obj: [String: QMPValue], _ values: [String: String]) -> [String: QMPValue] {
        var o = obj
        for (k, v) in values where o[k] != nil { o[k] = .string(v) }
        return o
    }

    /// libvirt names a new device PREFIX<max+1> among the aliases in use.
    static func nextAliasNumber(_ prefix: String, in aliases: [String]) -> Int {
        let used = aliases.compactMap { $0.hasPrefix(prefix) ? Int($0.dropFirst(prefix.count)) : nil }
        return (used.max() ?? -1) + 1
    }

    /// Block nodes are named libvirt-N-storage / libvirt-N-format at start; a new pair takes the next N.
    static func nextNodeNumber(_ qmp: QMPClient) async throws -> Int {
        let nodes = try await qmp.execute("query-named-block-nodes", arguments: ["flat": true]).array ?? []
        var top = 0
        for n in nodes {
            guard let name = n["node-name"]?.string, name.hasPrefix("libvirt-") else { continue }
            let parts = name.split(separator: "-")
            if parts.count == 3, let v = Int(parts[1]) { top = max(top, v) }
        }
        return top + 1
    }

    /// query-block's entry for the device with QEMU id `device`.
    static func blockInfo(_ qmp: QMPClient, device: String) async throws -> QMPValue? {
        let blocks = try await qmp.execute("query-block").array ?? []
        return blocks.first { b in
            guard let qdev = b["qdev"]?.string else { return false }
            return qdev == device || qdev.hasPrefix("/machine/peripheral/\(device)/") || qdev == "/machine/peripheral/\(device)"
        }
    }

    /// The format node of the medium in `device`, nil when empty.
    static func blockNode(_ qmp: QMPClient, device: String) async throws -> String? {
        try await blockInfo(qmp, device: device)?["inserted"]?["node-name"]?.string
    }

    /// Whether the tray of `device` is open; nil for tray-less drives (floppies), whose media
    /// commands need no tray moves (as libvirt's diskPriv->tray).
    static func trayOpen(_ qmp: QMPClient, device: String) async throws -> Bool? {
        guard let info = try await blockInfo(qmp, device: device) else {
            throw VirError.internalError("QEMU has no drive for device '\(device)'")
        }
        return info["tray_open"]?.bool
    }

    /// Opens the tray of `alias`. Without force a guest that locked it only gets an eject
    /// request, so wait (as libvirt, 5 s) for it to comply.
    static func openTray(_ qmp: QMPClient, _ alias: String, force: Bool, target: String) async throws {
        guard try await trayOpen(qmp, device: alias) == false else { return }
        try await qmp.execute("blockdev-open-tray", arguments: ["id": .string(alias), "force": .bool(force)])
        let deadline = Date().addingTimeInterval(5)
        while try await trayOpen(qmp, device: alias) == false {
            guard Date() < deadline else { throw VirError.operationFailed("timed out waiting to open tray of '\(target)'") }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
    }

    /// Runs a medium command that needs an open tray; a guest may close the tray in between
    /// (SeaBIOS's boot probe loads the medium), so reopen and retry a few times.
    static func withTrayOpen(_ qmp: QMPClient, _ alias: String, force: Bool, target: String,
                             _ body: () async throws -> Void) async throws {
        for attempt in 1... {
            do {
                try await body()
                return
            } catch QMPError.command(_, let desc) where desc.hasPrefix("Tray of") && desc.hasSuffix("is not open") && attempt < 5 {
                try await openTray(qmp, alias, force: force, target: target)
            }
        }
    }

    /// Removes a format node and, by the start's naming, its storage node.
    static func deleteNodes(_ qmp: QMPClient, _ format: String) async {
        _ = try? await qmp.execute("blockdev-del", arguments: ["node-name": .string(format)])
        if format.hasSuffix("-format") {
            let storage = String(format.dropLast("-format".count)) + "-storage"
            _ = try? await qmp.execute("blockdev-del", arguments: ["node-name": .string(storage)])
        }
    }

    /// device_del, then waits for QEMU to report the device gone (the guest must release a PCI
    /// device first). A device QEMU no longer has counts as gone.
    static func deleteDevice(_ qmp: QMPClient, _ alias: String) async throws {
        do {
            try await qmp.execute("device_del", arguments: ["id": .string(alias)])
        } catch QMPError.command(let cls, _) where cls == "DeviceNotFound" {
            return
        }
        let events = qmp.events
        let deleted = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await ev in events where ev.name == "DEVICE_DELETED" && ev.data?["device"]?.string == alias { return true }
                return false
            }
            group.addTask {
                try? await Task.sleep(nanoseconds: 15_000_000_000)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if deleted { return }
        // The event may have gone unseen; ask whether the device is still there.
        if (try? await qmp.execute("qom-get", arguments: ["path": .string("/machine/peripheral/\(alias)"), "property": "type"])) == nil {
            return
        }
        throw VirError(.operationTimeout, "Timed out during operation: guest did not release device '\(alias)' within 15 seconds; the unplug request stays pending", domain: .qemu)
    }

    // MARK: Aliases

    /// QEMU ids of a domain's devices, as the argv builder names them at start.
    struct DeviceAliases {
        var disks: [String] = []
        var interfaces: [String] = []
        var inputs: [String] = []
        var hostdevs: [String] = []
    }

    func liveAliases(_ def: Domain) -> DeviceAliases {
        var out = DeviceAliases()
        let builder = try? deviceBuilder(def)
        // A user alias (ua-*) is not a QEMU id here: the argv builder names every device itself.
        func known(_ alias: String?) -> String? { alias.flatMap { $0.hasPrefix("ua-") ? nil : $0 } }
        for disk in def.devices.disks {
            out.disks.append(known(disk.alias) ?? builder.flatMap { Self.diskID($0, disk) } ?? "")
        }
        out.interfaces = def.devices.interfaces.enumerated().map { known($1.alias) ?? "net\($0)" }
        out.inputs = def.devices.inputs.enumerated().map { known($1.alias) ?? "input\($0)" }
        out.hostdevs = def.devices.hostdevs.enumerated().map { known($1.alias) ?? "hostdev\($0)" }
        return out
    }

    /// The id buildDiskDevice gives `disk` (fdc drives are named in buildDisks).
    static func diskID(_ builder: ArgvBuilder, _ disk: Disk) -> String? {
        guard let index = ArgvBuilder.diskIndex(disk.targetDev) else { return nil }
        let bus = disk.targetBus ?? builder.defaultBus(disk)
        if bus == "fdc" {
            let unit = disk.address.flatMap { parseXMLInt($0["unit"]) } ?? index
            return "fdc0-0-\(unit)"
        }
        var b = builder
        b.args = []
        guard (try? b.buildDiskDevice(disk, bus: bus, index: index, node: nil, boot: nil, "disk")) != nil,
              let device = try? options(b.args, "-device").first else { return nil }
        return device["id"]?.string
    }

    /// The live XML of a domain being started, with the aliases libvirt shows (QEMU's device ids).
    func withLiveAliases(_ def: Domain) -> Domain {
        var live = def
        let a = liveAliases(def)
        for i in live.devices.disks.indices where !a.disks[i].isEmpty { live.devices.disks[i].alias = a.disks[i] }
        for i in live.devices.interfaces.indices { live.devices.interfaces[i].alias = a.interfaces[i] }
        for i in live.devices.inputs.indices { live.devices.inputs[i].alias = a.inputs[i] }
        for i in live.devices.hostdevs.indices { live.devices.hostdevs[i].alias = a.hostdevs[i] }
        // SCSI controllers, the ones that can be hot(un)plugged, as buildController names them.
        for i in live.devices.controllers.indices where live.devices.controllers[i].type == "scsi" {
            live.devices.controllers[i].alias = "scsi\(live.devices.controllers[i].index)"
        }
        return live
    }
}
