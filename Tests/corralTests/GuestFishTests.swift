import Foundation
import Testing

// `corral guest fish` (the built binary) on fish.raw (scripts/guest-images.d/60-fish.sh): expected
// outputs are those of guestfish 1.48 (libguestfs) on the same image, recorded once; two tests run
// the real guestfish when it is installed.

private enum FishFixtures {
    static var dir: Result<String, any Error> { GuestImages.dir }

    static func path(_ name: String) throws -> String { try dir.get() + "/" + name }

    /// `corral guest fish -a fish.raw OPTIONS... ARGS...` with `stdin`.
    static func fish(_ args: [String], image: String = "fish.raw", stdin: String? = nil) throws -> CLI.Result {
        try CLI.run(["guest", "fish", "-a", path(image)] + args, stdin: stdin ?? "", timeout: 60)
    }

    /// A script on stdin against the inspected and mounted guest.
    static func script(_ text: String) throws -> CLI.Result { try fish(["-i"], stdin: text) }
}

@Suite struct GuestFishOutputTests {
    @Test func devicesAndFilesystems() throws {
        let r = try FishFixtures.script("""
            # comments and blank lines are skipped
              # also when indented

            list-devices
            list-partitions
            list-filesystems
            vfs-type /dev/sda1
            vfs-label /dev/sda1
            vfs-uuid /dev/sda1
            vfs-label /dev/sda
            blockdev-getsize64 /dev/sda
            blockdev-getsize64 /dev/sda2
            mounts
            mountpoints
            """)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err == "")
        #expect(r.out == """
            /dev/sda
            /dev/sda1
            /dev/sda2
            /dev/sda1: ext4
            /dev/sda2: ext4
            ext4
            fishroot
            0f15e000-0000-4000-8000-00000000f150

            16777216
            4194304
            /dev/sda1
            /dev/sda2
            /dev/sda1: /
            /dev/sda2: /boot

            """)
    }

    @Test func filesAndLines() throws {
        let r = try FishFixtures.script("""
            ls /data
            cat /etc/motd
            cat /data/nonl.txt
            cat "/data/with space.txt"
            cat /var/log/empty.log
            head-n 2 /data/lines.txt
            head-n -23 /data/lines.txt
            head-n 0 /data/lines.txt
            tail-n 2 /data/lines.txt
            tail-n -24 /data/lines.txt
            tail-n +1 /data/lines.txt
            tail-n 2 /data/nonl.txt
            readlink /etc/motd.link
            readlink /bin
            filesize /data/lines.txt
            filesize /etc
            du /data
            du /usr/bin
            du /var/log/empty.log
            download /etc/hostname -
            """)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == """
            lines.gz
            lines.txt
            nonl.txt
            random.bin
            with space.txt
            Welcome to the fish test guest.

            no newline at the end
            spaced out


            line 1
            line 2
            line 1
            line 2
            line 24
            line 25
            line 24
            line 25
            line 25
            no newline at the end
            /etc/motd
            usr/bin
            191
            1024
            9
            147
            0
            fishhost

            """)
    }

    @Test func hexdumpLikeHexdumpC() throws {
        let r = try FishFixtures.script("hexdump /data/nonl.txt\nhexdump /var/log/empty.log\n")
        #expect(r.out == """
            00000000  6e 6f 20 6e 65 77 6c 69  6e 65 20 61 74 20 74 68  |no newline at th|
            00000010  65 20 65 6e 64                                    |e end|
            00000015



            """)
    }

    @Test func headAndTailDefaults() throws {
        let r = try FishFixtures.script("head /data/lines.txt\ntail /data/lines.txt\n")
        #expect(r.out == (1...10).map { "line \($0)\n" }.joined() + (16...25).map { "line \($0)\n" }.joined())
    }

    @Test func predicates() throws {
        let r = try FishFixtures.script("""
            is-file /etc/motd
            is-file /etc/motd.link
            is-file /etc/motd.link followsymlinks:true
            is-dir /bin
            is-dir /bin followsymlinks:true
            is-dir /nope
            exists /nope
            exists /etc/dangling
            is-symlink /bin
            """)
        #expect(r.out == "true\nfalse\ntrue\nfalse\ntrue\nfalse\nfalse\ntrue\ntrue\n")
    }

    @Test func findIsRelativeAndSorted() throws {
        let r = try FishFixtures.script("find /usr\nfind /boot/\n")
        #expect(r.out == """
            /bin
            /bin/dir
            /bin/hello.sh
            /bin/ls
            /bin/suid
            /lib
            config-6.1.0
            grub
            grub/grub.cfg
            lost+found

