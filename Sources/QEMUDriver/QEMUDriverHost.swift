import Foundation
import DomainXML
import Hypervisor
#if canImport(Glibc)
import Glibc
#endif

extension QEMUDriver {
    // MARK: Emulator capabilities and accelerator

    /// The emulator's capabilities, probed once per binary identity and cached under cache/qemu/.
    func capabilities(emulator: String) throws -> QEMUCapabilities {
        try QEMUCapabilities.probe(emulator: emulator, cacheDir: state.cacheDir)
    }

    /// tcg for `<domain type='qemu'>`; kvm for type kvm only when KVM really runs guests here.
    func accelerator(for def: Domain) throws -> String {
        try KVMProbe.accelerator(for: def.type, cacheDir: state.cacheDir)
    }

    var kvmUsable: Bool { KVMProbe.result(cacheDir: state.cacheDir).usable }

    // MARK: Connection-level information

    public func hypervisorVersion() async throws -> UInt64 {
        let v = try capabilities(emulator: QEMUCommandLine.defaultEmulator).version + [0, 0, 0]
        return UInt64(max(0, v[0])) * 1_000_000 + UInt64(max(0, v[1])) * 1_000 + UInt64(max(0, v[2]))
    }

    public func nodeInfo() async throws -> NodeInfo {
        let host = HostInfo.read()
        return NodeInfo(model: Self.hostArch, memoryKiB: host.memoryKiB, cpus: host.cpus, mhz: host.mhz,
                        nodes: 1, sockets: host.sockets, cores: host.cores, threads: host.threads)
    }

    public func capabilitiesXML() async throws -> String {
        let host = HostInfo.read()
        let arch = Self.hostArch
        var x = "<capabilities>\n\n  <host>\n"
        if let uuid = HostInfo.hostUUID() { x += "    <uuid>\(uuid)</uuid>\n" }
        x += "    <cpu>\n      <arch>\(arch)</arch>\n"
        if !host.modelName.isEmpty { x += "      <model>\(xmlEscape(host.modelName))</model>\n" }
        if !host.vendor.isEmpty { x += "      <vendor>\(xmlEscape(host.vendor))</vendor>\n" }
        x += "      <topology sockets='\(host.sockets)' dies='1' cores='\(host.cores)' threads='\(host.threads)'/>\n"
        x += "    </cpu>\n    <power_management/>\n    <iommu support='no'/>\n"
        x += "    <topology>\n      <cells num='1'>\n        <cell id='0'>\n"
        x += "          <memory unit='KiB'>\(host.memoryKiB)</memory>\n"
        x += "          <cpus num='\(host.cpus)'>\n"
        for i in 0..<Int(max(host.cpus, 0)) { x += "            <cpu id='\(i)'/>\n" }
        x += "          </cpus>\n        </cell>\n      </cells>\n    </topology>\n  </host>\n\n"
        for (guestArch, wordsize) in [("x86_64", 64), ("i686", 32)] {
            let emulator = guestArch == "x86_64" ? QEMUCommandLine.defaultEmulator : "/usr/bin/qemu-system-i386"
            guard access(emulator, X_OK) == 0, let caps = try? capabilities(emulator: emulator) else { continue }
            x += "  <guest>\n    <os_type>hvm</os_type>\n    <arch name='\(guestArch)'>\n"
            x += "      <wordsize>\(wordsize)</wordsize>\n      <emulator>\(emulator)</emulator>\n"
            for m in caps.machines { x += "      <machine>\(xmlEscape(m))</machine>\n" }
            x += "      <domain type='qemu'/>\n"
            if kvmUsable && guestArch == arch { x += "      <domain type='kvm'/>\n" }
            x += "    </arch>\n    <features>\n      <acpi default='on' toggle='yes'/>\n      <apic default='on' toggle='no'/>\n"
            if wordsize == 32 { x += "      <pae/>\n      <nonpae/>\n" }
            x += "    </features>\n  </guest>\n\n"
        }
        x += "</capabilities>\n"
        return x
    }

