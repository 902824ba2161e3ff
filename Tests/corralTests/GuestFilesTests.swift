import Foundation
import Testing
@testable import corral
import GuestFS

// `corral guest ls/cat/copy-out/tar-out` run as processes on the files fixture
// (scripts/guest-images.d/25-files.sh): a Linux-looking ext4 on /dev/sda1 of files.raw.

enum GuestFileFixtures {
    static var dir: Result<String, any Error> { GuestImages.dir }

    static func path(_ name: String) throws -> String { try dir.get() + "/" + name }
}

/// Runs a host tool (tar, sha256sum) and returns its stdout.
private func host(_ tool: String, _ args: [String], cwd: String? = nil) throws -> (status: Int32, out: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [tool] + args
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    let pipe = Pipe()
    p.standardOutput = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

private func tempDir(_ tag: String) throws -> String {
    let d = FileManager.default.temporaryDirectory.appendingPathComponent("corral-\(tag)-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
}

@Suite struct GuestLsTests {
    func guest(_ args: String...) throws -> CLI.Result {
        try CLI.run(["guest"] + args.map { $0 == "IMG" ? (try? GuestFileFixtures.path("files.raw")) ?? "" : $0 },
                    env: ["TZ": "UTC"], timeout: 60)
    }

    @Test func plainNamesSortedAsBytes() throws {
        let r = try guest("ls", "-a", "IMG", "/")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == """
            -dash
            bin
            comma,"quote".txt
            deep
            dev
            empty
            etc
            hard
            hello.txt
            home
            links
            lost+found
            many
            modes
            sparse.img
            usr
            with space.txt
            ünïcödé – 日本.txt

            """)
        let many = try guest("ls", "-a", "IMG", "/many")
        #expect(many.out.split(separator: "\n").count == 3000)
        #expect(many.out.hasPrefix("file0000\nfile0001\n"))
    }

    /// Expected text is virt-ls 1.48's own output on this fixture.
    @Test func recursiveLongMatchesVirtLs() throws {
        let r = try guest("ls", "-a", "IMG", "-lR", "/links", "/modes", "/dev", "/hard/")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == """
            d 0755       4096 /links
            l 0777         15 /links/absolute -> /etc/os-release
            l 0777         15 /links/dangling -> /no/such/target
            l 0777         30 /links/escape -> ../../../../../../etc/hostname
            l 0777          6 /links/loop-a -> loop-b
            l 0777          6 /links/loop-b -> loop-a
            l 0777         12 /links/relative -> ../hello.txt
            l 0777          4 /links/self -> self
            l 0777          7 /links/todir -> ../many
            d 0755       4096 /modes
            - 0000          5 /modes/none
            - 0600          8 /modes/private
            - 2711          7 /modes/setgid
            - 4755          7 /modes/setuid
            d 1777       4096 /modes/sticky
            d 0755       4096 /dev
            c 0600          0 /dev/big
            p 0644          0 /dev/fifo
            c 0666          0 /dev/null
            b 0660          0 /dev/sda1
            s 0755          0 /dev/socket
            d 0755       4096 /hard
            - 0644         23 /hard/a
            - 0644         23 /hard/b
            - 0644         23 /hard/c

            """)
    }

    /// `ls -la` as guestfs_ll runs it in the appliance; the text is virt-ls's own output.
    @Test func longListingLikeLsLa() throws {
        let r = try guest("ls", "-a", "IMG", "-l", "/home/user")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == """
            total 312
            drwxr-xr-x 2 1000 1000   4096 Mar  4  2021 .
            drwxr-xr-x 3    0    0   4096 Mar  4  2021 ..
            -rw-r--r-- 1 1000 1000 307200 Mar  4  2021 blob.bin
            -rw-r--r-- 1 1000 1000     14 Mar  4  2021 notes.txt

            """)
        let dev = try guest("ls", "-a", "IMG", "-l", "/dev")
        #expect(dev.out.contains("crw-------  1 0 0 300, 70000 Mar  4  2021 big\n"), "\(dev.out)")
        #expect(dev.out.contains("brw-rw----  1 0 0   8,     1 Mar  4  2021 sda1\n"), "\(dev.out)")
    }

    @Test func csvUidsTimesExtraStats() throws {
        let r = try guest("ls", "-a", "IMG", "-lR", "--csv", "--uids", "--time-t", "--extra-stats", "/")
        #expect(r.status == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.count == 3089)
        // CSV quoting of spaces, commas and quotes; uid/gid padded to 4 as virt-ls does.
        #expect(lines.contains { $0.hasPrefix("-,0644,4,   0,   0,1614834367,1614834367,") && $0.hasSuffix(",\"/comma,\"\"quote\"\".txt\"") })
        #expect(lines.contains { $0.hasSuffix(",\"/with space.txt\"") })
        // Extra stats: st_dev of /dev/sda1 is 8:1 in the appliance; rdev of the devices.
        let big = try #require(lines.first { $0.hasSuffix(",/dev/big") })
        let f = big.split(separator: ",").map(String.init)
        #expect(f[0] == "c" && f[1] == "0600" && f[2] == "0" && f[3] == "   0" && f[8] == "8:1" && f[10] == "1" && f[11] == "300:70000", "\(big)")
        #expect(lines.contains { $0.hasPrefix("d,0755,4096,1000,1000,") && $0.hasSuffix(",/home/user") })
        #expect(lines.contains { $0.hasPrefix("l,0777,12,") && $0.hasSuffix(",/links/relative,../hello.txt") })
        // Hard links: nlink 3.
        #expect(lines.contains { $0.contains(",3,0:0,") && $0.hasSuffix(",/hard/b") })
    }

    @Test func humanSizesAndChecksums() throws {
        let r = try guest("ls", "-a", "IMG", "-lRh", "/home", "/sparse.img", "/hello.txt")
        #expect(r.out.contains("- 0644       300K /home/user/blob.bin\n"), "\(r.out)")
        #expect(r.out.contains("- 0644       1.0G /sparse.img\n"), "\(r.out)")
        let sha = try guest("ls", "-a", "IMG", "-lR", "--checksum=sha256", "/hard")
        #expect(sha.out.contains("- 0644         23 4ec7cf151bdccf6dfeac3b56621de673bd7bdf11f8d56ac9830d082b29e66fb2 /hard/c\n"), "\(sha.out)")
        // A bare --checksum is md5 and does not swallow the next word.
        let md5 = try guest("ls", "-a", "IMG", "-lR", "--checksum", "/etc")
        #expect(md5.status == 0, "\(md5.err)")
        #expect(md5.out.contains("d 0755       4096 /etc\n"))
        let hello = try guest("ls", "-a", "IMG", "-lR", "--csv", "--checksum", "/links")
        #expect(hello.out.contains("l,0777,12,,/links/relative,../hello.txt\n"), "\(hello.out)")
    }

    @Test func recursiveNamesSortedAsPaths() throws {
        let r = try guest("ls", "-a", "IMG", "-R", "/home", "/links/todir")
        #expect(r.status == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n")
        #expect(lines.prefix(3) == ["/user", "/user/blob.bin", "/user/notes.txt"])
        #expect(lines.count == 3 + 3000)
    }

    @Test func flagsNeedLR() throws {
        let r = try guest("ls", "-a", "IMG", "--csv", "/")
        #expect(r.status != 0)
        #expect(r.err.contains("used a flag which can only be combined with -lR mode"))
        #expect(try guest("ls", "-a", "IMG", "-lR", "-h", "--csv", "/").err.contains("you cannot use -h and --csv options together"))
    }

    @Test func errors() throws {
        let missing = try guest("ls", "-a", "IMG", "/nosuch", "/empty")
        #expect(missing.status == 1)
        #expect(missing.err.contains("/nosuch: no such file or directory"), "\(missing.err)")
        let noOS = try guest("ls", "-a", GuestFileFixtures.path("noos.raw"), "/")
        #expect(noOS.status == 1)
        #expect(noOS.err.contains("no operating system was found on this disk"), "\(noOS.err)")
        #expect(noOS.out == "")
        let multi = try guest("ls", "-a", "IMG", "-a", GuestFileFixtures.path("files.qcow2"), "/")
        #expect(multi.status == 1)
        #expect(multi.err.contains("multi-boot operating systems are not supported"), "\(multi.err)")
        let bogus = try tempDir("bogus") + "/not-an-image"
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: bogus))
        let bad = try guest("ls", "-a", bogus, "/")
        #expect(bad.status == 1 && !bad.err.isEmpty)
        let noImage = try guest("ls", "-a", "/nonexistent.img", "/")
        #expect(noImage.status == 1 && noImage.err.contains("/nonexistent.img"), "\(noImage.err)")
    }

    @Test func explicitMounts() throws {
        let noOS = try guest("ls", "-a", GuestFileFixtures.path("noos.raw"), "-m", "/dev/sda", "/data")
        #expect(noOS.status == 0, "\(noOS.err)")
        #expect(noOS.out == "file.txt\n")
        // The second filesystem mounted on a directory of the first.
        let mbr = try GuestFileFixtures.path("mbr.raw")
        let r = try guest("ls", "-a", mbr, "-m", "/dev/sda1", "-m", "/dev/sda5:/data", "-lR", "/data")
        #expect(r.status == 0, "\(r.err)")
        // sda5's own data/blob.bin shows; sda1's /data/blob.bin is hidden under the mount.
        #expect(r.out.contains(" /data/hello.txt\n") && r.out.contains(" /data/data/blob.bin\n") && !r.out.contains(" /data/blob.bin\n"), "\(r.out)")
        let noPoint = try guest("ls", "-a", mbr, "-m", "/dev/sda1", "-m", "/dev/sda5:/nowhere", "/")
        #expect(noPoint.status == 1 && noPoint.err.contains("mount point does not exist"))
        let noDevice = try guest("ls", "-a", mbr, "-m", "/dev/sda9", "/")
        #expect(noDevice.status == 1 && noDevice.err.contains("/dev/sda9"))
    }

    /// -d reads a domain's disks (a qcow2 overlay of the fixture) through the QEMU driver.
    @Test func domainDisks() throws {
        let root = try tempDir("guest-d")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let xml = root + "/g.xml"
        try """
            <domain type='kvm'><name>filesguest</name><memory unit='MiB'>64</memory>
              <os><type arch='x86_64'>hvm</type></os>
              <devices><disk type='file' device='disk'><driver name='qemu' type='qcow2'/>
                <source file='\(try GuestFileFixtures.path("files.qcow2"))'/><target dev='vda' bus='virtio'/></disk></devices>
            </domain>
            """.write(toFile: xml, atomically: true, encoding: .utf8)
        let uri = "qemu:///embed?root=\(root)/state"
        #expect(try CLI.run(["-c", uri, "define", xml]).status == 0)
        let r = try CLI.run(["-c", uri, "guest", "ls", "-d", "filesguest", "/etc"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == "fstab\nhostname\nhosts\nos-release\n")
    }

    /// One comparison with the real tool on a whole tree; slow (an appliance boot), skipped without it.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/virt-ls")))
    func sameAsRealVirtLs() throws {
        let image = try GuestFileFixtures.path("files.raw")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/virt-ls")
        p.arguments = ["--format=raw", "-a", image, "-lR", "--uids", "--time-t", "/"]
        p.environment = ["LIBGUESTFS_BACKEND": "direct", "LIBGUESTFS_BACKEND_SETTINGS": "force_tcg", "TZ": "UTC",
                         "PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": NSTemporaryDirectory()]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        try p.run()
        let real = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        try #require(p.terminationStatus == 0, "virt-ls failed")
        let ours = try guest("ls", "-a", "IMG", "--format=raw", "-lR", "--uids", "--time-t", "/")
        #expect(ours.out == real)
    }
}

