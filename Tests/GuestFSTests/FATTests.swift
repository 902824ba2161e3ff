import Foundation
import Testing
@testable import GuestFS

/// The FAT fixtures (scripts/guest-images.d/20-fat.sh): three FAT widths written by mtools from
/// fat-src/, with mtools's own recursive listing and free-space figure beside each image.
enum FATFixture {
    static let images = ["fat12.img", "fat16.img", "fat32.img", "fat32-zlib.qcow2"]

    static func open(_ name: String) throws -> FATFilesystem {
        let fs = try openFilesystem(openImage(path: ImageFixtures.path(name)))
        return try #require(fs as? FATFilesystem)
    }

    static func vfs(_ name: String) throws -> VFS {
        var vfs = VFS()
        vfs.mount(try open(name), at: "/")
        return vfs
    }

    /// mtools's "mdir -/ -a" listing: directory path → names in on-disk order, each the long
    /// name when there is one, else the 8.3 name as mtools shows it (case flags applied).
    static func mdirListing(_ name: String) throws -> [String: [String]] {
        let base = name.replacingOccurrences(of: "-zlib.qcow2", with: ".img").replacingOccurrences(of: ".img", with: "")
        let text = String(decoding: try ImageFixtures.bytes(base + ".mdir.txt"), as: UTF8.self)
        let line = /^(.{8}) (.{3}) +.*? \d{4}-\d\d-\d\d +\d+:\d\d ?(?: (.*))?$/
        var out: [String: [String]] = [:]
        var current: String?
        for l in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if l.hasPrefix("Directory for ::") {
                current = String(l.dropFirst("Directory for ::".count)); out[current!] = []
            } else if let m = l.wholeMatch(of: line), let dir = current {
                let base = m.1.trimmingCharacters(in: .whitespaces), ext = m.2.trimmingCharacters(in: .whitespaces)
                let short = ext.isEmpty ? base : base + "." + ext
                if short == "." || short == ".." { continue }
                out[dir, default: []].append(m.3.map(String.init) ?? short)
            }
        }
        return out
    }
}

@Suite(.serialized) struct FATTests {
    /// Walks the guest tree against fat-src/: names, types, modes, owners, link counts, mtimes,
    /// sizes and contents, plus a case-changed lookup of every name. Returns the entries seen.
    func compare(_ vfs: VFS, _ fs: FATFilesystem, guest: String, host: String, dirInode: UInt64) throws -> Int {
        let entries = try vfs.readdir(guest.isEmpty ? "/" : guest)
        let hostNames = try FileManager.default.contentsOfDirectory(atPath: host)
        #expect(entries.map(\.name).sorted() == hostNames.sorted(), "names in \(guest)/")
        var count = entries.count
        for e in entries {
            let gp = guest + "/" + e.name, hp = host + "/" + e.name
            var st = stat()
            guard lstat(hp, &st) == 0 else { Issue.record("\(gp) is not in the source tree"); continue }
            let g = try vfs.lstat(gp)
            #expect(g.inode == e.inode, "inode of \(gp)")
            #expect(g.type == e.type, "entry type of \(gp)")
            #expect(g.uid == 0 && g.gid == 0, "owner of \(gp)")
            if gp != "/frag" {  // made by mmd, which stamps it with the time of the run
                #expect(g.mtime == FileTime(seconds: Int64(st.st_mtim.tv_sec)), "mtime of \(gp)")
                #expect(g.ctime == g.mtime, "ctime of \(gp)")
            }
            // Linux's vfat is case-insensitive for ASCII letters: the swapped-case name finds the same entry.
            let swapped = Array(e.name.utf8).map { c -> UInt8 in
                (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) ? c ^ 0x20 : c
            }
            #expect(try fs.lookup(dirInode, name: swapped) == e.inode, "case-swapped lookup of \(gp)")
            if (st.st_mode & S_IFMT) == S_IFDIR {
                #expect(g.mode == 0o40755, "mode of \(gp)")
                let sub = try FileManager.default.contentsOfDirectory(atPath: hp).filter {
                    var s = stat(); return lstat(hp + "/" + $0, &s) == 0 && (s.st_mode & S_IFMT) == S_IFDIR
                }
                #expect(g.nlink == UInt64(sub.count + 2), "links of \(gp)")
                #expect(g.size > 0 && g.size % UInt64(fs.boot.clusterSize) == 0, "size of \(gp)")
                count += try compare(vfs, fs, guest: gp, host: hp, dirInode: e.inode)
            } else {
                #expect(g.mode == (e.name == "ro.txt" ? 0o100555 : 0o100755), "mode of \(gp)")
                #expect(g.nlink == 1)
                #expect(g.size == UInt64(st.st_size), "size of \(gp)")
                let cluster = UInt64(fs.boot.clusterSize)
                #expect(g.blocks == (g.size + cluster - 1) / cluster * cluster / 512, "blocks of \(gp)")
                let data = try vfs.readFile(gp)
                #expect(Data(data) == FileManager.default.contents(atPath: hp), "contents of \(gp)")
            }
        }
        return count
    }