    public func domainCapabilitiesXML(emulator: String?, arch: String?, machine: String?, virtType: String?) async throws -> String {
        let arch = arch ?? Self.hostArch
        let path = emulator ?? (arch == "x86_64" ? QEMUCommandLine.defaultEmulator : "/usr/bin/qemu-system-\(arch)")
        guard access(path, X_OK) == 0 else {
            throw VirError(.systemError, "Cannot find QEMU binary \(path): \(String(cString: strerror(errno)))", domain: .qemu)
        }
        let caps = try capabilities(emulator: path)
        let type = virtType ?? (kvmUsable ? "kvm" : "qemu")
        guard type == "qemu" || (type == "kvm" && kvmUsable) else {
            throw VirError.unsupported("virttype '\(type)' is not supported by '\(path)'")
        }
        let machineName = machine ?? caps.defaultMachine ?? "pc"
        if !caps.machines.isEmpty && !caps.machines.contains(machineName) {
            throw VirError.unsupported("the machine '\(machineName)' is not supported by emulator '\(path)'")
        }
        func enumXML(_ name: String, _ values: [String], indent: String) -> String {
            "\(indent)<enum name='\(name)'>\n" + values.map { "\(indent)  <value>\($0)</value>\n" }.joined() + "\(indent)</enum>\n"
        }
        let host = HostInfo.read()
        var x = "<domainCapabilities>\n"
        x += "  <path>\(xmlEscape(path))</path>\n  <domain>\(type)</domain>\n"
        x += "  <machine>\(xmlEscape(machineName))</machine>\n  <arch>\(xmlEscape(arch))</arch>\n"
        x += "  <vcpu max='\(machineName.contains("q35") ? 288 : 255)'/>\n"
        x += "  <iothreads supported='yes'/>\n"
        x += "  <os supported='yes'>\n"
        x += enumXML("firmware", ["bios", "efi"], indent: "    ")
        x += "    <loader supported='yes'>\n"
        x += enumXML("type", ["rom", "pflash"], indent: "      ")
        x += enumXML("readonly", ["yes", "no"], indent: "      ")
        x += "    </loader>\n  </os>\n"
        x += "  <cpu>\n    <mode name='host-passthrough' supported='\(type == "kvm" ? "yes" : "no")'/>\n"
        x += "    <mode name='maximum' supported='yes'/>\n"
        x += "    <mode name='host-model' supported='no'/>\n"
        x += "    <mode name='custom' supported='yes'>\n      <model usable='unknown'>qemu64</model>\n"
        if !host.modelName.isEmpty { x += "      <!-- host: \(xmlEscape(host.modelName)) -->\n" }
        x += "    </mode>\n  </cpu>\n"
        x += "  <devices>\n"
        x += "    <disk supported='yes'>\n"
        x += enumXML("diskDevice", ["disk", "cdrom", "floppy", "lun"], indent: "      ")
        x += enumXML("bus", ["ide", "fdc", "scsi", "virtio", "usb", "sata"], indent: "      ")
        x += enumXML("model", ["virtio", "virtio-transitional", "virtio-non-transitional"], indent: "      ")
        x += "    </disk>\n"
        x += "    <graphics supported='yes'>\n" + enumXML("type", ["vnc", "spice"], indent: "      ") + "    </graphics>\n"
        x += "    <video supported='yes'>\n"
        x += enumXML("modelType", ["vga", "cirrus", "virtio", "none", "bochs", "ramfb"], indent: "      ")
        x += "    </video>\n"
        x += "    <console supported='yes'>\n" + enumXML("type", ["null", "pty", "file", "unix", "tcp"], indent: "      ") + "    </console>\n"
        x += "  </devices>\n"
        x += "  <features>\n    <vmcoreinfo supported='yes'/>\n  </features>\n"
        x += "</domainCapabilities>\n"
        return x
    }

    public func domainXMLToNative(format: String, xml: String) async throws -> String {
        guard format == "qemu-argv" else {
            throw VirError.unsupported("Unsupported config type \(format)")
        }
        let def = try await resolvingVolumes(parseDefinition(xml))
        let emulator = emulatorPath(for: def)
        let caps = try capabilities(emulator: emulator)
        let argv: [String]
        do {
            argv = try QEMUCommandLine.build(def, context: state.launchContext(def.name, accel: try accelerator(for: def)), caps: caps)
        } catch let e as DomainXMLError {
            throw VirError.unsupported(e.message)
        }
        // Just the argv, shell-quoted (libvirt prefixes environment assignments; Corral sets none).
        return shellQuoted(argv) + "\n"
    }
}


/// Host facts from /proc/cpuinfo, /proc/meminfo and sysconf.
struct HostInfo {
    var modelName = ""
    var vendor = ""
    var mhz: Int32 = 0
    var cpus: Int32 = 1
    var sockets: Int32 = 1
    var cores: Int32 = 1
    var threads: Int32 = 1
    var memoryKiB: UInt64 = 0

    static func read() -> HostInfo {
        var h = HostInfo()
        let online = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        h.cpus = Int32(clamping: max(online, 1))
        var physicalIDs = Set<String>()
        var coresPerSocket: Int32 = 0
        var siblings: Int32 = 0
        for line in (FileIO.readString("/proc/cpuinfo") ?? "").split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let key = parts[0].trimmingCharacters(in: .whitespaces)
            let value = parts[1].trimmingCharacters(in: .whitespaces)
            switch key {
            case "model name" where h.modelName.isEmpty: h.modelName = value
            case "vendor_id" where h.vendor.isEmpty: h.vendor = value
            case "cpu MHz" where h.mhz == 0: h.mhz = Int32(Double(value) ?? 0)
            case "physical id": physicalIDs.insert(value)
            case "cpu cores" where coresPerSocket == 0: coresPerSocket = Int32(value) ?? 0
            case "siblings" where siblings == 0: siblings = Int32(value) ?? 0
            default: break
            }
        }
        h.sockets = Int32(max(physicalIDs.count, 1))
        h.cores = coresPerSocket > 0 ? coresPerSocket : max(h.cpus / h.sockets, 1)
        h.threads = siblings > 0 && coresPerSocket > 0 ? max(siblings / coresPerSocket, 1) : 1
        for line in (FileIO.readString("/proc/meminfo") ?? "").split(separator: "\n") where line.hasPrefix("MemTotal:") {
            h.memoryKiB = UInt64(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        if h.memoryKiB == 0 {
            h.memoryKiB = UInt64(max(sysconf(Int32(_SC_PHYS_PAGES)), 0)) * UInt64(max(sysconf(Int32(_SC_PAGESIZE)), 0)) / 1024
        }
        return h
    }

    /// /etc/machine-id as a UUID, like libvirt's host uuid fallback.
    static func hostUUID() -> String? {
        guard let id = FileIO.readString("/etc/machine-id")?.trimmingCharacters(in: .whitespacesAndNewlines),
              id.count == 32, id.allSatisfy(\.isHexDigit) else { return nil }
        let c = Array(id)
        return [c[0..<8], c[8..<12], c[12..<16], c[16..<20], c[20..<32]].map { String($0) }.joined(separator: "-")
    }
}
