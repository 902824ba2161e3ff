import Foundation
import Testing
@testable import GuestFS

// Inspection of the OS fixtures from scripts/guest-images.d/50-os.sh, checked against what the
// script put in (and what dpkg, rpm and sqlite3 themselves report), plus hostile package databases.

private func inspect(_ name: String) throws -> (GuestInspector, [InspectedOS]) {
    let disks = try GuestDisks.open([(try ImageFixtures.path(name), nil)])
    let inspector = GuestInspector(disks: disks)
    return (inspector, try inspector.inspectOS())
}

private func lines(_ name: String) throws -> [String] {
    String(decoding: try ImageFixtures.bytes(name), as: UTF8.self).split(separator: "\n").map(String.init)
}

/// Runs a tool, returning its stdout, or nil when it is not installed or fails.
private func tool(_ path: String, _ args: [String]) -> String? {
    guard FileManager.default.isExecutableFile(atPath: path) else { return nil }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return p.terminationStatus == 0 ? String(decoding: data, as: UTF8.self) : nil
}

@Suite struct InspectFixtureTests {
    @Test func debian12() throws {
        let (inspector, roots) = try inspect("debian12.raw")
        // sda1 holds /boot with a grub directory, so it is not a root.
        let os = try #require(roots.count == 1 ? roots.first : nil)
        #expect(os.root == "/dev/sda2")
        #expect(os.type == "linux")
        #expect(os.distro == "debian")
        // os-release gives only "12", so /etc/debian_version decides, name included (as libguestfs).
        #expect(os.productName == "12.5")
        #expect(os.majorVersion == 12 && os.minorVersion == 5)
        #expect(os.hostname == "debian12-guest")
        #expect(os.arch == "x86_64")
        #expect(os.packageFormat == "deb" && os.packageManagement == "apt")
        #expect(os.osinfo == "debian12")
        #expect(os.mountpoints.map { "\($0.path)=\($0.device)" } == ["/=/dev/sda2", "/boot=/dev/sda1"])
        // fstab order; /dev/sr0, proc, tmpfs, nfs and the bind mount are dropped, swap stays.
        #expect(os.filesystems == ["/dev/sda2", "/dev/sda1", "/dev/sda3"])

        let apps = try inspector.applications(os)
        let expected = try lines("debian12.expected-packages.txt")
        #expect(apps.count == expected.count)
        #expect(apps.count > 300)
        let names = apps.map(\.name)
        #expect(names == names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        // dpkg's "[epoch:]upstream-revision" against our split, for every package.
        let byName = Dictionary(apps.map { ($0.name + " " + $0.arch, $0) }, uniquingKeysWith: { a, _ in a })
        var checked = 0
        for line in expected {
            let f = line.split(separator: " ").map(String.init)
            guard f.count == 3, let app = byName[f[0] + " " + f[2]] else { Issue.record("missing \(line)"); continue }
            var v = (app.epoch != 0 ? "\(app.epoch):" : "") + app.version
            if !app.release.isEmpty { v += "-" + app.release }
            // libguestfs splits at the first "-": the pieces join back to dpkg's version.
            #expect(v == f[1], "\(f[0])")
            checked += 1
        }
        #expect(checked == expected.count)
        let bash = try #require(apps.first { $0.name == "bash" })
        #expect(!bash.summary.isEmpty && !bash.description.isEmpty && bash.url.hasPrefix("http"))
    }

    @Test func qcow2OverlayChangesOnlyTheHostname() throws {
        let (_, base) = try inspect("debian12.raw")
        let (_, top) = try inspect("debian12-overlay.qcow2")
        var b = try #require(base.first), t = try #require(top.first)
        #expect(t.hostname == "debian12-overlay")
        #expect(b.hostname == "debian12-guest")
        b.hostname = nil; t.hostname = nil
        #expect(b == t)
    }