@Suite struct GuestCatTests {
    @Test func catFilesFollowingLinksInsideTheGuest() throws {
        let img = try GuestFileFixtures.path("files.raw")
        let r = try CLI.run(["guest", "cat", "-a", img, "/hello.txt", "/links/relative", "/links/escape"])
        #expect(r.status == 0, "\(r.err)")
        // escape -> ../../../../../../etc/hostname stays inside the guest.
        #expect(r.out == "hello, files\nhello, files\nfilesguest\n")
    }

    @Test func missingFileIsReportedAndOthersStillPrinted() throws {
        let img = try GuestFileFixtures.path("files.raw")
        let r = try CLI.run(["guest", "cat", "-a", img, "/nosuch", "/etc/hostname", "/links/loop-a", "/etc"])
        #expect(r.status == 1)
        #expect(r.out == "filesguest\n")
        #expect(r.err.contains("/nosuch: no such file or directory"), "\(r.err)")
        #expect(r.err.contains("/links/loop-a: too many levels of symbolic links"), "\(r.err)")
        #expect(r.err.contains("/etc: not a regular file"), "\(r.err)")
    }

    @Test func bigFileStreams() throws {
        let img = try GuestFileFixtures.path("files.raw")
        let r = try CLI.run(["guest", "cat", "-a", img, "/home/user/blob.bin"])
        #expect(r.status == 0)
        #expect(r.out.utf8.count > 0)
        let dir = try tempDir("cat")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try CLI.run(["guest", "copy-out", "-a", img, "/home/user/blob.bin", dir]).status == 0)
        let copied = try Data(contentsOf: URL(fileURLWithPath: dir + "/blob.bin"))
        #expect(copied.count == 307200)
        #expect(try host("md5sum", [dir + "/blob.bin"]).out.prefix(32) == GuestChecksum.digest(.md5, [UInt8](copied)))
    }
}

