import Foundation

// The typed model of libvirt's domain XML (libvirt.org/formatdomain.html).
// Field names follow the XML; optional means "absent in the XML".
// Every modeled element keeps what Corral does not model in `extra` so that
// formatting writes it back verbatim (lossless round trip).

/// Elements/attributes of an element that Corral does not model, kept verbatim.
public struct Extra: Sendable, Equatable, Hashable {
    /// Unknown attributes, in document order.
    public var attributes: [XMLAttribute] = []
    /// Unknown child elements (and their whole subtrees), in document order.
    public var children: [XMLNode] = []
    /// Unknown attributes/children of modeled sub-elements that have no field of their own,
    /// keyed by the sub-element's path below this element (e.g. "target", "source/vendor").
    public var childExtras: [String: Extra] = [:]
    /// For comments in `children` that stood right before a modeled element: index in `children` ->
    /// that element's name, so that formatting puts them back in front of it.
    public var commentAnchors: [Int: String] = [:]
    public init(attributes: [XMLAttribute] = [], children: [XMLNode] = []) {
        self.attributes = attributes
        self.children = children
    }
    public var isEmpty: Bool { attributes.isEmpty && children.isEmpty && childExtras.isEmpty }
}

public struct XMLAttribute: Sendable, Equatable, Hashable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) { self.name = name; self.value = value }
}

/// A generic XML tree node, for content Corral keeps but does not model.
public indirect enum XMLNode: Sendable, Equatable, Hashable {
    case element(name: String, attributes: [XMLAttribute], children: [XMLNode])
    case text(String)
    case comment(String)
}

public enum MemoryUnit: String, Sendable, CaseIterable {
    case b, bytes, KB, k, KiB, MB, M, MiB, GB, G, GiB, TB, T, TiB, PB, P, PiB, EB, E, EiB
}

public struct Domain: Sendable, Equatable {
    public var type: String = "qemu"              // <domain type=''>: qemu | kvm | ...
    public var name: String = ""
    public var uuid: UUID?
    public var id: Int?                            // only in live XML
    public var title: String?
    public var description: String?
    public var memoryKiB: UInt64 = 0               // <memory>, normalised to KiB
    public var currentMemoryKiB: UInt64?           // <currentMemory>
    public var maxMemory: MaxMemory?
    public var vcpu: VCPU = VCPU()
    public var os: OS = OS()
    public var features: Features?
    public var cpu: CPU?
    public var clock: Clock?
    public var onPoweroff: String?                 // destroy | restart | preserve | rename-restart
    public var onReboot: String?
    public var onCrash: String?
    public var devices: Devices = Devices()
    public var extra = Extra()
    public init() {}
}

public struct MaxMemory: Sendable, Equatable { public var kib: UInt64; public var slots: Int?; public var extra = Extra()
    public init(kib: UInt64, slots: Int? = nil) { self.kib = kib; self.slots = slots } }

public struct VCPU: Sendable, Equatable {
    public var count: Int = 1
    public var placement: String?                  // static | auto
    public var current: Int?
    public var cpuset: String?
    public var extra = Extra()
    public init() {}
}

public struct OS: Sendable, Equatable {
    public var type: String = "hvm"
    public var arch: String?
    public var machine: String?
    public var firmware: String?                   // <os firmware='efi'>
    public var loader: Loader?
    public var nvram: NVRAM?
    public var boot: [String] = []                 // <boot dev='hd'/> in order
    public var bootMenu: BootMenu?
    public var kernel: String?
    public var initrd: String?
    public var cmdline: String?
    public var extra = Extra()
    public init() {}
}

public struct Loader: Sendable, Equatable {
    public var path: String?
    public var readonly: Bool?
    public var type: String?                       // rom | pflash
    public var secure: Bool?
    public var extra = Extra()
    public init() {}
}

public struct NVRAM: Sendable, Equatable {
    public var path: String?
    public var template: String?
    public var extra = Extra()
    public init() {}
}

public struct BootMenu: Sendable, Equatable {
    public var enable: Bool
    public var timeout: Int?
    public var extra = Extra()
    public init(enable: Bool, timeout: Int? = nil) { self.enable = enable; self.timeout = timeout }
}

public struct Features: Sendable, Equatable {
    public var acpi: Bool = false
    public var apic: Bool = false
    public var pae: Bool = false
    public var extra = Extra()                     // other features kept verbatim
    public init() {}
}