    @Test(.enabled(if: ImageFixtures.exists("rhel9.raw"), "the RHEL fixture needs loop devices for LVM"))
    func rhel9() throws {
        let (inspector, roots) = try inspect("rhel9.raw")
        let os = try #require(roots.count == 1 ? roots.first : nil)
        #expect(os.root == "/dev/rhel/root")
        #expect(os.distro == "rhel")
        #expect(os.productName == "Red Hat Enterprise Linux 9.2 (Plow)")
        #expect(os.majorVersion == 9 && os.minorVersion == 2)
        // /etc/hostname wins over /etc/sysconfig/network.
        #expect(os.hostname == "rhel9.example.com")
        #expect(os.arch == "aarch64")
        #expect(os.packageFormat == "rpm" && os.packageManagement == "dnf")
        #expect(os.osinfo == "rhel9.2")
        #expect(os.mountpoints.map { "\($0.path)=\($0.device)" } == ["/=/dev/rhel/root", "/boot=/dev/sda1"])
        #expect(os.filesystems == ["/dev/rhel/root", "/dev/sda1", "/dev/rhel/swap"])

        let apps = try inspector.applications(os)
        let got = apps.map { "\($0.name) \($0.epoch) \($0.version) \($0.release) \($0.arch) \($0.url)" }
        #expect(got == (try lines("rhel9.expected-rpms.txt")))
        #expect(apps.first { $0.name == "kernel-core" }?.summary == "The Linux kernel")
        #expect(apps.first { $0.name == "openssl-libs" }?.epoch == 1)
        #expect(apps.first { $0.name == "redhat-release" }?.url == "(none)")
    }

    @Test func noOperatingSystemOnPlainDisks() throws {
        // mbr.raw's ext4 has /etc/os-release but no /bin: libguestfs does not call that a root.
        let (_, roots) = try inspect("mbr.raw")
        #expect(roots.isEmpty)
    }
}

/// A device whose bytes at some offsets are replaced, over a real image.
private struct PatchedDevice: BlockDevice {
    let base: any BlockDevice
    let patches: [UInt64: UInt8]
    var size: UInt64 { base.size }
    func read(at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] {
        var b = try base.read(at: offset, count: count)
        for (at, v) in patches where at >= offset && at < offset + UInt64(count) { b[Int(at - offset)] = v }
        return b
    }
}

@Suite struct InspectHostileTests {
    /// Random bytes in the Debian root filesystem's first 8 MiB (superblock, descriptors, inode
    /// tables, directories, /etc and dpkg data): inspection and the package list finish or throw.
    @Test func corruptedRootFilesystem() throws {
        let path = try ImageFixtures.path("debian12.raw")
        let base = try openImage(path: path, format: .raw)
        let table = try #require(try PartitionTable.read(base))
        let rootStart = try #require(table.partitions.first { $0.number == 2 }).start * 512
        var rng = InspectRNG(seed: 0xD15C)
        var completed = 0
        for round in 0..<40 {
            var patches: [UInt64: UInt8] = [:]
            for _ in 0..<(4 + round % 40) {
                patches[rootStart + rng.next() % (8 << 20)] = UInt8(truncatingIfNeeded: rng.next())
            }
            let device = PatchedDevice(base: base, patches: patches)
            let disks = GuestDisks(disks: [GuestDisk(name: "/dev/sda", path: path, device: device, partitionTable: table)], volumeGroups: [])
            let inspector = GuestInspector(disks: disks)
            guard let roots = try? inspector.inspectOS() else { continue }
            for os in roots { _ = try? inspector.applications(os) }
            completed += 1
        }
        #expect(completed > 0)
    }
}

@Suite struct SQLiteTests {
    /// Our rows formatted like `sqlite3 -separator '|' "select rowid, ..."`.
    private func format(_ rows: [SQLiteRow]) -> String {
        rows.map { row in
            ([String(row.rowid)] + row.values.dropFirst().map { v -> String in
                switch v {
                case .null: ""
                case .integer(let i): String(i)
                case .real(let r): String(r)
                case .text(let s): s
                case .blob(let b): b.map { String($0, radix: 16, uppercase: true).leftPad2 }.joined()
                }
            }).joined(separator: "|")
        }.joined(separator: "\n") + "\n"
    }