@Suite struct GuestCopyOutTests {
    @Test func treeWithModesTimesAndSymlinks() throws {
        let img = try GuestFileFixtures.path("files.raw")
        let dir = try tempDir("copyout")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try CLI.run(["guest", "copy-out", "-a", img, "/links", "/modes", "/hard", "/dev", "/home", "/hello.txt", dir])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.contains("warning: /dev/null: characterDevice not copied"))
        let fm = FileManager.default
        func attrs(_ p: String) throws -> [FileAttributeKey: Any] { try fm.attributesOfItem(atPath: dir + "/" + p) }
        #expect(try fm.destinationOfSymbolicLink(atPath: dir + "/links/escape") == "../../../../../../etc/hostname")
        #expect(try fm.destinationOfSymbolicLink(atPath: dir + "/links/absolute") == "/etc/os-release")
        #expect(try fm.destinationOfSymbolicLink(atPath: dir + "/links/self") == "self")
        #expect(try attrs("modes/setuid")[.posixPermissions] as? Int == (geteuid() == 0 ? 0o4755 : 0o755))
        #expect(try attrs("modes/sticky")[.posixPermissions] as? Int == (geteuid() == 0 ? 0o1777 : 0o777))
        #expect(try attrs("modes/none")[.posixPermissions] as? Int == 0)
        #expect(try attrs("hard/a")[.modificationDate] as? Date == Date(timeIntervalSince1970: 1614834367))
        #expect(try attrs("modes")[.modificationDate] as? Date == Date(timeIntervalSince1970: 1614834367))
        #expect(try attrs("hello.txt")[.modificationDate] as? Date == Date(timeIntervalSince1970: 946684800))
        var fifo = stat()
        #expect(lstat(dir + "/dev/fifo", &fifo) == 0 && fifo.st_mode & S_IFMT == S_IFIFO)
        #expect(!fm.fileExists(atPath: dir + "/dev/null"))
        #expect(try String(contentsOfFile: dir + "/hard/c", encoding: .utf8) == "one inode, three names\n")
        if geteuid() == 0 { #expect(try attrs("home/user/notes.txt")[.ownerAccountID] as? Int == 1000) }
        // Copying again over the first copy replaces files and symlinks without following them.
        let again = try CLI.run(["guest", "copy-out", "-a", img, "/links", dir])
        #expect(again.status == 0, "\(again.err)")
    }

