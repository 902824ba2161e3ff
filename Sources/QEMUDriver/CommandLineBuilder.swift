import Foundation
import DomainXML

/// Accumulates argv for one domain. Sections follow the order of libvirt's qemuBuildCommandLine
/// so the output reads like libvirt's, which makes the two easy to compare.
struct ArgvBuilder {
    let domain: Domain
    let context: QEMULaunchContext
    let caps: QEMUCapabilities
    let emulator: String
    let machine: String
    let isQ35: Bool
    var args: [String] = []
    /// bootindex per disk / interface position, from per-device <boot order> or from <os><boot dev>.
    var diskBoot: [Int: Int] = [:]
    var netBoot: [Int: Int] = [:]
    /// Audio backend id the sound devices and VNC attach to.
    var audioIDs: [Int] = []
    /// Root-bus PCI slots taken by explicit addresses or already handed out.
    var usedRootSlots: Set<Int> = []

    init(domain: Domain, context: QEMULaunchContext, caps: QEMUCapabilities) throws {
        self.domain = domain
        self.context = context
        self.caps = caps
        emulator = domain.devices.emulator ?? QEMUCommandLine.defaultEmulator
        guard !domain.name.isEmpty else { throw DomainXMLError("domain has no <name>") }
        guard context.accel == "tcg" || context.accel == "kvm" else {
            throw DomainXMLError("unknown accelerator '\(context.accel)': expected tcg or kvm")
        }
        guard domain.os.type == "hvm" else {
            throw DomainXMLError("<os><type>\(domain.os.type)</type> is not supported by QEMU: use hvm")
        }
        if let arch = domain.os.arch, arch != "x86_64", arch != "i686" {
            throw DomainXMLError("<os><type arch='\(arch)'> is not supported: Corral runs x86_64 guests")
        }
        let machine = domain.os.machine ?? caps.defaultMachine ?? "pc"
        if !caps.machines.isEmpty, !caps.machines.contains(machine) {
            throw DomainXMLError("machine type '\(machine)' is not supported by \(emulator)")
        }
        self.machine = machine
        isQ35 = machine == "q35" || machine.hasPrefix("pc-q35")
        let devs = domain.devices
        let addresses: [DeviceAddress?] = devs.disks.map(\.address) + devs.controllers.map(\.address) + devs.interfaces.map(\.address)
            + (devs.serials + devs.parallels + devs.consoles + devs.channels).map(\.address) + devs.inputs.map(\.address)
            + devs.videos.map(\.address) + devs.sounds.map(\.address) + [devs.memballoon?.address] + devs.rngs.map(\.address)
            + devs.watchdogs.map(\.address) + devs.hostdevs.map(\.address) + devs.redirdevs.map(\.address) + devs.filesystems.map(\.address)
        for case let address? in addresses where address.type == "pci" && (parseXMLInt(address["bus"]) ?? 0) == 0 {
            if let slot = parseXMLInt(address["slot"]) { usedRootSlots.insert(slot) }
        }
        guard machine == "pc" || machine == "q35" || machine.hasPrefix("pc-") else {
            throw DomainXMLError("machine type '\(machine)' is not supported: use pc or q35")
        }
    }

    var rootBus: String { isQ35 ? "pcie.0" : "pci.0" }
    var name: String { domain.name }

    mutating func add(_ items: String...) { args += items }
    mutating func addDevice(_ json: ArgvJSON, for what: String) throws {
        try checkDevice(json, what)
        args += ["-device", json.text]
    }

    /// Rejects a device the binary lacks, naming the domain device that needs it.
    func checkDevice(_ json: ArgvJSON, _ what: String) throws {
        guard !caps.devices.isEmpty, case .string(let driver)? = json["driver"] else { return }
        let canonical = ["ahci": "ich9-ahci", "lsi": "lsi53c895a"][driver] ?? driver
        if !caps.devices.contains(canonical) {
            throw DomainXMLError("\(what): QEMU binary \(emulator) does not support device '\(driver)'")
        }
    }