    @Test func rpmdbAgainstSQLite3() throws {
        let dir = try ImageFixtures.scratch("sqlite")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let copy = dir + "/rpmdb.sqlite"
        let bytes = try ImageFixtures.bytes("rhel9.rpmdb.sqlite")
        try ImageFixtures.write(bytes, to: copy)
        let db = try SQLiteDatabase(bytes: bytes)
        let rows = try db.rows(ofTable: "Packages")
        #expect(rows.count == (try lines("rhel9.expected-rpms.txt")).count)
        let apps = try GuestInspector.rpmApplications(db)
        #expect(apps.count == rows.count)
        guard let cli = tool("/usr/bin/sqlite3", ["-readonly", copy, "select hnum, hex(blob) from Packages order by hnum"]) else { return }
        #expect(format(rows) == cli)
        let names = try #require(tool("/usr/bin/sqlite3", ["-readonly", copy, "select name from sqlite_master"]))
        #expect(try db.schema().map(\.name).joined(separator: "\n") + "\n" == names)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3")))
    func largeTableWithOverflowPages() throws {
        let dir = try ImageFixtures.scratch("sqlite-big")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/big.db"
        // 3000 rows over interior pages; blobs up to ~20 KiB overflow 1 KiB pages; integers of every width.
        let sql = """
            pragma page_size=1024;
            create table t(id integer primary key, i integer, s text, b blob);
            with recursive n(x) as (select 1 union all select x+1 from n where x < 3000)
            insert into t select x, case x % 5 when 0 then null when 1 then x*x*x*x*x*7 when 2 then -x*131
              else x * 4294967311 end, printf('row %d %s', x, substr(hex(randomblob(60)), 1, x % 97)),
              case when x % 11 = 0 then null else randomblob((x * 37) % 20000) end from n;
            """
        _ = try #require(tool("/usr/bin/sqlite3", [path, sql]))
        let db = try SQLiteDatabase(bytes: [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))))
        #expect(db.pageSize == 1024)
        let rows = try db.rows(ofTable: "T")
        #expect(rows.count == 3000)
        let cli = try #require(tool("/usr/bin/sqlite3", [path, "select id, i, s, hex(b) from t order by id"]))
        #expect(format(rows) == cli)
    }

    /// A database whose two transactions are still only in its write-ahead log (copied while the
    /// writer had it open), read with the log, without it, and with the last frame corrupted.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3")))
    func writeAheadLog() throws {
        let dir = try ImageFixtures.scratch("sqlite-wal")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let sql = """
            pragma page_size=1024; pragma journal_mode=wal; pragma wal_autocheckpoint=0;
            create table t(id integer primary key, s text);
            with recursive n(x) as (select 1 union all select x+1 from n where x < 400)
            insert into t select x, printf('first %d', x) from n;
            with recursive n(x) as (select 401 union all select x+1 from n where x < 800)
            insert into t select x, printf('second %d', x) from n;
            .shell cp \(dir)/live.db \(dir)/snap.db && cp \(dir)/live.db-wal \(dir)/snap.db-wal
            """
        try #require(runSQLite(dir + "/live.db", sql) != nil)
        let main = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/snap.db")))
        let wal = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/snap.db-wal")))
        #expect(wal.count > 32)
        #expect(try SQLiteDatabase(bytes: main, wal: wal).rows(ofTable: "t").count == 800)
        #expect(throws: GuestFSError.self) { try SQLiteDatabase(bytes: main).rows(ofTable: "t") }
        // A bad checksum in the last frame voids the second transaction only, as SQLite's recovery does.
        var bad = wal
        bad[bad.count - 1] ^= 0xFF
        let rows = try SQLiteDatabase(bytes: main, wal: bad).rows(ofTable: "t")
        #expect(rows.count == 400)
        try ImageFixtures.write(bad, to: dir + "/snap.db-wal")
        let cli = try #require(tool("/usr/bin/sqlite3", [dir + "/snap.db", "select count(*) from t"]))
        #expect(cli == "\(rows.count)\n")
    }

    private func runSQLite(_ path: String, _ script: String) -> Void? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [path]
        let input = Pipe()
        p.standardInput = input
        p.standardOutput = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return nil }
        input.fileHandleForWriting.write(Data(script.utf8))
        try? input.fileHandleForWriting.close()
        p.waitUntilExit()
        return p.terminationStatus == 0 ? () : nil
    }

    @Test func hostileDatabasesThrowOrReadNeverCrash() throws {
        let good = try ImageFixtures.bytes("rhel9.rpmdb.sqlite")
        var rng = InspectRNG(seed: 0x5eed)
        var threw = 0
        for round in 0..<1500 {
            var b = good
            for _ in 0..<(1 + round % 8) {
                let at = Int(rng.next() % UInt64(round % 3 == 0 ? min(b.count, 4096) : b.count))
                b[at] = UInt8(truncatingIfNeeded: rng.next())
            }
            do {
                let db = try SQLiteDatabase(bytes: b)
                _ = try GuestInspector.rpmApplications(db)
            } catch { threw += 1 }
        }
        #expect(threw > 0)
        // Hand-made corruptions: a truncated file, a root page that points to itself, a huge page size.
        #expect(throws: GuestFSError.self) { try SQLiteDatabase(bytes: Array(good.prefix(99))) }
        var loop = good
        let root = 1024 * 0  // page 1's b-tree header is at 100
        loop[root + 100] = 5  // make page 1 interior whose right-most child is page 1
        loop[root + 103] = 0; loop[root + 104] = 0
        loop[root + 108] = 0; loop[root + 109] = 0; loop[root + 110] = 0; loop[root + 111] = 1
        #expect(throws: GuestFSError.self) { _ = try SQLiteDatabase(bytes: loop).schema() }
        var badSize = good
        badSize[16] = 0x03; badSize[17] = 0x00
        #expect(throws: GuestFSError.self) { try SQLiteDatabase(bytes: badSize) }
    }

    @Test func varintsAndRecords() throws {
        func v(_ b: [UInt8]) -> [UInt64]? { SQLiteDatabase.varint(b, 0, limit: b.count).map { [$0.0, UInt64($0.1)] } }
        #expect(v([0x7F]) == [127, 1])
        #expect(v([0x81, 0x00]) == [128, 2])
        #expect(v(Array(repeating: 0xFF, count: 9)) == [UInt64.max, 9])
        #expect(SQLiteDatabase.varint([0x81], 0, limit: 1) == nil)
        // Header of 4 bytes: int8, NULL, text "hi"; body 0x85 "hi".
        #expect(try SQLiteDatabase.record([4, 1, 0, 17, 0x85, 0x68, 0x69]) == [.integer(-123), .null, .text("hi")])
        #expect(throws: GuestFSError.self) { try SQLiteDatabase.record([3, 1, 23, 0x01]) }  // text runs past the end
        #expect(throws: GuestFSError.self) { try SQLiteDatabase.record([9, 1]) }  // header longer than record
    }
}