    @Test(arguments: FATFixture.images)
    func wholeTreeMatchesSource(_ name: String) throws {
        let fs = try FATFixture.open(name)
        #expect(fs.typeName == "vfat")
        #expect(fs.boot.kind.rawValue == (name.hasPrefix("fat12") ? "FAT12" : name.hasPrefix("fat16") ? "FAT16" : "FAT32"))
        var vfs = VFS()
        vfs.mount(fs, at: "/")
        let seen = try compare(vfs, fs, guest: "", host: ImageFixtures.path("fat-src"), dirInode: fs.rootInode)
        #expect(seen == 14 + 2 + 12 + 2000 + 1, "entries walked")
    }

    @Test(arguments: FATFixture.images)
    func directoryOrderMatchesMtools(_ name: String) throws {
        let vfs = try FATFixture.vfs(name)
        let listing = try FATFixture.mdirListing(name)
        #expect(listing.count == 17)  // /, Sub Dir, Nested, deep and its 11 levels, many, frag
        #expect(listing["/many"]?.count == 2000)
        for (dir, names) in listing {
            #expect(try vfs.readdir(dir).map(\.name) == names, "order of \(dir)")
        }
    }

    @Test func namesStatAndLookupsAsLinuxShowsThem() throws {
        let vfs = try FATFixture.vfs("fat32.img")
        let rootNames = try vfs.readdir("/").map(\.name)
        for n in ["readme.txt", "lower.TXT", "UP.txt", "UPPER.TXT", "Mixed.Txt", "héllo wörld.txt", "日本語.txt",
                  "Long File Name With Spaces.txt", "Sub Dir", "empty.txt"] {
            #expect(rootNames.contains(n), "\(n) in /")
        }
        // Times, sizes and links as libguestfs's lstatns showed them for this image (FAT local time
        // read as UTC; directories sized by their cluster chains, FAT12/16 roots by their entries).
        let readme = try vfs.stat("/readme.txt")
        #expect(readme.mtime.seconds == 4_354_819_198)  // 2107-12-31 23:59:58, the last FAT second but one
        #expect(try vfs.stat("/UPPER.TXT").mtime.seconds == 946_684_798)
        #expect(readme.atime.seconds == 4_354_732_800)  // the access date's midnight
        #expect(readme.ctime == readme.mtime)
        let root = try vfs.stat("/")
        #expect(root.mode == 0o40755 && root.mtime.seconds == 0 && root.atime.seconds == 0)
        #expect(root.nlink == 6 && root.size == 1024 && root.blocks == 2)
        let many = try vfs.stat("/many")
        #expect(many.nlink == 2 && many.size == 192_512 && many.blocks == 376)
        #expect(try vfs.stat("/Sub Dir").nlink == 3)
        let fat12Root = try FATFixture.vfs("fat12.img").stat("/")
        #expect(fat12Root.size == 16384 && fat12Root.blocks == 32 && fat12Root.nlink == 6)
        #expect(try vfs.stat("/empty.txt").blocks == 0)
        #expect(try vfs.stat("/frag/big.bin").blocks == 600)
        // ASCII letters fold, other letters do not (Linux's iocharset=ascii); the 8.3 alias and a
        // trailing dot find the file too.
        #expect(try vfs.readFile("/LONG FILE NAME WITH SPACES.TXT") == Array("long name\n".utf8))
        #expect(try vfs.readFile("/longfi~1.txt") == Array("long name\n".utf8))
        #expect(try vfs.readFile("/README.TXT.") == Array("lower\n".utf8))
        #expect(try vfs.readFile("/HéLLO WöRLD.TXT") == Array("accents\n".utf8))
        #expect(throws: GuestFSError("/HÉLLO WÖRLD.TXT: no such file or directory (ENOENT)")) { try vfs.stat("/HÉLLO WÖRLD.TXT") }
        let deep = "/deep" + (1...11).map { "/level\($0)" }.joined() + "/bottom.txt"
        #expect(try vfs.readFile(deep.uppercased()) == Array("bottom\n".utf8))
        #expect(try vfs.readdir("/many").count == 2000)
        #expect(try vfs.readFile("/many/N1234 LONG NAME.TXT") == Array("1234\n".utf8))
        #expect(throws: GuestFSError("fat: inode 1 is not a symbolic link (FAT has none)")) { try FATFixture.open("fat32.img").readlink(1) }
    }