    @Test func rootCopiesContentsAndRefusesBadTarget() throws {
        let img = try GuestFileFixtures.path("files.raw")
        let dir = try tempDir("copyroot")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A host symlink named like a guest directory is not followed out of LOCALDIR.
        let outside = try tempDir("outside")
        defer { try? FileManager.default.removeItem(atPath: outside) }
        try FileManager.default.createSymbolicLink(atPath: dir + "/etc", withDestinationPath: outside)
        let r = try CLI.run(["guest", "copy-out", "-a", img, "/etc", "/usr", dir])
        #expect(r.status == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
        #expect(FileManager.default.fileExists(atPath: dir + "/usr/bin"))
        let notDir = try CLI.run(["guest", "copy-out", "-a", img, "/etc", dir + "/usr/nonexistent"])
        #expect(notDir.status == 1 && notDir.err.contains("is not a directory"))
        let special = try CLI.run(["guest", "copy-out", "-a", img, "/dev/null", dir])
        #expect(special.status == 1 && special.err.contains("is not a file or directory"))
    }

    @Test func unsafeNamesAreRefused() {
        #expect(HostTreeWriter.safeName(Array("ok name".utf8)))
        for bad in ["", ".", "..", "a/b", "../x", "a\u{0}b"] {
            #expect(!HostTreeWriter.safeName(Array(bad.utf8)), "\(bad)")
        }
    }
}