    mutating func buildAll() throws {
        computeBootOrder()
        args.append(emulator)
        add("-name", "guest=\(QEMUCommandLine.optEscape(name)),debug-threads=on")
        add("-S")
        let pflash = try buildPflash()
        try buildMachine(pflash: pflash)
        try buildCPU()
        try buildBIOS()
        try buildMemory()
        add("-overcommit", "mem-lock=off")
        try buildSMP()
        if let uuid = domain.uuid { add("-uuid", uuid.uuidString.lowercased()) }
        add("-no-user-config", "-nodefaults")
        add("-chardev", "socket,id=charmonitor,path=\(QEMUCommandLine.optEscape(context.qmpSocket)),server=on,wait=off")
        add("-mon", "chardev=charmonitor,id=monitor,mode=control")
        try buildClock()
        if domain.onReboot == "destroy" { add("-no-reboot") }
        buildBoot()
        try buildControllers()
        try buildDisks()
        try buildFilesystems()
        try buildInterfaces()
        try buildSerials()
        try buildParallels()
        try buildChannels()
        try buildConsoles()
        try buildTPMs()
        try buildInputs()
        try buildAudio()
        try buildGraphics()
        try buildVideos()
        try buildSounds()
        try buildWatchdogs()
        try buildRedirdevs()
        try buildHostdevs()
        try buildMemballoon()
        try buildRNGs()
        add("-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny")
        add("-msg", "timestamp=on")
    }

    // MARK: machine, cpu, memory

    /// libvirt turns `<os><boot dev=.../>` into per-device bootindex (first disk of each kind).
    mutating func computeBootOrder() {
        let devs = domain.devices
        let explicit = devs.disks.contains { $0.bootOrder != nil } || devs.interfaces.contains { $0.bootOrder != nil }
        if explicit {
            for (i, d) in devs.disks.enumerated() { if let o = d.bootOrder { diskBoot[i] = o } }
            for (i, n) in devs.interfaces.enumerated() { if let o = n.bootOrder { netBoot[i] = o } }
            return
        }
        var next = 1
        for dev in domain.os.boot {
            switch dev {
            case "hd", "cdrom", "fd":
                let kind = ["hd": "disk", "cdrom": "cdrom", "fd": "floppy"][dev] ?? dev
                if let i = devs.disks.firstIndex(where: { $0.device == kind }), diskBoot[i] == nil {
                    diskBoot[i] = next; next += 1
                }
            case "network":
                if !devs.interfaces.isEmpty, netBoot[0] == nil { netBoot[0] = next; next += 1 }
            default: break
            }
        }
    }

    /// UEFI firmware as pflash blockdevs; returns the machine properties that attach them.
    mutating func buildPflash() throws -> [String] {
        guard let loader = domain.os.loader, loader.type == "pflash" else {
            if domain.os.firmware == "efi", domain.os.loader?.path == nil {
                throw DomainXMLError("<os firmware='efi'> without a <loader> path: firmware auto-selection is not supported yet; give <loader type='pflash'>")
            }
            return []
        }
        guard let code = loader.path else { throw DomainXMLError("<loader type='pflash'> has no path") }
        if loader.secure == true, !isQ35 {
            throw DomainXMLError("<loader secure='yes'> needs a q35 machine type (SMM), not '\(machine)'")
        }
        var props: [String] = []
        let nvram = domain.os.nvram?.path
        // With separate variables the code image is shared by all guests: read-only unless said otherwise.
        let images: [(String, Bool)] = [(code, loader.readonly ?? (nvram != nil))] + (nvram.map { [($0, false)] } ?? [])
        for (n, (path, readonly)) in images.enumerated() {
            let storage: ArgvJSON = ["driver": "file", "filename": .string(path), "node-name": .string("libvirt-pflash\(n)-storage"),
                                     "auto-read-only": true, "discard": "unmap"]
            let format: ArgvJSON = ["node-name": .string("libvirt-pflash\(n)-format"), "read-only": .bool(readonly),
                                    "driver": "raw", "file": .string("libvirt-pflash\(n)-storage")]
            add("-blockdev", storage.text, "-blockdev", format.text)
            props.append("pflash\(n)=libvirt-pflash\(n)-format")
        }
        return props
    }

