import DomainXML
import Foundation
import Hummingbird
import Hypervisor
import OSInfo

/// virt-install's job for one request: validate it, fill the gaps from the OS's defaults, plan
/// the XML, then create the disk, define and start — undoing all of it when a step fails.
struct GuestWizard: Sendable {
    let driver: any HypervisorDriver
    let db: OSDatabase
    /// Files named in the request must exist here (a remote host's files cannot be checked).
    let localHost: Bool

    struct NewVolume: Sendable, Equatable {
        var pool: String
        var name: String
        var capacity: UInt64
        var format: String

        var xml: String {
            "<volume>\n  <name>\(xmlEscape(name))</name>\n  <capacity unit='bytes'>\(capacity)</capacity>\n" +
                "  <target>\n    <format type='\(format)'/>\n  </target>\n</volume>\n"
        }
    }

    struct Planned: Sendable {
        var plan: GuestPlan
        var newVolume: NewVolume?
    }

    static let maxMemoryMiB = 4 << 20          // 4 TiB
    static let maxVCPUs = 255
    static let maxDiskGiB = 65_536.0           // 64 TiB
    static let diskBuses = ["virtio", "sata", "scsi", "ide", "usb"]
    static let nicModels = ["virtio", "e1000e", "e1000", "rtl8139"]
    static let videoModels = ["virtio", "qxl", "vga", "bochs", "cirrus", "ramfb", "none"]

    static func bad(_ message: String) -> APIError { APIError(.badRequest, message, code: .invalidArg) }