@Suite struct GuestTarOutTests {
    @Test func tarListsLikeGNUTar() throws {
        let img = try GuestFileFixtures.path("files.raw")
        let dir = try tempDir("tarout")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try CLI.run(["guest", "tar-out", "-a", img, "/links", dir + "/links.tar"])
        #expect(r.status == 0, "\(r.err)")
        let list = try host("tar", ["--numeric-owner", "-tvf", dir + "/links.tar"], cwd: dir)
        #expect(list.status == 0)
        #expect(list.out.contains("./escape -> ../../../../../../etc/hostname"), "\(list.out)")
        #expect(list.out.hasPrefix("drwxr-xr-x 0/0               0 2021-03-04 05:06 ./\n"), "\(list.out)")

        let all = try CLI.run(["guest", "tar-out", "-a", img, "/dev", "-"])
        #expect(all.err.contains("warning: /dev/socket: socket ignored"))
        try Data(all.out.utf8).write(to: URL(fileURLWithPath: dir + "/dev.tar"))
        let devs = try host("tar", ["--numeric-owner", "-tvf", dir + "/dev.tar"])
        #expect(devs.out.contains("crw------- 0/0       300,70000 2021-03-04 05:06 ./big"), "\(devs.out)")
        #expect(devs.out.contains("brw-rw---- 0/0             8,1 2021-03-04 05:06 ./sda1"), "\(devs.out)")
        #expect(devs.out.contains("prw-r--r-- 0/0               0 2021-03-04 05:06 ./fifo"), "\(devs.out)")
    }

    @Test func extractionRestoresContentsAndHardLinks() throws {
        let img = try GuestFileFixtures.path("files.raw")
        let dir = try tempDir("tarx")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for sub in ["/hard", "/deep", "/home", "/modes"] {
            let tarfile = dir + "\(sub).tar.gz"
            #expect(try CLI.run(["guest", "tar-out", "-a", img, "--gzip", sub, tarfile]).status == 0)
            try FileManager.default.createDirectory(atPath: dir + sub, withIntermediateDirectories: true)
            #expect(try host("tar", ["-xzf", tarfile, "-C", dir + sub]).status == 0)
        }
        let a = try FileManager.default.attributesOfItem(atPath: dir + "/hard/a")
        let c = try FileManager.default.attributesOfItem(atPath: dir + "/hard/c")
        #expect(a[.systemFileNumber] as? Int == c[.systemFileNumber] as? Int)
        #expect(a[.referenceCount] as? Int == 3)
        let deep = (1...40).map { "level\($0)" }.joined(separator: "/")
        #expect(try String(contentsOfFile: dir + "/deep/" + deep + "/bottom.txt", encoding: .utf8) == "bottom\n")
        let blob = try Data(contentsOf: URL(fileURLWithPath: dir + "/home/user/blob.bin"))
        #expect(blob.count == 307200)
        #expect(try FileManager.default.attributesOfItem(atPath: dir + "/modes/setgid")[.posixPermissions] as? Int == 0o2711)
    }