    mutating func buildMachine(pflash: [String]) throws {
        var opts = [machine, "usb=off"]
        if domain.os.loader?.secure == true { opts.append("smm=on") }
        opts.append("dump-guest-core=off")
        opts += pflash
        if timer("hpet")?["present"] == "no" { opts.append("hpet=off") }
        if !(domain.features?.acpi ?? false) { opts.append("acpi=off") }
        opts.append("accel=\(context.accel)")
        add("-machine", opts.joined(separator: ","))
        if domain.os.loader?.secure == true { add("-global", "driver=cfi.pflash01,property=secure,value=on") }
    }

    mutating func buildCPU() throws {
        let cpu = domain.cpu
        let kvm = context.accel == "kvm"
        var model: String
        switch cpu?.mode {
        case "host-passthrough":
            guard kvm else {
                throw DomainXMLError("<cpu mode='host-passthrough'> needs KVM, but this domain runs with TCG: use <cpu mode='maximum'/> or a named model")
            }
            model = "host"
        case "host-model":
            // No CPU model expansion yet: the host CPU under KVM, QEMU's richest model under TCG.
            model = kvm ? "host" : "max"
        case "maximum":
            model = "max"
        case nil, "custom":
            model = cpu?.model ?? "qemu64"
            if !caps.cpuModels.isEmpty, !caps.cpuModels.contains(model) {
                throw DomainXMLError("<cpu><model>\(model)</model>: CPU model '\(model)' is not supported by \(emulator)")
            }
        case let mode?:
            throw DomainXMLError("<cpu mode='\(mode)'> is not supported")
        }
        for feature in elements(cpu?.extra, "feature") {
            guard let fname = feature["name"] else { continue }
            switch feature["policy"] ?? "require" {
            case "require", "force": model += ",\(fname)=on"
            case "disable", "forbid": model += ",\(fname)=off"
            default: break    // optional: the model decides
            }
        }
        add("-cpu", model)
    }

    mutating func buildBIOS() throws {
        guard let loader = domain.os.loader, loader.type != "pflash" else { return }
        guard let path = loader.path else { throw DomainXMLError("<loader> has no path") }
        add("-bios", path)
    }

    mutating func buildMemory() throws {
        guard domain.memoryKiB > 0 else { throw DomainXMLError("<memory> must be greater than zero") }
        var opts = "size=\(domain.memoryKiB)k"
        if let max = domain.maxMemory {
            guard max.kib >= domain.memoryKiB else {
                throw DomainXMLError("<maxMemory> (\(max.kib) KiB) is smaller than <memory> (\(domain.memoryKiB) KiB)")
            }
            if let slots = max.slots { opts += ",slots=\(slots)" }
            opts += ",maxmem=\(max.kib)k"
        }
        add("-m", opts)
    }

    mutating func buildSMP() throws {
        let count = domain.vcpu.count
        guard count > 0 else { throw DomainXMLError("<vcpu> must be at least 1") }
        let current = domain.vcpu.current ?? count
        guard current > 0, current <= count else {
            throw DomainXMLError("<vcpu current='\(current)'> must be between 1 and <vcpu> (\(count))")
        }
        var sockets = count, cores = 1, threads = 1, dies: Int?
        if let topo = elements(domain.cpu?.extra, "topology").first {
            sockets = Int(topo["sockets"] ?? "") ?? 1
            cores = Int(topo["cores"] ?? "") ?? 1
            threads = Int(topo["threads"] ?? "") ?? 1
            dies = topo["dies"].flatMap { Int($0) }
            guard sockets * (dies ?? 1) * cores * threads == count else {
                throw DomainXMLError("<cpu><topology> gives \(sockets * (dies ?? 1) * cores * threads) vCPUs but <vcpu> is \(count)")
            }
        }
        var opts = "\(current)"
        if current != count { opts += ",maxcpus=\(count)" }
        opts += ",sockets=\(sockets)"
        if let dies { opts += ",dies=\(dies)" }
        opts += ",cores=\(cores),threads=\(threads)"
        add("-smp", opts)
    }