public struct CPU: Sendable, Equatable {
    public var mode: String?                       // custom | host-model | host-passthrough | maximum
    public var match: String?
    public var check: String?
    public var model: String?
    public var modelFallback: String?
    public var extra = Extra()
    public init() {}
}

public struct Clock: Sendable, Equatable {
    public var offset: String = "utc"
    public var timers: [XMLNode] = []              // <timer> children kept verbatim
    public var extra = Extra()
    public init() {}
}

/// A PCI/drive/usb/... address as libvirt writes it: the type plus its attributes in order.
public struct DeviceAddress: Sendable, Equatable {
    public var type: String                        // pci | drive | usb | virtio-serial | ...
    public var attributes: [XMLAttribute]          // domain, bus, slot, function, controller, unit...
    public init(type: String, attributes: [XMLAttribute]) { self.type = type; self.attributes = attributes }
    public subscript(_ name: String) -> String? { attributes.first { $0.name == name }?.value }
}

public struct Devices: Sendable, Equatable {
    public var emulator: String?
    public var disks: [Disk] = []
    public var controllers: [Controller] = []
    public var interfaces: [Interface] = []
    public var serials: [CharDevice] = []
    public var parallels: [CharDevice] = []
    public var consoles: [CharDevice] = []
    public var channels: [CharDevice] = []
    public var inputs: [Input] = []
    public var graphics: [Graphics] = []
    public var videos: [Video] = []
    public var sounds: [Sound] = []
    public var audios: [Audio] = []
    public var memballoon: MemBalloon?
    public var rngs: [RNG] = []
    public var watchdogs: [Watchdog] = []
    public var hostdevs: [HostDev] = []
    public var redirdevs: [RedirDev] = []
    public var filesystems: [Filesystem] = []
    public var tpms: [TPM] = []
    /// Device elements Corral does not model, kept verbatim.
    public var extra = Extra()
    public init() {}
}

public struct Disk: Sendable, Equatable {
    public var type: String = "file"               // file | block | volume | network | dir
    public var device: String = "disk"             // disk | cdrom | floppy | lun
    public var driverName: String?                 // qemu
    public var driverType: String?                 // raw | qcow2 | ...
    public var driverCache: String?
    public var driverDiscard: String?
    public var driverExtra: [XMLAttribute] = []    // other <driver> attributes
    public var sourcePath: String?                 // source file= / dev= / dir=
    public var sourceExtra = Extra()
    public var targetDev: String = ""
    public var targetBus: String?                  // virtio | sata | ide | scsi | usb | fdc
    public var readonly: Bool = false
    public var shareable: Bool = false
    public var bootOrder: Int?
    public var serial: String?
    public var alias: String?                      // live XML only
    public var address: DeviceAddress?
    public var extra = Extra()
    public init() {}
}

public struct Controller: Sendable, Equatable {
    public var type: String                        // usb | pci | virtio-serial | scsi | sata | ide
    public var index: Int
    public var model: String?                      // ich9-ehci1 | qemu-xhci | virtio-scsi | pci-root | pcie-root ...
    public var alias: String?
    public var address: DeviceAddress?
    public var extra = Extra()
    public init(type: String, index: Int, model: String? = nil) { self.type = type; self.index = index; self.model = model }
}

public struct Interface: Sendable, Equatable {
    public var type: String = "user"               // user | network | bridge | ...
    public var mac: String?
    public var sourceNetwork: String?
    public var sourceBridge: String?
    public var sourceExtra = Extra()
    public var model: String?                      // virtio | e1000 | rtl8139 ...
    public var targetDev: String?
    public var bootOrder: Int?
    public var alias: String?
    public var address: DeviceAddress?
    public var extra = Extra()
    public init() {}
}

/// serial / parallel / console / channel share libvirt's character-device syntax.
public struct CharDevice: Sendable, Equatable {
    public var type: String = "pty"                // pty | file | unix | tcp | null | spicevmc | stdio
    public var sourcePath: String?                 // pty path (live), file path, unix socket path
    public var sourceMode: String?                 // bind | connect (unix, tcp)
    public var sourceHost: String?
    public var sourceService: String?              // tcp port
    public var sourceExtra: [XMLAttribute] = []
    public var protocolType: String?               // <protocol type='raw|telnet'/> for tcp
    public var logFile: String?                    // <log file='' append=''/>
    public var logAppend: String?
    public var targetType: String?                 // isa-serial | serial | virtio | virtio-serial (channel)
    public var targetPort: Int?
    public var targetName: String?                 // channel: org.qemu.guest_agent.0
    public var targetModel: String?                // <target><model name=''/></target>
    public var alias: String?
    public var address: DeviceAddress?
    public var extra = Extra()
    public init() {}
}