@Suite struct PackageDatabaseTests {
    @Test func dpkgRules() {
        let status = """
            Package: a
            Status: install ok installed
            Version: 1:2.3-4-5
            Architecture: amd64
            Source: a-src (2.3-4)
            Homepage: https://a.example
            Description: first line
             second
             .
             third

            Package: gone
            Status: deinstall ok config-files
            Version: 1.0

            Package: badepoch
            Status: install ok installed
            Version: x:1.0

            Package: huge
            Status: install ok installed
            Version: 99999999999:1.0

            Package: noversion
            Status: install ok installed

            Package: last
            Status: install ok installed
            Version: 7
            """
        let apps = GuestInspector.dpkgApplications(Array((status + "\n").utf8))
        // "last" has no blank line after it, so libguestfs never closes its stanza.
        #expect(apps.map(\.name) == ["a"])
        let a = apps[0]
        #expect(a.epoch == 1 && a.version == "2.3" && a.release == "4-5" && a.arch == "amd64")
        #expect(a.sourcePackage == "a-src" && a.url == "https://a.example")
        #expect(a.summary == "first line" && a.description == "second\n.\nthird")
    }

    @Test func hostileDpkgAndApkNeverCrash() {
        var rng = InspectRNG(seed: 42)
        for n in 0..<300 {
            let bytes = (0..<(n * 7)).map { _ -> UInt8 in
                let r = rng.next()
                return r % 5 == 0 ? 0x0A : r % 7 == 0 ? 0x3A : UInt8(truncatingIfNeeded: r >> 8)
            }
            _ = GuestInspector.dpkgApplications(bytes)
            _ = GuestInspector.apkApplications(bytes)
        }
        let apk = GuestInspector.apkApplications(Array("P:musl\nV:1.2.4-r2\nA:x86_64\nU:https://musl.libc.org/\nT:the C library\n\n".utf8))
        #expect(apk.first.map { "\($0.name) \($0.version) \($0.release) \($0.arch)" } == "musl 1.2.4 2 x86_64")
    }

