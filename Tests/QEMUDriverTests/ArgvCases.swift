import DomainXML
import Foundation

// Golden-test inputs built in code (Tests/Golden/argv-NAME.args are their expected argv).
// They exercise the builder independently of the XML parser.

func pci(_ slot: Int, function: Int = 0, bus: Int = 0, multifunction: Bool = false) -> DeviceAddress {
    var attrs = [XMLAttribute("domain", "0x0000"), XMLAttribute("bus", String(format: "0x%02x", bus)),
                 XMLAttribute("slot", String(format: "0x%02x", slot)), XMLAttribute("function", "0x\(function)")]
    if multifunction { attrs.append(XMLAttribute("multifunction", "on")) }
    return DeviceAddress(type: "pci", attributes: attrs)
}

func usbAddr(bus: Int = 0, port: String) -> DeviceAddress {
    DeviceAddress(type: "usb", attributes: [XMLAttribute("bus", "\(bus)"), XMLAttribute("port", port)])
}

func driveAddr(controller: Int = 0, bus: Int = 0, target: Int = 0, unit: Int) -> DeviceAddress {
    DeviceAddress(type: "drive", attributes: [XMLAttribute("controller", "\(controller)"), XMLAttribute("bus", "\(bus)"),
                                              XMLAttribute("target", "\(target)"), XMLAttribute("unit", "\(unit)")])
}

func element(_ name: String, _ attrs: [(String, String)]) -> XMLNode {
    .element(name: name, attributes: attrs.map { XMLAttribute($0.0, $0.1) }, children: [])
}

func baseDomain(_ name: String, machine: String = "pc") -> Domain {
    var d = Domain()
    d.type = "qemu"
    d.name = name
    d.uuid = UUID(uuidString: "c7a5fdbd-edaf-9455-926a-d65c16db1809")
    d.memoryKiB = 262144
    d.os.arch = "x86_64"
    d.os.machine = machine
    d.devices.emulator = "/usr/bin/qemu-system-x86_64"
    return d
}

func disk(_ dev: String, bus: String, path: String?, type: String = "file", device: String = "disk", format: String? = "raw") -> Disk {
    var d = Disk()
    d.type = type
    d.device = device
    d.driverName = "qemu"
    d.driverType = path == nil ? nil : format
    d.sourcePath = path
    d.targetDev = dev
    d.targetBus = bus
    return d
}

func chardev(_ type: String, path: String? = nil, mode: String? = nil, targetType: String? = nil, port: Int? = nil, name: String? = nil) -> CharDevice {
    var c = CharDevice()
    c.type = type
    c.sourcePath = path
    c.sourceMode = mode
    c.targetType = targetType
    c.targetPort = port
    c.targetName = name
    return c
}

enum ArgvCases {
    static let all: [String: Domain] = [
        "argv-minimal": minimal,
        "argv-disks-pc": disksPC,
        "argv-q35-full": q35Full,
        "argv-pc-misc": pcMisc,
    ]

    /// No devices at all: headless, only the monitor.
    static var minimal: Domain {
        var d = baseDomain("argv-minimal")
        d.features = Features()
        d.features?.acpi = true
        return d
    }

    /// Every disk bus of a pc machine; boot order from <os><boot dev>.
    static var disksPC: Domain {
        var d = baseDomain("argv-disks-pc", machine: "pc-i440fx-7.2")
        d.os.boot = ["cdrom", "hd", "network"]
        d.devices.controllers = [
            Controller(type: "usb", index: 0, model: "piix3-uhci"),
            Controller(type: "pci", index: 0, model: "pci-root"),
            Controller(type: "ide", index: 0),
            Controller(type: "sata", index: 0),
            Controller(type: "scsi", index: 0, model: "virtio-scsi"),
            Controller(type: "fdc", index: 0),
        ]
        d.devices.controllers[0].address = pci(1, function: 2)
        d.devices.controllers[3].address = pci(5)
        d.devices.controllers[4].address = pci(6)
        var vda = disk("vda", bus: "virtio", path: "/var/lib/corral/images/root.qcow2", format: "qcow2")
        vda.driverCache = "none"
        vda.driverDiscard = "unmap"
        vda.address = pci(4)
        var cdEmpty = disk("hda", bus: "ide", path: nil, device: "cdrom")
        cdEmpty.address = driveAddr(unit: 0)
        var cdISO = disk("hdc", bus: "ide", path: "/srv/iso/install,v1.iso", device: "cdrom")
        cdISO.readonly = true
        cdISO.address = driveAddr(bus: 1, unit: 0)
        var sata = disk("sda", bus: "sata", path: "/dev/vg0/data", type: "block")
        sata.shareable = true
        sata.driverCache = "writethrough"
        sata.address = driveAddr(unit: 0)
        var scsi = disk("sdb", bus: "scsi", path: "/var/lib/corral/images/scsi.img")
        scsi.serial = "SCSI-0001"
        scsi.address = driveAddr(unit: 1)
        var usb = disk("sdc", bus: "usb", path: "/var/lib/corral/images/stick.img")
        usb.address = usbAddr(port: "1")
        let floppy = disk("fda", bus: "fdc", path: "/var/lib/corral/images/floppy.img", device: "floppy")
        d.devices.disks = [vda, cdEmpty, cdISO, sata, scsi, usb, floppy]
        var net = Interface()
        net.mac = "52:54:00:12:34:56"
        net.model = "virtio"
        net.address = pci(3)
        d.devices.interfaces = [net]
        d.devices.memballoon = MemBalloon(model: "virtio")
        d.devices.memballoon?.address = pci(7)
        return d
    }