    /// virt-install's name rule in practice: a letter or digit, then letters, digits and ._+-.
    static func validName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.utf8.count <= 64 else { return false }
        func ok(_ c: Unicode.Scalar, _ extra: String) -> Bool {
            c.isASCII && (CharacterSet.alphanumerics.contains(c) || extra.unicodeScalars.contains(c))
        }
        return ok(first, "") && name.unicodeScalars.allSatisfy { ok($0, "._+-") }
    }

    func plan(_ r: GuestRequest) async throws -> Planned {
        guard Self.validName(r.name) else {
            throw Self.bad("invalid guest name '\(r.name)': use 1-64 letters, digits, '.', '_', '+' or '-', starting with a letter or digit")
        }
        // virt-install's collision check, before anything is made (define would also refuse).
        if (try? await driver.lookupDomain(name: r.name)) != nil {
            throw APIError(.conflict, "guest name '\(r.name)' is already in use by another guest", code: .domExist)
        }
        let osKey = r.os ?? "generic"
        guard let os = db.lookup(osKey) else {
            throw Self.bad("unknown OS '\(osKey)': not in osinfo-db (search /api/v1/osinfo?q=...)")
        }
        let d = os.defaults()
        let memory = r.memoryMiB ?? d.memoryMiB
        guard (16...Self.maxMemoryMiB).contains(memory) else {
            throw Self.bad("memoryMiB \(memory) is out of range: 16 to \(Self.maxMemoryMiB) MiB")
        }
        let vcpus = r.vcpus ?? d.vcpus
        guard (1...Self.maxVCPUs).contains(vcpus) else { throw Self.bad("vcpus \(vcpus) is out of range: 1 to \(Self.maxVCPUs)") }
        let graphics = r.graphics ?? "vnc"
        guard ["vnc", "spice", "none"].contains(graphics) else { throw Self.bad("graphics '\(graphics)' is not one of vnc, spice, none") }
        let video = r.video ?? d.video
        guard Self.videoModels.contains(video) else {
            throw Self.bad("video '\(video)' is not one of \(Self.videoModels.joined(separator: ", "))")
        }
        let firmware = r.firmware ?? d.firmware
        guard ["bios", "efi"].contains(firmware) else { throw Self.bad("firmware '\(firmware)' is not bios or efi") }
        if firmware == "efi", localHost, !FileManager.default.fileExists(atPath: GuestPlan.ovmfCode) {
            throw Self.bad("firmware 'efi' needs OVMF (\(GuestPlan.ovmfCode) is missing: apt-get install ovmf)")
        }
        if firmware == "bios", os.requiresEFI() {
            throw Self.bad("\(os.name) cannot boot with BIOS firmware: choose efi")
        }
        let nic = try await network(r.network, defaultModel: d.nicModel)
        let cdromBus = d.machine == "q35" ? "sata" : "ide"

        var disks: [GuestPlan.Disk] = []
        var boot: [String] = []
        var newVolume: NewVolume?
        var kernel: String?, initrd: String?, cmdline: String?
        let diskBus = r.disk?.bus ?? d.diskBus
        guard Self.diskBuses.contains(diskBus) else {
            throw Self.bad("disk bus '\(diskBus)' is not one of \(Self.diskBuses.joined(separator: ", "))")
        }
        switch r.install.kind {
        case "iso":
            guard let iso = r.install.iso, !iso.isEmpty else { throw Self.bad("an ISO install needs install.iso (a path or pool/volume)") }
            let media = try await source(iso, what: "install.iso", defaultFormat: "raw")
            // virt-install's default for an ISO install: a new disk in the default pool.
            newVolume = try await volume(r.name, r.disk, defaultGiB: d.diskGiB)
            if let v = newVolume {
                disks.append(.init(source: .volume(pool: v.pool, volume: v.name), device: "disk", bus: diskBus, format: v.format))
            }
            disks.append(.init(source: media, device: "cdrom", bus: cdromBus, format: nil))
            boot = ["cdrom", "hd"]
        case "import":
            guard let path = r.install.disk, !path.isEmpty else { throw Self.bad("an import needs install.disk (a path or pool/volume)") }
            disks.append(.init(source: try await source(path, what: "install.disk", defaultFormat: nil), device: "disk", bus: diskBus, format: nil))
            boot = ["hd"]
        case "kernel":
            guard let k = r.install.kernel, !k.isEmpty else { throw Self.bad("a direct kernel boot needs install.kernel") }
            kernel = try localFile(k, what: "install.kernel")
            if let i = r.install.initrd, !i.isEmpty { initrd = try localFile(i, what: "install.initrd") }
            if let c = r.install.cmdline, !c.isEmpty {
                guard c.utf8.count <= 4096 else { throw Self.bad("install.cmdline is longer than 4096 bytes") }
                cmdline = c
            }
            if let path = r.install.disk, !path.isEmpty {
                disks.append(.init(source: try await source(path, what: "install.disk", defaultFormat: nil), device: "disk", bus: diskBus, format: nil))
            } else if r.disk?.sizeGiB != nil {
                newVolume = try await volume(r.name, r.disk, defaultGiB: d.diskGiB)
                if let v = newVolume {
                    disks.append(.init(source: .volume(pool: v.pool, volume: v.name), device: "disk", bus: diskBus, format: v.format))
                }
            }
            boot = ["hd"]
        default:
            throw Self.bad("install.kind '\(r.install.kind)' is not one of iso, import, kernel")
        }

        let plan = GuestPlan(
            name: r.name, osURI: os.isGeneric ? nil : os.id, domainType: try await domainType(),
            machine: d.machine, memoryMiB: memory, vcpus: vcpus, firmware: firmware,
            localtimeClock: ["win9x", "winnt", "win16"].contains(os.family ?? ""),
            boot: boot, kernel: kernel, initrd: initrd, cmdline: cmdline, disks: disks, network: nic,
            graphics: graphics, video: video, usb: d.usb, serial: r.serial ?? true)
        return Planned(plan: plan, newVolume: newVolume)
    }

    /// Creates the disk, defines the guest and starts it if asked; on failure removes what it made.
    func create(_ r: GuestRequest) async throws -> GuestCreatedJSON {
        let planned = try await plan(r)
        let xml = planned.plan.domainXML
        var volume: StorageVolRef?
        var domain: DomainRef?
        do {
            if let v = planned.newVolume {
                let pool = try await driver.lookupStoragePool(name: v.pool)
                volume = try await driver.createStorageVolume(pool, xml: v.xml, flags: [])
            }
            let ref = try await driver.defineDomain(xml: xml, validate: false)
            domain = ref
            if r.start ?? false { domain = try await driver.startDomain(ref, flags: []) }
            return try await created(domain ?? ref, xml: xml, volumes: volume.map { ["\($0.pool)/\($0.name)"] } ?? [])
        } catch {
            await undo(domain: domain, volume: volume)
            throw APIError(error)
        }
    }

    private func undo(domain: DomainRef?, volume: StorageVolRef?) async {
        if let domain {
            if let st = try? await driver.domainState(domain), st.state != .shutoff {
                try? await driver.destroyDomain(domain, flags: 0)
            }
            try? await driver.undefineDomain(domain, flags: 0)
        }
        if let volume { try? await driver.deleteStorageVolume(volume, flags: []) }
    }

    private func created(_ ref: DomainRef, xml: String, volumes: [String]) async throws -> GuestCreatedJSON {
        GuestCreatedJSON(domain: try await DomainSummary.load(driver, ref), xml: xml, createdVolumes: volumes)
    }

    // MARK: Pieces

    /// kvm when the host's capabilities offer it for x86_64 (Corral's driver lists it only when
    /// a probe guest really ran), else qemu (TCG), as virt-install picks.
    func domainType() async throws -> String {
        let caps: String
        do { caps = try await driver.capabilitiesXML() } catch { throw APIError(error) }
        guard let arch = caps.range(of: "<arch name='x86_64'>") ?? caps.range(of: "<arch name=\"x86_64\">") else { return "qemu" }
        let rest = caps[arch.upperBound...]
        let block = rest[..<(rest.range(of: "</arch>")?.lowerBound ?? rest.endIndex)]
        return block.contains("<domain type='kvm'") || block.contains("<domain type=\"kvm\"") ? "kvm" : "qemu"
    }

    private func network(_ n: GuestRequest.Network?, defaultModel: String) async throws -> GuestPlan.NIC? {
        let type = n?.type ?? "user"
        if type == "none" { return nil }
        let model = n?.model ?? defaultModel
        guard Self.nicModels.contains(model) else {
            throw Self.bad("network model '\(model)' is not one of \(Self.nicModels.joined(separator: ", "))")
        }
        switch type {
        case "user":
            return .init(type: "user", name: nil, model: model)
        case "network":
            guard let name = n?.name, !name.isEmpty else { throw Self.bad("network.type 'network' needs network.name") }
            do { _ = try await driver.lookupNetwork(name: name) } catch {
                throw Self.bad("network '\(name)' not found on this connection")
            }
            return .init(type: "network", name: name, model: model)
        default:
            throw Self.bad("network.type '\(type)' is not one of user, network, none")
        }
    }

    /// A kernel or initrd: on the daemon's own host it must be a readable file.
    private func localFile(_ path: String, what: String) throws -> String {
        guard path.hasPrefix("/") else { throw Self.bad("\(what) must be an absolute path, not '\(path)'") }
        if localHost {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
                throw Self.bad("\(what): no such file '\(path)'")
            }
        }
        return path
    }

    /// An ISO or disk given as an absolute path or as "pool/volume".
    private func source(_ spec: String, what: String, defaultFormat: String?) async throws -> GuestPlan.DiskSource {
        if spec.hasPrefix("/") {
            if localHost {
                _ = try localFile(spec, what: what)
                return .file(path: spec, format: defaultFormat ?? Self.imageFormat(spec))
            }
            // A remote host's file is only known to us through its storage pools.
            guard let vol = try? await driver.lookupStorageVolume(path: spec) else {
                throw Self.bad("\(what): '\(spec)' is not a volume of any storage pool on the remote host")
            }
            return .volume(pool: vol.pool, volume: vol.name)
        }
        let parts = spec.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw Self.bad("\(what) '\(spec)' is neither an absolute path nor pool/volume")
        }
        let pool = try await lookupPool(parts[0])
        do { _ = try await driver.lookupStorageVolume(pool: pool, name: parts[1]) } catch {
            throw Self.bad("\(what): no volume '\(parts[1])' in storage pool '\(parts[0])'")
        }
        return .volume(pool: parts[0], volume: parts[1])
    }

    /// qcow2 when the file starts with its magic, else raw (what virt-install's probe amounts to).
    static func imageFormat(_ path: String) -> String {
        guard let h = FileHandle(forReadingAtPath: path) else { return "raw" }
        defer { try? h.close() }
        let magic = (try? h.read(upToCount: 4)) ?? Data()
        return magic == Data([0x51, 0x46, 0x49, 0xFB]) ? "qcow2" : "raw"
    }

    private func lookupPool(_ name: String) async throws -> StoragePoolRef {
        let pool: StoragePoolRef
        do { pool = try await driver.lookupStoragePool(name: name) } catch {
            throw Self.bad("storage pool '\(name)' not found on this connection")
        }
        guard (try? await driver.storagePoolIsActive(pool)) == true else {
            throw Self.bad("storage pool '\(name)' is not active: start it first")
        }
        return pool
    }

    /// The new disk: in the requested (else default) pool, named after the guest as virt-manager
    /// names it (NAME.qcow2, then NAME-1.qcow2, ... when taken).
    private func volume(_ guest: String, _ spec: GuestRequest.Disk?, defaultGiB: Int) async throws -> NewVolume? {
        let size = spec?.sizeGiB ?? Double(defaultGiB)
        if size == 0 { return nil }     // 0: no disk, as virt-install's --disk none
        guard size.isFinite, size > 0, size <= Self.maxDiskGiB else {
            throw Self.bad("disk.sizeGiB \(size) is out of range: more than 0, at most \(Int(Self.maxDiskGiB)) GiB")
        }
        let format = spec?.format ?? "qcow2"
        guard ["qcow2", "raw"].contains(format) else { throw Self.bad("disk.format '\(format)' is not qcow2 or raw") }
        let poolName = spec?.pool ?? "default"
        let pool = try await lookupPool(poolName)
        let capacity = UInt64(size * 1_073_741_824)
        var name = "\(guest).\(format)"
        var n = 0
        while (try? await driver.lookupStorageVolume(pool: pool, name: name)) != nil {
            n += 1
            guard n < 1000 else { throw Self.bad("no free volume name for '\(guest)' in pool '\(poolName)'") }
            name = "\(guest)-\(n).\(format)"
        }
        return NewVolume(pool: poolName, name: name, capacity: capacity, format: format)
    }
}