    /// il, dl, entries (tag, type, offset, count), then the store.
    private func header(_ entries: [(UInt32, UInt32, UInt32, UInt32)], store: [UInt8]) -> [UInt8] {
        var b: [UInt8] = []
        func be(_ v: UInt32) { b += [UInt8(v >> 24), UInt8(truncatingIfNeeded: v >> 16), UInt8(truncatingIfNeeded: v >> 8), UInt8(truncatingIfNeeded: v)] }
        be(UInt32(entries.count)); be(UInt32(store.count))
        for e in entries { be(e.0); be(e.1); be(e.2); be(e.3) }
        return b + store
    }

    @Test func rpmHeaders() throws {
        let store = Array("foo".utf8) + [0] + Array("1.0".utf8) + [0] + Array("3".utf8) + [0, 0, 0] + [0, 0, 0, 2]
        let good = header([(1000, 6, 0, 1), (1001, 6, 4, 1), (1002, 6, 8, 1), (1003, 4, 12, 1)], store: store)
        let app = try RPMHeader(good).application()
        #expect(app.name == "foo" && app.version == "1.0" && app.release == "3" && app.epoch == 2)
        #expect(app.arch == "(none)" && app.url == "(none)")
        // Offsets past the store, strings without a terminator, absurd counts: tags are absent or the header is refused.
        let bad = header([(1000, 6, 0, 1), (1001, 6, 400, 1), (1003, 4, 6, 1)], store: Array("bar\0xy".utf8))
        let b = try RPMHeader(bad).application()
        #expect(b.version == "(none)" && b.epoch == 0)
        #expect(throws: GuestFSError.self) { try RPMHeader(header([(1001, 6, 0, 1)], store: Array("x\0".utf8))).application() }
        #expect(throws: GuestFSError.self) { try RPMHeader([0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]) }
        #expect(throws: GuestFSError.self) { try RPMHeader(Array(good.dropLast(3))) }
        var rng = InspectRNG(seed: 7)
        for _ in 0..<2000 {
            var m = good
            m[Int(rng.next() % UInt64(m.count))] = UInt8(truncatingIfNeeded: rng.next())
            _ = try? RPMHeader(m).application()
        }
    }
}

@Suite struct InspectRuleTests {
    @Test func elfArchitectures() {
        func elf(_ cls: UInt8, _ data: UInt8, _ type: UInt16, _ machine: UInt16) -> [UInt8] {
            var h = [0x7F, 0x45, 0x4C, 0x46, cls, data, 1] + [UInt8](repeating: 0, count: 57)
            let le = data == 1
            h[16] = UInt8(le ? type & 0xFF : type >> 8); h[17] = UInt8(le ? type >> 8 : type & 0xFF)
            h[18] = UInt8(le ? machine & 0xFF : machine >> 8); h[19] = UInt8(le ? machine >> 8 : machine & 0xFF)
            return h
        }
        #expect(GuestInspector.elfArchitecture(elf(2, 1, 3, 62)) == "x86_64")
        #expect(GuestInspector.elfArchitecture(elf(1, 1, 2, 3)) == "i386")
        #expect(GuestInspector.elfArchitecture(elf(2, 1, 3, 183)) == "aarch64")
        #expect(GuestInspector.elfArchitecture(elf(2, 2, 2, 21)) == "ppc64")
        #expect(GuestInspector.elfArchitecture(elf(2, 1, 2, 21)) == "ppc64le")
        #expect(GuestInspector.elfArchitecture(elf(2, 2, 2, 22)) == "s390x")
        #expect(GuestInspector.elfArchitecture(elf(2, 1, 2, 243)) == "riscv64")
        #expect(GuestInspector.elfArchitecture(elf(2, 1, 4, 62)) == nil)  // a core file
        #expect(GuestInspector.elfArchitecture(Array("#!/bin/sh\n".utf8)) == nil)
        #expect(GuestInspector.elfArchitecture([0x7F, 0x45]) == nil)
    }