            """)
        // find / crosses into the /boot mount.
        let all = try FishFixtures.script("find /\n").out.split(separator: "\n")
        #expect(all.contains("boot/grub/grub.cfg") && all.contains("usr/bin/suid") && all.count == 44)
    }

    @Test func longListings() throws {
        let r = try FishFixtures.script("ll /data\nll /dev\nll /bin\nll /var\nll /home\nll /etc/motd.link\n")
        #expect(r.status == 0, "\(r.err)")
        // Appliance root ("..") differs, the rest is what guestfish printed for these directories.
        let dotdot = #"drwxr-xr-x 13 0 0 1024 [A-Z][a-z]{2} [ 0-9]\d [ 0-9]\d:\d\d \.\.\n"#
        let expected = [
            "total 10\ndrwxr-xr-x  2 0 0 1024 Mar  1  2024 .\n", dotdot,
            """
            -rw-r--r--  1 0 0   87 Mar  1  2024 lines.gz
            -rw-r--r--  1 0 0  191 Mar  1  2024 lines.txt
            -rw-r--r--  1 0 0   21 Mar  1  2024 nonl.txt
            -rw-r--r--  1 0 0 4096 Mar  1  2024 random.bin
            -rw-r--r--  1 0 0   11 Mar  1  2024 with space.txt


            """,
            "total 2\ndrwxr-xr-x  2 0 0 1024 Mar  1  2024 .\n", dotdot,
            """
            crw-rw-rw-  1 0 0 1, 3 Mar  1  2024 null
            brw-rw----  1 0 0 8, 0 Mar  1  2024 sda


            """,
            """
            total 292
            drwxr-xr-x 2 0 0   1024 Mar  1  2024 .
            drwxr-xr-x 4 0 0   1024 Mar  1  2024 ..
            -rwxr-xr-x 2 0 0 151344 Mar  1  2024 dir
            -rwxr-xr-x 1 0 0     21 Mar  1  2024 hello.sh
            -rwxr-xr-x 2 0 0 151344 Mar  1  2024 ls
            -rwsr-xr-x 1 0 0      7 Mar  1  2024 suid


            """,
            "total 4\ndrwxr-xr-x  3 0 0 1024 Mar  1  2024 .\n", dotdot,
            """
            drwxr-xr-x  2 0 0 1024 Mar  1  2024 log
            -rw-r--r--  1 0 0   12 Feb  3  2001 old.txt


