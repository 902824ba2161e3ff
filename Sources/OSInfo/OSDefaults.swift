import Foundation

/// The settings virt-install would pick for a new guest of an OS (virtinst's osdict rules):
/// recommended resources where the database has them, devices the OS has drivers for.
public struct OSDefaults: Sendable, Equatable, Codable {
    public var memoryMiB: Int
    public var vcpus: Int
    public var diskGiB: Int
    public var diskBus: String        // virtio | sata | ide
    public var nicModel: String       // virtio | e1000e | e1000 | rtl8139
    public var video: String          // virtio | qxl | vga
    public var firmware: String       // bios | efi
    public var machine: String        // q35 | pc
    public var usb: String            // qemu-xhci | ich9-ehci1
    public var sound: String?         // ich9 | ich6 | ac97, nil when the OS lists none
    public var input: String          // usb-tablet

    /// virt-manager's wizard values when the database has none.
    public static let fallbackMemoryMiB = 1024
    public static let fallbackVCPUs = 1
    public static let fallbackDiskGiB = 20
}

/// Device URIs virtinst's osdict checks.
public enum OSDevice {
    public static let virtioBlock = ["http://pcisig.com/pci/1af4/1001", "http://pcisig.com/pci/1af4/1042"]
    public static let virtioNet = ["http://pcisig.com/pci/1af4/1000", "http://pcisig.com/pci/1af4/1041"]
    public static let virtio1Net = ["http://pcisig.com/pci/1af4/1041"]
    public static let virtioGPU = ["http://pcisig.com/pci/1af4/1050"]
    /// osinfo-db files qemu-xhci as 1b36:0004 (what virtinst checks); QEMU's real id is 1b36:000d.
    public static let qemuXHCI = ["http://pcisig.com/pci/1b36/0004", "http://pcisig.com/pci/1b36/000d"]
    public static let qxl = ["http://pcisig.com/pci/1b36/0100"]
    public static let q35 = ["http://qemu.org/chipset/x86/q35"]
    public static let e1000e = ["http://pcisig.com/pci/8086/10d3"]
    public static let e1000 = ["http://pcisig.com/pci/8086/100e"]
    public static let rtl8139 = ["http://pcisig.com/pci/10ec/8139"]
    public static let ich9Sound = ["http://pcisig.com/pci/8086/293e"]
    public static let ich6Sound = ["http://pcisig.com/pci/8086/2668"]
    public static let ac97 = ["http://pcisig.com/pci/8086/2415"]
}

extension OSVariant {
    public var isGeneric: Bool { shortID == "generic" }

    /// virtinst's `supports_chipset_q35`: the q35 chipset listed, and virtio 1.0 if any virtio.
    public var supportsQ35: Bool {
        if supports(OSDevice.virtioNet) && !supports(OSDevice.virtio1Net) { return false }
        return supports(OSDevice.q35)
    }

    /// UEFI only when the OS cannot boot from BIOS (Windows 11): virt-install keeps BIOS otherwise.
    public func requiresEFI(arch: String = "x86_64") -> Bool {
        firmware.contains { ($0.arch == arch || $0.arch == "all") && $0.type == "bios" && !$0.supported }
    }

    /// virtinst's `_OsResources.get_recommended_*`: the recommended value, else twice the minimum.
    public func recommendedOrDoubledMinimum(arch: String = "x86_64") -> OSResources {
        let rec = recommended(arch: arch) ?? OSResources()
        let min = minimum(arch: arch) ?? OSResources()
        return OSResources(nCPUs: rec.nCPUs ?? min.nCPUs.map { $0 * 2 },
                           ramBytes: rec.ramBytes ?? min.ramBytes.map { $0 * 2 },
                           storageBytes: rec.storageBytes ?? min.storageBytes.map { $0 * 2 })
    }

    public func defaults(arch: String = "x86_64") -> OSDefaults {
        let res = recommendedOrDoubledMinimum(arch: arch)
        let mib = res.ramBytes.map { Int(clamping: $0 >> 20) }
        let gib = res.storageBytes.map { Int(clamping: ($0 + (1 << 30) - 1) >> 30) }
        // A generic (unknown) OS gets q35 as virt-install does; a known one only if it lists q35.
        let q35 = isGeneric || supportsQ35
        let nic: String
        if supports(OSDevice.virtioNet) { nic = "virtio" }
        else if q35 { nic = "e1000e" }
        else if supports(OSDevice.rtl8139) && !supports(OSDevice.e1000) { nic = "rtl8139" }
        else { nic = "e1000" }
        let video = supports(OSDevice.virtioGPU) ? "virtio" : supports(OSDevice.qxl) ? "qxl" : "vga"
        var sound: String?
        if q35 && supports(OSDevice.ich9Sound) { sound = "ich9" }
        else if supports(OSDevice.ich6Sound) { sound = "ich6" }
        else if supports(OSDevice.ac97) { sound = "ac97" }
        return OSDefaults(
            memoryMiB: mib.map { max($0, 1) } ?? OSDefaults.fallbackMemoryMiB,
            vcpus: res.nCPUs.map { max($0, 1) } ?? OSDefaults.fallbackVCPUs,
            diskGiB: gib.map { max($0, 1) } ?? OSDefaults.fallbackDiskGiB,
            diskBus: supports(OSDevice.virtioBlock) ? "virtio" : q35 ? "sata" : "ide",
            nicModel: nic, video: video,
            firmware: requiresEFI(arch: arch) ? "efi" : "bios",
            machine: q35 ? "q35" : "pc",
            usb: supports(OSDevice.qemuXHCI) ? "qemu-xhci" : "ich9-ehci1",
            sound: sound, input: "usb-tablet")
    }
}