    @Test func osinfoIDs() {
        #expect(GuestInspector.osinfo(type: "linux", distro: "debian", major: 12, minor: 5) == "debian12")
        #expect(GuestInspector.osinfo(type: "linux", distro: "rhel", major: 9, minor: 2) == "rhel9.2")
        #expect(GuestInspector.osinfo(type: "linux", distro: "fedora", major: 39, minor: 0) == "fedora39")
        #expect(GuestInspector.osinfo(type: "linux", distro: "ubuntu", major: 22, minor: 4) == "ubuntu22.04")
        #expect(GuestInspector.osinfo(type: "linux", distro: "centos", major: 7, minor: 9) == "centos7.0")
        #expect(GuestInspector.osinfo(type: "linux", distro: "sles", major: 15, minor: 4) == "sles15sp4")
        #expect(GuestInspector.osinfo(type: "linux", distro: "archlinux", major: 0, minor: 0) == "archlinux")
        #expect(GuestInspector.osinfo(type: "linux", distro: "unknown", major: 3, minor: 0) == nil)
        #expect(GuestInspector.osinfo(type: "linux", distro: "alpinelinux", major: 0, minor: 0) == nil)
    }

    @Test func releaseParsingHelpers() {
        var d = ReleaseData()
        func version() -> [Int]? { d.version.map { [$0.major, $0.minor] } }
        d.parseVersion("Debian 10.13 extra 4.5")
        #expect(version() == [10, 13])
        d.parseVersion("trixie/sid")
        #expect(version() == [10, 13])  // no number: unchanged
        d.parseVersion("release 7 (Core)")
        #expect(version() == [7, 0])
        #expect(ReleaseData.shellUnquote(#""a \"b\" \$c \n""#) == #"a "b" $c \n"#)
        #expect(ReleaseData.shellUnquote("'x'") == "x" && ReleaseData.shellUnquote("\"") == "\"")
        #expect(ReleaseData.distro(osReleaseID: "opensuse-leap") == "opensuse")
        #expect(ReleaseData.distro(osReleaseID: "rocky") == "rocky")
        #expect(ReleaseData.distro(osReleaseID: "almalinux") == nil)
        #expect(GuestInspector.packageManagement(distro: "rhel", major: 7, vfs: VFS()) == "yum")
        #expect(GuestInspector.packageManagement(distro: "fedora", major: 39, vfs: VFS()) == "yum")  // no /usr/bin/dnf
    }

    @Test func fstabDeviceNames() {
        #expect(GuestInspector.matchXdev("/dev/vdb2").map { [$0.disk, $0.part] } == ["b", "2"])
        #expect(GuestInspector.matchXdev("/dev/xvda").map { [$0.disk, $0.part] } == ["a", ""])
        #expect(GuestInspector.matchXdev("/dev/sda1x") == nil)
        #expect(GuestInspector.matchXdev("/dev/mapper/x") == nil)
        #expect(GuestInspector.driveIndex("a") == 0 && GuestInspector.driveIndex("z") == 25 && GuestInspector.driveIndex("aa") == 26)
        #expect(GuestInspector.canonicalPath("///usr//local//") == "/usr/local")
        #expect(GuestInspector.isRemovable("/dev/fd0") && GuestInspector.isRemovable("/dev/cdrom") && !GuestInspector.isRemovable("/dev/fdisk"))
        #expect(GuestInspector.mapperName("my-vg") == "my--vg")
        #expect(GuestInspector.driveIndex("aaaaa") == -1 && GuestInspector.driveIndex("A") == -1)
        // A hostile megabyte-long release line is searched only in its first 4 KiB, and quickly.
        let long = String(repeating: "Red Hat release ", count: 70_000)
        let start = ContinuousClock.now
        #expect(ReleaseData.match(#"Red Hat.*release (\d+).*Update (\d+)"#, long) == nil)
        #expect(ContinuousClock.now - start < .seconds(20))
    }
}

private extension String {
    var leftPad2: String { count < 2 ? "0" + self : self }
}

/// A seeded generator so hostile-input runs are reproducible.
struct InspectRNG {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}

/// An in-memory tree for the release-file rules: "path" -> file text, or "-> target" for a symlink.
struct TreeFilesystem: Filesystem {
    struct Node: Sendable { var type: FileType; var data: [UInt8]; var children: [[UInt8]: UInt64] }
    var nodes: [Node] = [Node(type: .directory, data: [], children: [:])]
    var typeName: String { "ext4" }
    var rootInode: UInt64 { 0 }

