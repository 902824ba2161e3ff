/// One disk image attached to the inspector, named like libguestfs names its appliance disks.
public struct GuestDisk: Sendable {
    /// `/dev/sda`, `/dev/sdb`, ...
    public var name: String
    public var path: String
    public var device: any BlockDevice
    public var partitionTable: PartitionTable?

    /// `/dev/sda1`-style name of one of this disk's partitions.
    public func partitionName(_ p: Partition) -> String { "\(name)\(p.number)" }
}

/// A named block device as the guest would see it: a disk, a partition or an LV.
public struct GuestDevice: Sendable {
    public var name: String
    public var device: any BlockDevice

    public init(name: String, device: any BlockDevice) {
        self.name = name; self.device = device
    }
}

/// The disks of a guest, their partitions, and the LVM volume groups on them.
public struct GuestDisks: Sendable {
    public var disks: [GuestDisk]
    public var volumeGroups: [VolumeGroup]

    /// Opens each image (format probed when nil), reads partition tables and assembles LVM.
    public static func open(_ images: [(path: String, format: ImageFormat?)], followBacking: Bool = true) throws(GuestFSError) -> GuestDisks {
        var disks: [GuestDisk] = []
        for (i, image) in images.enumerated() {
            let device = try openImage(path: image.path, format: image.format, followBacking: followBacking)
            let table: PartitionTable?
            do { table = try PartitionTable.read(device) } catch {
                throw GuestFSError("\(image.path): \(error.message)")
            }
            disks.append(GuestDisk(name: "/dev/" + diskName(index: i), path: image.path, device: device, partitionTable: table))
        }
        var result = GuestDisks(disks: disks, volumeGroups: [])
        result.volumeGroups = try LVM.scan(result.blockDevices(includingDisksWithTables: false))
        return result
    }

    /// `sda` ... `sdz`, `sdaa` ...: bijective base 26, as Linux names SCSI disks.
    public static func diskName(index: Int) -> String { "sd" + diskLetters(index) }

    private static func diskLetters(_ index: Int) -> String {
        let letter = String(UnicodeScalar(UInt8(97 + index % 26)))
        return index < 26 ? letter : diskLetters(index / 26 - 1) + letter
    }

    /// Every partition with its device name, disks in order (extended MBR containers included,
    /// as `list-partitions` shows them).
    public var partitions: [(name: String, disk: GuestDisk, partition: Partition)] {
        disks.flatMap { disk in (disk.partitionTable?.partitions ?? []).map { (disk.partitionName($0), disk, $0) } }
    }

    /// Partitions (except extended containers) and unpartitioned whole disks: where filesystems or PVs live.
    private func blockDevices(includingDisksWithTables: Bool) -> [GuestDevice] {
        var out: [GuestDevice] = []
        for disk in disks {
            if disk.partitionTable == nil || includingDisksWithTables {
                out.append(GuestDevice(name: disk.name, device: disk.device))
            }
            // Like Linux, partitions that do not fit the disk get no device (they stay listed).
            for p in disk.partitionTable?.partitions ?? [] where !p.isExtended {
                if let device = try? p.device(on: disk.device) {
                    out.append(GuestDevice(name: disk.partitionName(p), device: device))
                }
            }
        }
        return out
    }

    /// Devices that may hold a filesystem: unpartitioned disks, partitions that are not LVM PVs or
    /// extended containers, and every LV that can be opened.
    public func filesystemCandidates() throws(GuestFSError) -> [GuestDevice] {
        var out: [GuestDevice] = []
        for d in blockDevices(includingDisksWithTables: false) where try LVMPhysicalVolume.read(d.device) == nil {
            out.append(d)
        }
        for vg in volumeGroups {
            for lv in vg.logicalVolumes {
                if let device = try? lv.open() { out.append(GuestDevice(name: lv.path, device: device)) }
            }
        }
        return out
    }

    /// Resolves `/dev/sda`, `/dev/sda1`, `/dev/VG/LV` or `/dev/mapper/VG-LV`.
    public func device(named name: String) throws(GuestFSError) -> any BlockDevice {
        if let disk = disks.first(where: { $0.name == name }) { return disk.device }
        if let p = partitions.first(where: { $0.name == name }) { return try p.partition.device(on: p.disk.device) }
        for vg in volumeGroups {
            for lv in vg.logicalVolumes where lv.path == name || "/dev/mapper/\(mapperName(vg.name))-\(mapperName(lv.name))" == name {
                return try lv.open()
            }
        }
        throw GuestFSError("\(name): no such device")
    }

    /// Device-mapper doubles dashes inside VG and LV names.
    private func mapperName(_ s: String) -> String { s.split(separator: "-", omittingEmptySubsequences: false).joined(separator: "--") }
}