            """,
            "total 3\ndrwxr-xr-x  3    0    0 1024 Mar  1  2024 .\n",
            #"drwxr-xr-x 13    0    0 1024 [A-Z][a-z]{2} [ 0-9]\d [ 0-9]\d:\d\d \.\.\n"#,
            "drwxr-xr-x  2 1000 1000 1024 Mar  1  2024 user\n\n",
            "-rw-r--r-- 1 0 0 32 Mar  1  2024 /sysroot/etc/motd\n\n",
        ]
        let pattern = expected.map { $0.hasPrefix("drwxr-xr-x 13") ? $0 : NSRegularExpression.escapedPattern(for: $0) }.joined()
        #expect(r.out.wholeMatch(of: try Regex(pattern)) != nil, "\(r.out)")
        // The mkfs-time ".." lines use the recent-file format: HH:MM instead of the year.
        #expect(r.out.contains(try Regex(#"\d\d:\d\d \.\.\n"#)))
    }

    @Test func statStructs() throws {
        let r = try FishFixtures.script("stat /etc/motd\nlstat /etc/motd.link\nstatns /dev/null\nstatns /boot/config-6.1.0\n")
        #expect(r.status == 0, "\(r.err)")
        // ctime is when the fixture was built; everything else is what guestfish printed.
        let out = r.out.replacingOccurrences(of: #"ctime(_sec)?: \d+"#, with: "ctime$1: C", options: .regularExpression)
        let times = "atime: 1709296496\nmtime: 1709296496\nctime: C\n"
        let nsTimes = "st_atime_sec: 1709296496\nst_atime_nsec: 0\nst_mtime_sec: 1709296496\nst_mtime_nsec: 0\nst_ctime_sec: C\nst_ctime_nsec: 0\n"
            + (1...6).map { "st_spare\($0): 0\n" }.joined()
        #expect(out == "dev: 2049\nino: 28\nmode: 33188\nnlink: 1\nuid: 0\ngid: 0\nrdev: 0\nsize: 32\nblksize: 1024\nblocks: 2\n" + times
                + "dev: 2049\nino: 29\nmode: 41471\nnlink: 1\nuid: 0\ngid: 0\nrdev: 0\nsize: 9\nblksize: 1024\nblocks: 0\n" + times
                + "st_dev: 2049\nst_ino: 21\nst_mode: 8630\nst_nlink: 1\nst_uid: 0\nst_gid: 0\nst_rdev: 259\nst_size: 0\nst_blksize: 1024\nst_blocks: 0\n" + nsTimes
                + "st_dev: 2050\nst_ino: 12\nst_mode: 33188\nst_nlink: 1\nst_uid: 0\nst_gid: 0\nst_rdev: 0\nst_size: 17\nst_blksize: 1024\nst_blocks: 2\n" + nsTimes)
    }

    @Test func fileKinds() throws {
        let paths = ["/", "/etc/motd", "/etc/motd.link", "/dev/null", "/run/initctl", "/var/log/empty.log", "/usr/bin/ls",
                     "/usr/bin/hello.sh", "/data/lines.gz", "/data/random.bin", "/home/user/notes.txt", "/data/nonl.txt",
                     "/usr/bin/suid", "/dev/sda", "/dev/sda1"]
        let r = try FishFixtures.script(paths.map { "file \($0)\n" }.joined())
        #expect(r.status == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(Array(lines.prefix(6)) == ["directory", "ASCII text", "symbolic link", "character device", "FIFO", "empty"])
        // /usr/bin/ls is the host's; its exact description is checked against file(1) in FileMagicTests.
        #expect(lines[6].hasPrefix("ELF 64-bit LSB ") && lines[6].contains(", version 1 (SYSV)"))
        #expect(Array(lines[7...]) == [
            "POSIX shell script, ASCII text executable",
            "ASCII text (gzip compressed data, max compression, from Unix)",
            "data",
            "Unicode text, UTF-8 text",
            "ASCII text, with no line terminators",
            "setuid , ASCII text",
            "DOS/MBR boot sector; partition 1 : ID=0x83, active, start-CHS (0x0,32,33), end-CHS (0x1,102,37), startsector 2048, 20480 sectors; partition 2 : ID=0x83, start-CHS (0x1,102,38), end-CHS (0x1,232,39), startsector 22528, 8192 sectors",
            "Linux rev 1.0 ext4 filesystem data, UUID=0f15e000-0000-4000-8000-00000000f150, volume name \"fishroot\" (extents) (64bit) (large files) (huge files)",
            "",
        ])
    }

    @Test func quotingAndEcho() throws {
        let r = try FishFixtures.script(#"echo hello "a b" 'c d'  x\ty "tab\there" "\x41\101""# + "\necho\n")
        #expect(r.out == "hello a b c d x\\ty tab\there AA\n\n")
    }

    @Test func inspection() throws {
        let r = try FishFixtures.fish([], stdin: """
            inspect-os
            inspect-get-type /dev/sda1
            inspect-get-distro /dev/sda1
            inspect-get-hostname /dev/sda1
            inspect-get-major-version /dev/sda1
            inspect-get-mountpoints /dev/sda1
            mounts
            """)
        #expect(r.status == 0, "\(r.err)")
        // inspect-os leaves nothing mounted (libguestfs unmounts what it looked at).
        #expect(r.out == "/dev/sda1\nlinux\ndebian\nfishhost\n12\n/boot: /dev/sda2\n/: /dev/sda1\n")
    }

    @Test func mountingByHand() throws {
        let r = try FishFixtures.fish([], stdin: """
            mount-ro /dev/sda1 /
            mount /dev/sda2 /boot
            ls /boot
            mountpoints
            umount /boot
            mounts
            umount-all
            mount-ro /dev/sda2 /
            mount-ro /dev/sda1 /
            mounts
            """)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == "config-6.1.0\ngrub\nlost+found\n/dev/sda1: /\n/dev/sda2: /boot\n/dev/sda1\n/dev/sda2\n/dev/sda1\n")
    }
}

@Suite struct GuestFishErrorTests {
    @Test func scriptStopsAtFirstError() throws {
        let r = try FishFixtures.script("echo one\n\ncat /nope\necho never\n")
        #expect(r.status == 1)
        #expect(r.out == "one\n")
        #expect(r.err == "*stdin*:3: libguestfs: error: download: /nope: No such file or directory\n")
    }

    @Test func dashLetsACommandFail() throws {
        let r = try FishFixtures.script("""
            -cat /etc
            -ls /etc/motd
            -readlink /etc/motd
            -vfs-type /dev/sdz
            -stat /nope
            -lstat /nope
            -file /nope
            -find /etc/motd
            -ll /nope
            -head /etc
            -head-n x /data/lines.txt
            -nosuchcmd
            -cat
            -mount-ro /dev/sdz1 /
            -inspect-get-type /dev/sda2
            - echo spaced dash
            """)
        #expect(r.status == 0)
        #expect(r.out == "spaced dash\n")
        #expect(r.err == """
            *stdin*:1: libguestfs: error: download: /etc: is a directory
            *stdin*:2: libguestfs: error: ls0: opendir: /etc/motd: Not a directory
            *stdin*:3: libguestfs: error: readlink: readlink: /etc/motd: Invalid argument
            *stdin*:4: libguestfs: error: vfs_type: vfs_type_stub: /dev/sdz: No such file or directory
            *stdin*:5: libguestfs: error: statns: /nope: No such file or directory
            *stdin*:6: libguestfs: error: lstatns: /nope: No such file or directory
            *stdin*:7: libguestfs: error: file: lstat: /nope: No such file or directory
            *stdin*:8: libguestfs: error: find0: /etc/motd: not a directory
            *stdin*:9: libguestfs: error: ll: /nope: No such file or directory
            *stdin*:10: libguestfs: error: head: head -n 10: head: error reading 'standard input': Is a directory
            head-n: nrlines: invalid integer parameter (xstrtoll returned 4)
            nosuchcmd: unknown command
            error: incorrect number of arguments
            usage: cat path
            type 'help cat' for more help on cat
            *stdin*:14: libguestfs: error: mount_ro: mount_ro_stub: /dev/sdz1: No such file or directory
            *stdin*:15: libguestfs: error: inspect_get_type: /dev/sda2: root device not found: only call this function with a root device previously returned by guestfs_inspect_os