    init(_ files: [String: String]) {
        for (path, text) in files.sorted(by: { $0.key < $1.key }) {
            var dir: UInt64 = 0
            let parts = path.split(separator: "/").map { Array($0.utf8) }
            for (i, name) in parts.enumerated() {
                if let next = nodes[Int(dir)].children[name] { dir = next; continue }
                let last = i == parts.count - 1
                let link = last && text.hasPrefix("-> ")
                let node = Node(type: !last ? .directory : link ? .symlink : text == "/" ? .directory : .regular,
                                data: last ? Array((link ? String(text.dropFirst(3)) : text).utf8) : [], children: [:])
                nodes.append(node)
                nodes[Int(dir)].children[name] = UInt64(nodes.count - 1)
                dir = UInt64(nodes.count - 1)
            }
        }
    }

    func node(_ i: UInt64) throws(GuestFSError) -> Node {
        guard i < UInt64(nodes.count) else { throw GuestFSError("no inode \(i)") }
        return nodes[Int(i)]
    }
    func stat(_ inode: UInt64) throws(GuestFSError) -> FileStat {
        let n = try node(inode)
        let mode: UInt32 = n.type == .directory ? 0o040755 : n.type == .symlink ? 0o120777 : 0o100644
        let t = FileTime(seconds: 0)
        return FileStat(inode: inode, type: n.type, mode: mode, nlink: 1, uid: 0, gid: 0, size: UInt64(n.data.count),
                        blocks: 0, atime: t, mtime: t, ctime: t, rdev: 0)
    }
    func readdir(_ inode: UInt64) throws(GuestFSError) -> [DirEntry] {
        try node(inode).children.map { DirEntry(nameBytes: $0.key, inode: $0.value, type: nodes[Int($0.value)].type) }
    }
    func lookup(_ directory: UInt64, name: [UInt8]) throws(GuestFSError) -> UInt64? { try node(directory).children[name] }
    func read(_ inode: UInt64, at offset: UInt64, count: Int) throws(GuestFSError) -> [UInt8] {
        let d = try node(inode).data
        guard offset < UInt64(d.count) else { return [] }
        return Array(d[Int(offset)..<min(d.count, Int(offset) + count)])
    }
    func readlink(_ inode: UInt64) throws(GuestFSError) -> [UInt8] { try node(inode).data }
    func statfs() throws(GuestFSError) -> FilesystemUsage {
        FilesystemUsage(blockSize: 4096, blocks: 0, freeBlocks: 0, availableBlocks: 0, files: 0, freeFiles: 0)
    }
}

@Suite struct ReleaseRuleTests {
    /// Inspects a tree that has libguestfs's minimum Linux root (/etc, /bin, /etc/fstab) plus `files`.
    private func os(_ files: [String: String]) throws -> InspectedOS {
        var vfs = VFS()
        vfs.mount(TreeFilesystem(["etc/fstab": "", "bin": "/"].merging(files) { $1 }), at: "/")
        let disks = try GuestDisks.open([(try ImageFixtures.path("mbr.raw"), nil)])
        #expect(GuestInspector.isLinuxRoot(vfs) == (files["grub2/grub.cfg"] == nil))
        return GuestInspector(disks: disks).inspectLinuxRoot(vfs, device: "/dev/sda1", all: [])
    }

    private func summary(_ o: InspectedOS) -> String {
        "\(o.distro) \(o.majorVersion).\(o.minorVersion) [\(o.productName)] \(o.packageFormat ?? "-")/\(o.packageManagement ?? "-") \(o.osinfo ?? "-") \(o.hostname ?? "-")"
    }