    /// A virt-install-like q35 desktop guest with UEFI, SPICE and the guest agent.
    static var q35Full: Domain {
        var d = baseDomain("argv-q35-full", machine: "pc-q35-7.2")
        d.memoryKiB = 1048576
        d.maxMemory = MaxMemory(kib: 4194304, slots: 16)
        d.vcpu.count = 4
        d.vcpu.current = 2
        d.features = Features()
        d.features?.acpi = true
        d.features?.apic = true
        d.cpu = CPU()
        d.cpu?.mode = "host-model"
        d.clock = Clock()
        d.clock?.offset = "localtime"
        d.clock?.timers = [element("timer", [("name", "rtc"), ("tickpolicy", "catchup")]),
                           element("timer", [("name", "pit"), ("tickpolicy", "delay")]),
                           element("timer", [("name", "hpet"), ("present", "no")])]
        d.onReboot = "destroy"
        d.os.loader = Loader()
        d.os.loader?.path = "/usr/share/OVMF/OVMF_CODE_4M.ms.fd"
        d.os.loader?.readonly = true
        d.os.loader?.type = "pflash"
        d.os.loader?.secure = true
        d.os.nvram = NVRAM()
        d.os.nvram?.path = "/var/lib/corral/qemu/nvram/argv-q35-full_VARS.fd"
        d.os.bootMenu = BootMenu(enable: true, timeout: 3000)
        d.os.kernel = "/boot/vmlinuz"
        d.os.initrd = "/boot/initrd.img"
        d.os.cmdline = "console=ttyS0 root=/dev/vda1"
        var root = Controller(type: "pci", index: 0, model: "pcie-root")
        root.address = nil
        let ports = (1...6).map { n in
            var rp = Controller(type: "pci", index: n, model: "pcie-root-port")
            rp.extra.children = [element("model", [("name", "pcie-root-port")]),
                                 element("target", [("chassis", "\(n)"), ("port", String(format: "0x%x", 0x0f + n))])]
            rp.address = pci(2, function: n - 1, multifunction: n == 1)
            return rp
        }
        var xhci = Controller(type: "usb", index: 0, model: "qemu-xhci")
        xhci.address = pci(0, bus: 2)
        var sata = Controller(type: "sata", index: 0)
        sata.address = pci(0x1f, function: 2)
        var vioser = Controller(type: "virtio-serial", index: 0)
        vioser.address = pci(0, bus: 3)
        d.devices.controllers = [root] + ports + [xhci, sata, vioser]
        var vda = disk("vda", bus: "virtio", path: "/var/lib/corral/images/q35.qcow2", format: "qcow2")
        vda.bootOrder = 1
        vda.address = pci(0, bus: 4)
        var cd = disk("sda", bus: "sata", path: "/srv/iso/fedora.iso", device: "cdrom")
        cd.readonly = true
        cd.bootOrder = 2
        cd.address = driveAddr(unit: 0)
        d.devices.disks = [vda, cd]
        var net = Interface()
        net.mac = "52:54:00:ab:cd:ef"
        net.model = "virtio"
        net.address = pci(0, bus: 1)
        d.devices.interfaces = [net]
        d.devices.serials = [chardev("pty", targetType: "isa-serial", port: 0)]
        d.devices.consoles = [chardev("pty", targetType: "serial", port: 0)]
        var agent = chardev("unix", mode: "bind", targetType: "virtio", name: "org.qemu.guest_agent.0")
        agent.address = DeviceAddress(type: "virtio-serial", attributes: [XMLAttribute("controller", "0"), XMLAttribute("bus", "0"), XMLAttribute("port", "1")])
        var vdagent = chardev("spicevmc", targetType: "virtio", name: "com.redhat.spice.0")
        vdagent.address = DeviceAddress(type: "virtio-serial", attributes: [XMLAttribute("controller", "0"), XMLAttribute("bus", "0"), XMLAttribute("port", "2")])
        d.devices.channels = [agent, vdagent]
        var tablet = Input(type: "tablet", bus: "usb")
        tablet.address = usbAddr(port: "1")
        d.devices.inputs = [tablet, Input(type: "mouse", bus: "ps2"), Input(type: "keyboard", bus: "ps2")]
        var spice = Graphics(type: "spice")
        spice.port = 5901
        spice.autoport = false
        spice.listen = "127.0.0.1"
        d.devices.graphics = [spice]
        var qxl = Video(model: "qxl")
        qxl.vram = 65536
        qxl.heads = 1
        qxl.extra.attributes = [XMLAttribute("ram", "65536"), XMLAttribute("vgamem", "16384")]
        qxl.address = pci(1)
        d.devices.videos = [qxl]
        var sound = Sound(model: "ich9")
        sound.address = pci(0x1b)
        d.devices.sounds = [sound]
        d.devices.audios = [Audio(id: 1, type: "spice")]
        d.devices.watchdogs = [Watchdog(model: "itco")]
        d.devices.watchdogs[0].action = "reset"
        var redir = RedirDev()
        redir.address = usbAddr(port: "2")
        d.devices.redirdevs = [redir]
        d.devices.memballoon = MemBalloon(model: "virtio")
        d.devices.memballoon?.address = pci(0, bus: 5)
        var rng = RNG()
        rng.backendPath = "/dev/urandom"
        rng.address = pci(0, bus: 6)
        d.devices.rngs = [rng]
        return d
    }

