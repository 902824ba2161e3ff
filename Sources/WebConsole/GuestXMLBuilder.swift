import DomainXML
import Foundation

/// A new guest with every choice made (what virt-install has decided just before it writes the
/// XML). Pure data: `GuestPlan.domainXML` formats it, the wizard route fills it in.
struct GuestPlan: Sendable, Equatable {
    enum DiskSource: Sendable, Equatable {
        case file(path: String, format: String)
        case volume(pool: String, volume: String)
    }
    struct Disk: Sendable, Equatable {
        var source: DiskSource
        var device: String          // disk | cdrom
        var bus: String             // virtio | sata | ide | scsi | usb
        var format: String?         // the driver's type for volume disks (qcow2, raw)
    }

    var name: String
    /// libosinfo URI for the metadata (nil: the generic OS, which virt-install does not record).
    var osURI: String?
    var domainType: String          // kvm | qemu
    var machine: String             // q35 | pc
    var memoryMiB: Int
    var vcpus: Int
    var firmware: String            // bios | efi
    /// Windows keeps its clock in local time (virtinst: get_clock).
    var localtimeClock: Bool
    var boot: [String]              // "cdrom", "hd"
    var kernel: String?
    var initrd: String?
    var cmdline: String?
    var disks: [Disk]
    struct NIC: Sendable, Equatable {
        var type: String            // user | network
        var name: String?
        var model: String
    }
    var network: NIC?
    var graphics: String            // vnc | spice | none
    var video: String
    var usb: String
    var serial: Bool

    /// Debian's OVMF (package ovmf): the code image shared read-only, a variable store per guest.
    static let ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
    static let ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"

    /// The domain XML, laid out as virt-install writes it.
    var domainXML: String {
        var x = "<domain type='\(domainType)'>\n"
        x += "  <name>\(esc(name))</name>\n"
        if let osURI {
            x += "  <metadata>\n"
            x += "    <libosinfo:libosinfo xmlns:libosinfo=\"http://libosinfo.org/xmlns/libvirt/domain/1.0\">\n"
            x += "      <libosinfo:os id=\"\(esc(osURI))\"/>\n"
            x += "    </libosinfo:libosinfo>\n"
            x += "  </metadata>\n"
        }
        let kib = memoryMiB * 1024
        x += "  <memory unit='KiB'>\(kib)</memory>\n  <currentMemory unit='KiB'>\(kib)</currentMemory>\n"
        x += "  <vcpu placement='static'>\(vcpus)</vcpu>\n"
        x += firmware == "efi" ? "  <os firmware='efi'>\n" : "  <os>\n"
        x += "    <type arch='x86_64' machine='\(machine)'>hvm</type>\n"
        if firmware == "efi" {
            // Corral's driver does not auto-select firmware yet, so the code image is spelled out as
            // libvirt expands it. It does not create per-guest variable stores either: no nvram
            // path, so UEFI variables do not persist across restarts.
            x += "    <loader readonly='yes' type='pflash'>\(Self.ovmfCode)</loader>\n"
            x += "    <nvram template='\(Self.ovmfVars)'/>\n"
        }
        if let kernel { x += "    <kernel>\(esc(kernel))</kernel>\n" }
        if let initrd { x += "    <initrd>\(esc(initrd))</initrd>\n" }
        if let cmdline { x += "    <cmdline>\(esc(cmdline))</cmdline>\n" }
        // Direct kernel boot needs no boot order; otherwise the order the install kind implies.
        if kernel == nil { for dev in boot { x += "    <boot dev='\(dev)'/>\n" } }
        x += "  </os>\n"
        x += "  <features>\n    <acpi/>\n    <apic/>\n  </features>\n"
        if domainType == "kvm" { x += "  <cpu mode='host-passthrough' check='none' migratable='on'/>\n" }
        x += "  <clock offset='\(localtimeClock ? "localtime" : "utc")'>\n"
        x += "    <timer name='rtc' tickpolicy='catchup'/>\n    <timer name='pit' tickpolicy='delay'/>\n"
        x += "    <timer name='hpet' present='no'/>\n  </clock>\n"
        x += "  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>restart</on_reboot>\n  <on_crash>destroy</on_crash>\n"
        x += "  <pm>\n    <suspend-to-mem enabled='no'/>\n    <suspend-to-disk enabled='no'/>\n  </pm>\n"
        x += "  <devices>\n"
        for (disk, target) in zip(disks, Self.targets(for: disks)) { x += diskXML(disk, target: target) }
        if usb == "ich9-ehci1" {
            // USB 2 as virt-install adds it: EHCI with its three UHCI companions.
            x += "    <controller type='usb' index='0' model='ich9-ehci1'/>\n"
            for i in 1...3 {
                x += "    <controller type='usb' index='0' model='ich9-uhci\(i)'>\n      <master startport='\((i - 1) * 2)'/>\n    </controller>\n"
            }
        } else {
            x += "    <controller type='usb' index='0' model='\(usb)' ports='15'/>\n"
        }
        if let net = network {
            if net.type == "network", let name = net.name {
                x += "    <interface type='network'>\n      <source network='\(esc(name))'/>\n"
            } else {
                x += "    <interface type='user'>\n"
            }
            x += "      <model type='\(net.model)'/>\n    </interface>\n"
        }
        if serial {
            x += "    <serial type='pty'>\n      <target port='0'/>\n    </serial>\n"
            x += "    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>\n"
        }
        x += "    <input type='tablet' bus='usb'/>\n"
        if graphics != "none" {
            x += "    <graphics type='\(graphics)' autoport='yes' listen='127.0.0.1'>\n"
            x += "      <listen type='address' address='127.0.0.1'/>\n    </graphics>\n"
        }
        x += "    <video>\n      <model type='\(video)'/>\n    </video>\n"
        x += "    <memballoon model='virtio'/>\n"
        x += "  </devices>\n</domain>\n"
        return x
    }

    private func diskXML(_ d: Disk, target: String) -> String {
        var x: String
        switch d.source {
        case .file(let path, let format):
            x = "    <disk type='file' device='\(d.device)'>\n      <driver name='qemu' type='\(format)'/>\n"
            x += "      <source file='\(esc(path))'/>\n"
        case .volume(let pool, let volume):
            x = "    <disk type='volume' device='\(d.device)'>\n"
            if let f = d.format { x += "      <driver name='qemu' type='\(f)'/>\n" }
            x += "      <source pool='\(esc(pool))' volume='\(esc(volume))'/>\n"
        }
        x += "      <target dev='\(target)' bus='\(d.bus)'/>\n"
        if d.device == "cdrom" { x += "      <readonly/>\n" }
        x += "    </disk>\n"
        return x
    }

    /// Target names per bus family, in order: vda.. for virtio, sda.. for sata/scsi/usb, hda.. for ide.
    static func targets(for disks: [Disk]) -> [String] {
        var used: [String: Int] = [:]
        return disks.map { d in
            let prefix = d.bus == "virtio" ? "vd" : d.bus == "ide" ? "hd" : "sd"
            let n = used[prefix, default: 0]
            used[prefix] = n + 1
            return prefix + driveLetters(n)
        }
    }

    /// 0 → a, 25 → z, 26 → aa (libvirt's disk naming).
    static func driveLetters(_ n: Int) -> String {
        var n = n, s = ""
        repeat {
            s = String(UnicodeScalar(UInt8(97 + n % 26))) + s
            n = n / 26 - 1
        } while n >= 0
        return s
    }

    private func esc(_ s: String) -> String { xmlEscape(s) }
}