    mutating func buildClock() throws {
        var rtc: String
        switch domain.clock?.offset ?? "utc" {
        case "utc": rtc = "base=utc"
        case "localtime": rtc = "base=localtime"
        case "variable":
            // A guest clock offset from the host's: QEMU takes the guest's start time.
            let attrs = attributeMap(domain.clock?.extra.attributes ?? [])
            guard let adjustment = Int(attrs["adjustment"] ?? "0") else {
                throw DomainXMLError("<clock adjustment='\(attrs["adjustment"] ?? "")'> must be a number of seconds")
            }
            let basis = attrs["basis"] ?? "utc"
            guard basis == "utc" || basis == "localtime" else { throw DomainXMLError("<clock basis='\(basis)'> must be utc or localtime") }
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
            formatter.timeZone = basis == "utc" ? TimeZone(identifier: "UTC") : TimeZone.current
            rtc = "base=" + formatter.string(from: context.startTime.addingTimeInterval(TimeInterval(adjustment)))
        case let offset: throw DomainXMLError("<clock offset='\(offset)'> is not supported: use utc or localtime")
        }
        if timer("rtc")?["tickpolicy"] == "catchup" { rtc += ",driftfix=slew" }
        add("-rtc", rtc)
        if context.accel == "kvm", timer("pit")?["tickpolicy"] == "delay" {
            add("-global", "kvm-pit.lost_tick_policy=delay")
        }
    }

    mutating func buildBoot() {
        var opts: [String] = []
        if let menu = domain.os.bootMenu, menu.enable {
            opts.append("menu=on")
            if let timeout = menu.timeout { opts.append("splash-time=\(timeout)") }
        }
        opts.append("strict=on")
        add("-boot", opts.joined(separator: ","))
        if let kernel = domain.os.kernel { add("-kernel", kernel) }
        if let initrd = domain.os.initrd { add("-initrd", initrd) }
        if let cmdline = domain.os.cmdline { add("-append", cmdline) }
    }

    // MARK: helpers for kept-verbatim XML

    /// Attributes of `<timer name=NAME>` under <clock>.
    func timer(_ timerName: String) -> [String: String]? {
        for node in domain.clock?.timers ?? [] {
            if case .element("timer", let attrs, _) = node, attrs.contains(where: { $0.name == "name" && $0.value == timerName }) {
                return attributeMap(attrs)
            }
        }
        return nil
    }

    /// Attributes of each child element named `elementName` kept in `extra`.
    func elements(_ extra: Extra?, _ elementName: String) -> [[String: String]] {
        (extra?.children ?? []).compactMap { node in
            if case .element(let n, let attrs, _) = node, n == elementName { return attributeMap(attrs) }
            return nil
        }
    }

    func attributeMap(_ attrs: [XMLAttribute]) -> [String: String] {
        var map: [String: String] = [:]
        for a in attrs where map[a.name] == nil { map[a.name] = a.value }
        return map
    }
}

/// Parses an XML integer attribute written in decimal or 0x-hex, as libvirt accepts.
func parseXMLInt(_ s: String?) -> Int? {
    guard let s else { return nil }
    if s.hasPrefix("0x") || s.hasPrefix("0X") { return Int(s.dropFirst(2), radix: 16) }
    return Int(s)
}