    /// A pc guest with the less common devices: EHCI companions, VNC, 9p, TPM, several serials.
    static var pcMisc: Domain {
        var d = baseDomain("argv-pc-misc")
        d.vcpu.count = 4
        d.cpu = CPU()
        d.cpu?.mode = "custom"
        d.cpu?.model = "Haswell-noTSX"
        d.cpu?.extra.children = [element("topology", [("sockets", "1"), ("cores", "2"), ("threads", "2")]),
                                 element("feature", [("policy", "require"), ("name", "vmx")]),
                                 element("feature", [("policy", "disable"), ("name", "rdrand")])]
        d.os.loader = Loader()
        d.os.loader?.path = "/usr/share/seabios/bios-256k.bin"
        d.os.loader?.type = "rom"
        var ehci = Controller(type: "usb", index: 0, model: "ich9-ehci1")
        ehci.address = pci(5, function: 7)
        d.devices.controllers = [ehci, Controller(type: "pci", index: 0, model: "pci-root")]
        var e1000 = Interface()
        e1000.mac = "52:54:00:00:00:01"
        e1000.model = "e1000"
        var rtl = Interface()
        rtl.mac = "52:54:00:00:00:02"
        rtl.model = "rtl8139"
        rtl.bootOrder = 1
        d.devices.interfaces = [e1000, rtl]
        var tcp = chardev("tcp", mode: "bind", targetType: "isa-serial", port: 0)
        tcp.sourceHost = "127.0.0.1"
        tcp.sourceService = "4555"
        tcp.protocolType = "telnet"
        var file = chardev("file", path: "/var/log/guest-serial.txt", targetType: "isa-serial", port: 1)
        file.logFile = "/var/log/corral/custom.log"
        file.logAppend = "off"
        let unix = chardev("unix", path: "/run/guest-serial.sock", mode: "bind", targetType: "isa-serial", port: 2)
        d.devices.serials = [tcp, file, unix]
        d.devices.consoles = [chardev("pty", targetType: "serial", port: 0), chardev("pty", targetType: "virtio", port: 1)]
        var vnc = Graphics(type: "vnc")
        vnc.autoport = true
        vnc.port = -1
        vnc.listen = "0.0.0.0"
        vnc.passwd = "secret"
        d.devices.graphics = [vnc]
        var vga = Video(model: "vga")
        vga.vram = 16384
        vga.address = pci(2)
        d.devices.videos = [vga]
        d.devices.sounds = [Sound(model: "ac97")]
        d.devices.watchdogs = [Watchdog(model: "i6300esb")]
        d.devices.watchdogs[0].action = "poweroff"
        var host = HostDev()
        host.vendorID = "0x1234"
        host.productID = "0xbeef"
        d.devices.hostdevs = [host]
        var fs = Filesystem()
        fs.accessmode = "mapped"
        fs.sourceDir = "/srv/share"
        fs.targetDir = "share"
        fs.readonly = true
        d.devices.filesystems = [fs]
        var tpm = TPM()
        tpm.model = "tpm-crb"
        tpm.backendVersion = "2.0"
        d.devices.tpms = [tpm]
        d.devices.inputs = [Input(type: "tablet", bus: "virtio")]
        d.devices.memballoon = MemBalloon(model: "none")
        return d
    }
}