public struct Input: Sendable, Equatable {
    public var type: String                        // mouse | keyboard | tablet
    public var bus: String?                        // ps2 | usb | virtio
    public var alias: String?
    public var address: DeviceAddress?
    public var extra = Extra()
    public init(type: String, bus: String? = nil) { self.type = type; self.bus = bus }
}

public struct Graphics: Sendable, Equatable {
    public var type: String                        // vnc | spice
    public var port: Int?
    public var tlsPort: Int?
    public var autoport: Bool?
    public var listen: String?                     // listen= attribute / <listen type='address' address=''/>
    public var passwd: String?
    public var extra = Extra()
    public init(type: String) { self.type = type }
}

public struct Video: Sendable, Equatable {
    public var model: String                       // vga | cirrus | qxl | virtio | bochs | ramfb | none
    public var vram: Int?
    public var heads: Int?
    public var primary: Bool?
    public var alias: String?
    public var address: DeviceAddress?
    public var extra = Extra()
    public init(model: String) { self.model = model }
}

public struct Sound: Sendable, Equatable {
    public var model: String                       // ich6 | ich9 | ac97 | es1370 | usb
    public var audioID: Int?                       // <audio id=''/>
    public var alias: String?
    public var address: DeviceAddress?
    public var extra = Extra()
    public init(model: String) { self.model = model }
}

public struct Audio: Sendable, Equatable {
    public var id: Int
    public var type: String                        // none | spice | pulseaudio | ...
    public var extra = Extra()
    public init(id: Int, type: String) { self.id = id; self.type = type }
}

public struct MemBalloon: Sendable, Equatable {
    public var model: String                       // virtio | none
    public var statsPeriod: Int?
    public var alias: String?
    public var address: DeviceAddress?
    public var extra = Extra()
    public init(model: String) { self.model = model }
}

public struct RNG: Sendable, Equatable {
    public var model: String = "virtio"
    public var backendModel: String = "random"     // random | egd | builtin
    public var backendPath: String?                // /dev/urandom
    public var alias: String?
    public var address: DeviceAddress?
    public var extra = Extra()
    public init() {}
}

public struct Watchdog: Sendable, Equatable {
    public var model: String                       // i6300esb | ib700 | itco
    public var action: String?                     // reset | shutdown | poweroff | pause | none | dump | inject-nmi
    public var alias: String?
    public var address: DeviceAddress?
    public var extra = Extra()
    public init(model: String) { self.model = model }
}

public struct HostDev: Sendable, Equatable {
    public var mode: String = "subsystem"
    public var type: String = "usb"
    public var vendorID: String?                   // 0x1234
    public var productID: String?
    public var sourceBus: Int?
    public var sourceDevice: Int?
    public var alias: String?
    public var address: DeviceAddress?
    public var extra = Extra()
    public init() {}
}

public struct RedirDev: Sendable, Equatable {
    public var bus: String = "usb"
    public var type: String = "spicevmc"           // spicevmc | tcp
    public var sourceHost: String?
    public var sourceService: String?
    public var alias: String?
    public var address: DeviceAddress?
    public var extra = Extra()
    public init() {}
}

public struct Filesystem: Sendable, Equatable {
    public var type: String = "mount"
    public var accessmode: String?                 // passthrough | mapped | squash
    public var driverType: String?                 // path | virtiofs
    public var sourceDir: String?
    public var targetDir: String?                  // mount tag
    public var readonly: Bool = false
    public var alias: String?
    public var address: DeviceAddress?
    public var extra = Extra()
    public init() {}
}

public struct TPM: Sendable, Equatable {
    public var model: String?                      // tpm-tis | tpm-crb
    public var backendType: String = "emulator"    // emulator | passthrough
    public var backendVersion: String?
    public var backendPath: String?
    public var alias: String?
    public var extra = Extra()
    public init() {}
}