    @Test(arguments: ["fat12", "fat16", "fat32"])
    func statfsCountsFreeClustersLikeMtools(_ base: String) throws {
        let fs = try FATFixture.open(base + ".img")
        let usage = try fs.statfs()
        let mtoolsFree = try #require(UInt64(String(decoding: try ImageFixtures.bytes(base + ".free"), as: UTF8.self)))
        #expect(usage.freeBlocks * usage.blockSize == mtoolsFree)
        #expect(usage.availableBlocks == usage.freeBlocks)
        #expect(usage.blockSize == UInt64(fs.boot.clusterSize))
        #expect(usage.files == 0 && usage.freeFiles == 0)
        // f_blocks: FAT12 and FAT32 as Linux reported them through libguestfs for these mkfs.vfat
        // layouts; FAT16 from minfo's BPB ((40960 - 4 - 2 × 40 - 32) / 4).
        let expectedBlocks: [String: UInt64] = ["fat12": 4067, "fat16": 10211, "fat32": 80628]
        #expect(usage.blocks == expectedBlocks[base])
    }

    @Test func fat32PartitionOnAnMBRDisk() throws {
        let disks = try GuestDisks.open([(try ImageFixtures.path("fat-mbr.raw"), nil)])
        let device = try disks.device(named: "/dev/sda1")
        #expect(detectFilesystem(device).type == "vfat")
        var vfs = VFS()
        vfs.mount(try openFilesystem(device), at: "/")
        #expect(try vfs.readFile("/Sub Dir/Nested/file.dat") == Array("nested\n".utf8))
        #expect(try vfs.readFile("/frag/big.bin") == FATFixture.vfs("fat32.img").readFile("/frag/big.bin"))
    }

    @Test func labelFromTheRootDirectoryWinsAsInBlkid() throws {
        var bytes = try ImageFixtures.bytes("fat12.img")
        let fs = try FATFixture.open("fat12.img")
        #expect(try fs.rootDirectoryLabel() == Array("FAT12      ".utf8))
        // Relabelled the Windows way: the boot sector says NO NAME, the root entry has the label.
        bytes.replaceSubrange(43..<54, with: Array("NO NAME    ".utf8))
        let root = Int(fs.boot.rootDirOffset)
        let entry = try #require((0..<16).map { root + $0 * 32 }.first { bytes[$0 + 11] == 0x08 })
        bytes.replaceSubrange(entry..<(entry + 11), with: Array("ROOT LABEL ".utf8))
        #expect(detectFilesystem(MemoryDevice(bytes: bytes)).label == "ROOT LABEL")
        let blkid = "/usr/sbin/blkid"
        if FileManager.default.isExecutableFile(atPath: blkid) {
            let dir = try ImageFixtures.scratch("fat-label")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try ImageFixtures.write(bytes, to: dir + "/relabelled.img")
            let out = try ext4TestShell("\(blkid) -p -o value -s LABEL \"$1\"", [dir + "/relabelled.img"])
            #expect(out == "ROOT LABEL\n")
        }
    }

    @Test func fatTimesFollowLinux() {
        // Month and day 0 count as 1; 2100 is no leap year; seconds are stored halved.
        #expect(FATFilesystem.time(date: 0, time: 0).seconds == 315_532_800)
        #expect(FATFilesystem.time(date: 41 << 9 | 3 << 5 | 4, time: 5 << 11 | 6 << 5 | 4).seconds == 1_614_834_368)
        #expect(FATFilesystem.time(date: 120 << 9 | 3 << 5 | 1, time: 0).seconds == 4_107_542_400)  // 2100-03-01
        // Out-of-range fields are not clamped: month 15 adds no days (Linux's table ends in zeros),
        // hour 31, minute 63 and second 62 simply add up: 2107-01-31 + 31:63:62.
        #expect(FATFilesystem.time(date: 0xFFFF, time: 0xFFFF).seconds == 4_325_990_642)
    }
}