    @Test func longNamesUsePax() throws {
        var sinkData: [UInt8] = []
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("corral-pax-\(UUID().uuidString.prefix(8)).tar").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        let sink = try ByteSink(fd: fd, gzip: false)
        let tar = TarWriter(sink: sink)
        let long = "./" + String(repeating: "d", count: 120) + "/" + String(repeating: "ü", count: 90)
        try tar.write(TarWriter.Header(name: Array(long.utf8), mode: 0o644, uid: 5_000_000, gid: 0, size: 0,
                                       mtime: FileTime(seconds: -86400)))
        try tar.finish()
        try sink.close()
        close(fd)
        sinkData = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(sinkData.count % 10240 == 0)
        let list = try host("tar", ["--numeric-owner", "--full-time", "-tvf", path])
        #expect(list.out.contains("5000000/0"), "\(list.out)")
        #expect(list.out.contains("1969-12-31"), "\(list.out)")
        #expect(list.out.contains(long), "\(list.out)")
    }
}

/// hostile.raw: /cycle/b/up is a hard link to /cycle, /names holds an entry named "a/b".
@Suite struct GuestHostileTreeTests {
    @Test func cyclesAreReportedNotFollowed() throws {
        let img = try GuestFileFixtures.path("hostile.raw")
        let r = try CLI.run(["guest", "ls", "-a", img, "-m", "/dev/sda", "-lR", "/cycle"], timeout: 30)
        #expect(r.status == 1)
        #expect(r.out.split(separator: "\n").count == 4, "\(r.out)")
        #expect(r.err.contains("/cycle/b/up: directory cycle"), "\(r.err)")
    }

    @Test func slashInANameNeverLeavesTheTarget() throws {
        let img = try GuestFileFixtures.path("hostile.raw")
        let dir = try tempDir("hostile")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try CLI.run(["guest", "copy-out", "-a", img, "-m", "/dev/sda", "/names", "/cycle", dir], timeout: 30)
        #expect(r.status == 1)
        #expect(r.err.contains("/names/a/b: unusable file name, skipped"), "\(r.err)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/names") == ["ok"])
        #expect(try String(contentsOfFile: dir + "/cycle/b/f", encoding: .utf8) == "inside\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/cycle/b/up").isEmpty)
        let tar = try CLI.run(["guest", "tar-out", "-a", img, "-m", "/dev/sda", "/names", dir + "/n.tar"], timeout: 30)
        #expect(tar.status == 1)
        #expect(try host("tar", ["-tf", dir + "/n.tar"]).out == "./\n./ok\n")
    }
}

@Suite struct GuestDigestTests {
    @Test func knownVectors() {
        let abc = Array("abc".utf8)
        #expect(GuestChecksum.digest(.md5, []) == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(GuestChecksum.digest(.md5, abc) == "900150983cd24fb0d6963f7d28e17f72")
        #expect(GuestChecksum.digest(.sha1, abc) == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(GuestChecksum.digest(.sha224, abc) == "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7")
        #expect(GuestChecksum.digest(.sha256, abc) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(GuestChecksum.digest(.sha384, abc) == "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7")
        #expect(GuestChecksum.digest(.sha512, abc) == "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
        // cksum of "abc": 1219131554.
        #expect(GuestChecksum.digest(.crc, abc) == "1219131554")
    }

    @Test func streamingAcrossBlockBoundaries() {
        let million = [UInt8](repeating: 0x61, count: 1_000_000)
        var d = SHA256(is224: false)
        var i = 0
        var step = 1
        while i < million.count {
            let n = min(step, million.count - i)
            d.update(Array(million[i..<i + n]))
            i += n; step = step * 3 % 1000 + 1
        }
        #expect(GuestChecksum.hex(d.finish()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        #expect(GuestChecksum.digest(.md5, million) == "7707d6ae4e027c70eea2a935c2296f21")
        #expect(GuestChecksum.digest(.sha1, million) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    @Test func humanReadableSizes() {
        #expect(HumanSize.format(0) == "0")
        #expect(HumanSize.format(1023) == "1023")
        #expect(HumanSize.format(1024) == "1.0K")
        #expect(HumanSize.format(1536) == "1.5K")
        #expect(HumanSize.format(10 * 1024 - 1) == "10K")
        #expect(HumanSize.format(307200) == "300K")
        #expect(HumanSize.format(1 << 30) == "1.0G")
        #expect(HumanSize.format(1_048_575) == "1.0M")
    }
}