            """)
    }

    @Test func nothingMountedWithoutInspectorOrMount() throws {
        let r = try FishFixtures.fish([], stdin: "-ls /\n-cat /etc/motd\n-is-file /etc/motd\nmounts\n-mount-ro /dev/sda2 /boot\n-mount-ro /dev/sdb6 /\n")
        #expect(r.status == 0)
        #expect(r.out == "")
        #expect(r.err == """
            *stdin*:1: libguestfs: error: ls0: ls0_stub: you must call 'mount' first to mount the root filesystem
            *stdin*:2: libguestfs: error: download: download_stub: you must call 'mount' first to mount the root filesystem
            *stdin*:3: libguestfs: error: is_file: is_file_stub: you must call 'mount' first to mount the root filesystem
            *stdin*:5: libguestfs: error: mount_ro: mount: /boot: mount point is not a directory
            *stdin*:6: libguestfs: error: mount_ro: mount_ro_stub: /dev/sdb6: No such file or directory

            """)
        let unknown = try CLI.run(["guest", "fish", "-a", FishFixtures.path("mbr.raw"), "mount-ro", "/dev/sda6", "/"], timeout: 60)
        #expect(unknown.status == 1)
        #expect(unknown.err == """
            *stdin*:0: libguestfs: error: mount_ro: mount exited with status 32: mount: /sysroot: wrong fs type, bad option, bad superblock on /dev/sda6, missing codepage or helper program, or other error.
                   dmesg(1) may have more information after failed mount system call.