    @Test func distributions() throws {
        #expect(summary(try os(["etc/os-release": "ID=ubuntu\nVERSION_ID=\"22.04\"\nPRETTY_NAME=\"Ubuntu 22.04.3 LTS\"\n"]))
                == "ubuntu 22.4 [Ubuntu 22.04.3 LTS] deb/apt ubuntu22.04 -")
        // CentOS 7's os-release has only "7": centos-release gives 7.9; osinfo is centos7.0.
        #expect(summary(try os(["etc/os-release": "ID=\"centos\"\nVERSION_ID=\"7\"\nPRETTY_NAME=\"CentOS Linux 7 (Core)\"\n",
                                "etc/centos-release": "CentOS Linux release 7.9.2009 (Core)\n",
                                "etc/hostname": "\n", "etc/HOSTNAME": "c7.example.com\n"]))
                == "centos 7.9 [CentOS Linux release 7.9.2009 (Core)] rpm/yum centos7.0 c7.example.com")
        #expect(summary(try os(["etc/os-release": "ID=fedora\nVERSION_ID=39\nPRETTY_NAME=\"Fedora Linux 39 (Server Edition)\"\n",
                                "usr/bin/dnf": "-> dnf-3", "usr/bin/dnf-3": "#!/usr/bin/python3\n"]))
                == "fedora 39.0 [Fedora Linux 39 (Server Edition)] rpm/dnf fedora39 -")
        #expect(summary(try os(["etc/os-release": "ID=alpine\nVERSION_ID=3.18.4\nPRETTY_NAME=\"Alpine Linux v3.18\"\n",
                                "etc/alpine-release": "3.18.4\n"]))
                == "alpinelinux 3.18 [Alpine Linux v3.18] apk/apk alpinelinux3.18 -")
        #expect(summary(try os(["etc/os-release": "ID=arch\nPRETTY_NAME=\"Arch Linux\"\n"]))
                == "archlinux 0.0 [Arch Linux] pacman/pacman archlinux -")
        // No os-release: redhat-release decides, the hostname comes from sysconfig/network.
        #expect(summary(try os(["etc/redhat-release": "Red Hat Enterprise Linux Server release 6.10 (Santiago)\n",
                                "etc/sysconfig/network": "NETWORKING=yes\nHOSTNAME=\"rhel6.example.com\"\n"]))
                == "rhel 6.10 [Red Hat Enterprise Linux Server release 6.10 (Santiago)] rpm/yum rhel6.10 rhel6.example.com")
        #expect(summary(try os(["etc/redhat-release": "Acme OS release x\n"]))
                == "redhat-based 0.0 [Acme OS release x] rpm/- - -")
        #expect(summary(try os(["etc/lsb-release": "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=10.04\nDISTRIB_DESCRIPTION=\"Ubuntu 10.04.1 LTS\"\n"]))
                == "ubuntu 10.4 [Ubuntu 10.04.1 LTS] deb/apt ubuntu10.04 -")
        // Debian testing: no version anywhere.
        #expect(summary(try os(["etc/os-release": "ID=debian\nPRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\n",
                                "etc/debian_version": "trixie/sid\n"]))
                == "debian 0.0 [trixie/sid] deb/apt - -")
        // An unknown ID with nothing else to go on.
        #expect(summary(try os(["etc/os-release": "ID=almalinux\nVERSION_ID=9.3\nPRETTY_NAME=\"AlmaLinux 9.3\"\n"]))
                == "unknown 9.3 [AlmaLinux 9.3] -/- - -")
    }

    @Test func rootRules() throws {
        // A grub /boot is not a root even with /etc; a /bin link elsewhere than usr/bin is not either.
        _ = try os(["grub2/grub.cfg": ""])
        var vfs = VFS()
        vfs.mount(TreeFilesystem(["etc/hosts": "", "bin": "-> /usr/bin", "usr/bin/ls": ""]), at: "/")
        #expect(!GuestInspector.isLinuxRoot(vfs))
        vfs.mount(TreeFilesystem(["etc/hosts": "", "bin": "-> usr/bin", "usr/bin/ls": ""]), at: "/")
        #expect(GuestInspector.isLinuxRoot(vfs))
        // Architecture through the /bin link and a dangling /bin/bash.
        vfs.mount(TreeFilesystem(["etc/hosts": "", "bin": "-> usr/bin", "usr/bin/bash": "-> nowhere",
                                  "usr/bin/ls": String(decoding: [0x7F, 0x45, 0x4C, 0x46, 2, 1, 1] + [UInt8](repeating: 0, count: 9)
                                                       + [3, 0, 62, 0] + [UInt8](repeating: 0, count: 44), as: UTF8.self)]), at: "/")
        #expect(GuestInspector.architecture(vfs) == "x86_64")
    }
}