            """)
    }

    @Test func commandLineMode() throws {
        let r = try FishFixtures.fish(["-m", "/dev/sda1", "-m", "/dev/sda2:/boot", "mountpoints", ":", "cat", "/etc/motd",
                                       ":", "ls", "/nope", ":", "ls", "/"])
        #expect(r.status == 1)
        #expect(r.out == "/dev/sda1: /\n/dev/sda2: /boot\nWelcome to the fish test guest.\n\n")
        #expect(r.err == "*stdin*:0: libguestfs: error: ls0: opendir: /nope: No such file or directory\n")
        // "--" lets the first command start with "-" (allowed to fail); quit stops the rest.
        let dash = try FishFixtures.fish(["-i", "--", "-cat", "/nope", ":", "echo", "on", ":", "quit", ":", "echo", "off"])
        #expect(dash.status == 0)
        #expect(dash.out == "on\n")
    }

    @Test func badMountOption() throws {
        let r = try FishFixtures.fish(["-m", "/dev/sdz1", "mounts"])
        #expect(r.status == 1)
        #expect(r.err.hasPrefix("libguestfs: error: mount_options: mount_options_stub: /dev/sdz1: No such file or directory\n"))
        #expect(r.err.contains("'/dev/sdz1' could not be mounted.  Did you mean one of these?\n\t/dev/sda1 (ext4)\n\t/dev/sda2 (ext4)\n"))
    }

    @Test func inspectorNeedsExactlyOneOS() throws {
        // mbr.raw has two small ext4s with /etc: either both count as OSes or neither does.
        let r = try FishFixtures.fish(["-i", "mounts"], image: "mbr.raw")
        #expect(r.status == 1)
        #expect(r.err.contains(": multi-boot operating systems are not supported\n")
                || r.err.contains(": no operating system was found on this disk\n"), "\(r.err)")
    }

    @Test func parseErrors() throws {
        let r = try FishFixtures.script("echo \"open\n")
        #expect(r.status == 1)
        #expect(r.err == "corral guest fish: unterminated double quote\n")
        let sep = try FishFixtures.script("echo 'a'b\n")
        #expect(sep.err == "corral guest fish: command arguments not separated by whitespace\n")
    }
}

@Suite struct GuestFishShellTests {
    @Test func pipesAndLocalCommands() throws {
        let r = try FishFixtures.script("ls /etc | wc -l\n!echo local\nfind /data | grep gz\n")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.replacingOccurrences(of: " ", with: "") == "7\nlocal\n/lines.gz\n")
    }

    @Test func scriptFromFileAndDownloadToHost() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fish-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = dir.appendingPathComponent("script.fish")
        try "download /data/random.bin \(dir.path)/random.bin\ndownload /dev/sda2 \(dir.path)/boot.img\n-cat /nope\ncat /nope\n"
            .write(to: script, atomically: true, encoding: .utf8)
        let r = try FishFixtures.fish(["-i", "-f", script.path])
        #expect(r.status == 1)
        #expect(r.err == "\(script.path):3: libguestfs: error: download: /nope: No such file or directory\n"
                + "\(script.path):4: libguestfs: error: download: /nope: No such file or directory\n")
        #expect(try Data(contentsOf: dir.appendingPathComponent("random.bin")).count == 4096)
        #expect(try Data(contentsOf: dir.appendingPathComponent("boot.img")).count == 4 << 20)
    }

    @Test func helpLists() throws {
        let r = try FishFixtures.script("help\nhelp -l\nhelp cat\n")
        #expect(r.status == 0)
        #expect(r.out.contains("ll                   list the files in a directory (long format)\n"))
        #expect(r.out.contains("NAME\n    cat - list the contents of a file\n\nSYNOPSIS\n     cat path\n\nDESCRIPTION\n"))
        let unknown = try FishFixtures.script("help nosuch\n")
        #expect(unknown.status == 1)
        #expect(unknown.err == "nosuch: command not known: use -h to list all commands\n")
    }
}

/// The prompt, through util-linux `script`, which gives corral a terminal.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs /usr/bin/script"))
struct GuestFishInteractiveTests {
    @Test func promptKeepsGoingAfterErrors() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        p.arguments = ["-qec", "'\(CLI.binary.path)' guest fish -a '\(try FishFixtures.path("fish.raw"))' -i", "/dev/null"]
        let inPipe = Pipe(), outPipe = Pipe()
        p.standardInput = inPipe; p.standardOutput = outPipe; p.standardError = outPipe
        try p.run()
        for line in ["cat /nope", "mounts", "quit"] {
            Thread.sleep(forTimeInterval: 0.5)
            inPipe.fileHandleForWriting.write(Data((line + "\n").utf8))
        }
        Thread.sleep(forTimeInterval: 0.5)
        try inPipe.fileHandleForWriting.close()
        let out = String(decoding: outPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .replacingOccurrences(of: "\r", with: "")
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        #expect(out.contains("Welcome to corral guest fish"))
        #expect(out.contains("\n/dev/sda1 mounted on /\n/dev/sda2 mounted on /boot\n\n><fs> "), "\(out)")
        // Errors have no line prefix at the prompt, and the shell carries on.
        #expect(out.contains("><fs> cat /nope\nlibguestfs: error: download: /nope: No such file or directory\n><fs> mounts\n/dev/sda1\n/dev/sda2\n><fs> quit\n\n"), "\(out)")
    }
}

/// The same scripts through the real guestfish (about a minute each under TCG), when installed.
@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/guestfish"), "needs guestfish"))
struct GuestFishVersusLibguestfsTests {
    static func real(_ args: [String], stdin: String) throws -> CLI.Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/guestfish")
        p.arguments = args
        p.environment = ProcessInfo.processInfo.environment.merging(
            ["LIBGUESTFS_BACKEND": "direct", "LIBGUESTFS_BACKEND_SETTINGS": "force_tcg"]) { $1 }
        let inPipe = Pipe(), outPipe = Pipe(), errPipe = Pipe()
        p.standardInput = inPipe; p.standardOutput = outPipe; p.standardError = errPipe
        try p.run()
        inPipe.fileHandleForWriting.write(Data(stdin.utf8))
        try inPipe.fileHandleForWriting.close()
        nonisolated(unsafe) var err = Data()
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async { err = errPipe.fileHandleForReading.readDataToEndOfFile(); done.signal() }
        let out = outPipe.fileHandleForReading.readDataToEndOfFile()
        done.wait()
        p.waitUntilExit()
        return CLI.Result(status: p.terminationStatus, out: String(decoding: out, as: UTF8.self), err: String(decoding: err, as: UTF8.self))
    }

    static func maskingDeviceNumbers(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasPrefix("dev: ") || line.hasPrefix("st_dev: ") ? String(line.prefix { $0 != " " }) + " N" : String(line)
        }.joined(separator: "\n")
    }

    @Test func sameOutputsForFiles() throws {
        let script = """
            list-filesystems
            mountpoints
            ls /etc
            ll /usr/bin
            ll /dev
            find /usr
            cat /etc/fstab
            head-n 3 /data/lines.txt
            tail-n -23 /data/lines.txt
            stat /usr/bin/ls
            statns /boot/grub/grub.cfg
            file /usr/bin/ls
            file /data/lines.gz
            file /dev/sda
            is-dir /bin followsymlinks:true
            du /usr
            -cat /nope
            -ls /etc/hostname
            -find /etc/fstab
            """
        let image = try FishFixtures.path("fish.raw")
        let ours = try FishFixtures.script(script)
        let theirs = try Self.real(["--ro", "-a", image, "-i"], stdin: script)
        #expect(ours.status == theirs.status)
        // The appliance's kernel probes its SCSI disks asynchronously, so the guest disk is sda or
        // sdb from run to run: the device numbers in stat/statns output are not comparable.
        #expect(Self.maskingDeviceNumbers(ours.out) == Self.maskingDeviceNumbers(theirs.out))
        #expect(ours.err == theirs.err)
    }

    @Test func sameErrorsWithoutMounts() throws {
        let script = "run\n-ls /\n-stat /etc\n-vfs-type /dev/sdz\nvfs-uuid /dev/sda2\nblockdev-getsize64 /dev/sda1\nmount-ro /dev/sda2 /\nls /\ncat /missing\necho never\n"
        let image = try FishFixtures.path("fish.raw")
        let ours = try FishFixtures.fish([], stdin: script)
        let theirs = try Self.real(["--ro", "-a", image], stdin: script)
        #expect(ours.status == theirs.status)
        #expect(ours.out == theirs.out)
        #expect(ours.err == theirs.err)
    }
}
