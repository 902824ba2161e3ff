import Foundation
import Testing
@testable import corral

// The pool-* and vol-* commands: the real `corral` binary against qemu:///embed?root=TMP,
// a dir pool in a temporary directory, each invocation a new process opening the root.

/// A temporary root and pool directory; removed at the end.
final class StorageFixture {
    let dir: URL
    var uri: String { "qemu:///embed?root=\(dir.appendingPathComponent("root").path)" }
    var poolDir: String { dir.appendingPathComponent("pool").path }

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("corral-storage-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: dir) }

    @discardableResult
    func run(_ args: String...) throws -> CLI.Result { try CLI.run(["-c", uri] + args, timeout: 60) }

    /// A running dir pool named `name` at poolDir.
    func startPool(_ name: String = "p") throws {
        let r = try run("pool-define-as \(name) dir --target \(poolDir); pool-build \(name); pool-start \(name)")
        #expect(r.status == 0, "\(r.err)")
    }

    func file(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func json(_ args: String...) throws -> Any {
        let r = try CLI.run(["-c", uri] + args, timeout: 60)
        #expect(r.status == 0, "\(r.err)")
        return try JSONSerialization.jsonObject(with: Data(r.out.utf8))
    }
}

@Suite struct StoragePoolCLITests {
    @Test func defineBuildStartListUndefine() throws {
        let f = try StorageFixture()
        let r = try f.run("pool-define-as p dir --target \(f.poolDir); pool-build p; pool-start p; pool-autostart p")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == "Pool p defined\n\nPool p built\n\nPool p started\n\nPool p marked as autostarted\n\n")
        #expect(FileManager.default.fileExists(atPath: f.poolDir))

        #expect(try f.run("pool-list").out == " Name   State    Autostart\n" + String(repeating: "-", count: 28) + "\n p      active   yes\n\n")
        #expect(try f.run("pool-list", "--name", "--autostart").out == "p" + String(repeating: " ", count: 19) + "\n\n")
        let details = try f.run("pool-list", "--all", "--details").out.split(separator: "\n").map(String.init)
        #expect(details.first == " Name   State     Autostart   Persistent   Capacity     Allocation   Available")
        #expect(details.count == 3 && details[2].hasPrefix(" p      running   yes         yes          "), "\(details)")
        #expect(details.count == 3 && details[2].contains(" GiB"))

        let uuid = try f.run("-q", "pool-uuid", "p").out.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(UUID(uuidString: uuid) != nil)
        #expect(try f.run("pool-name", uuid).out == "p\n\n")
        #expect(try f.run("pool-list", "--uuid").out == uuid + "\n\n")
        let info = try f.run("pool-info", uuid).out
        #expect(info.hasPrefix("Name:           p\nUUID:           \(uuid)\nState:          running\nPersistent:     yes\nAutostart:      yes\nCapacity:       "), "\(info)")
        let infoBytes = try f.run("pool-info", "--bytes", "p").out
        #expect(infoBytes.split(separator: "\n").last.map { $0.hasPrefix("Available:      ") && UInt64($0.dropFirst(16)) != nil } == true)
        let obj = try #require(try f.json("pool-info", "p", "--json") as? [String: Any])
        #expect(obj["state"] as? String == "running")
        #expect(obj["autostart"] as? Bool == true)
        #expect(try f.run("pool-dumpxml", "p").out.contains("<path>\(f.poolDir)</path>"))

        let stop = try f.run("pool-autostart p --disable; pool-destroy p; pool-list; pool-list --inactive --details")
        #expect(stop.status == 0, "\(stop.err)")
        #expect(stop.out == "Pool p unmarked as autostarted\n\nPool p destroyed\n\n"
                 + " Name   State   Autostart\n" + String(repeating: "-", count: 27) + "\n\n"
                 + " Name   State      Autostart   Persistent   Capacity   Allocation   Available\n"
                 + String(repeating: "-", count: 7 + 11 + 12 + 13 + 11 + 13 + 12) + "\n"
                 + " p      inactive   no          yes          -          -            -\n\n")

        let gone = try f.run("pool-delete p; pool-undefine p; pool-list --all --name")
        #expect(gone.status == 0, "\(gone.err)")
        #expect(gone.out == "Pool p deleted\n\nPool p has been undefined\n\n\n")
        #expect(!FileManager.default.fileExists(atPath: f.poolDir))
    }

    @Test func definedFromFileAndTransientCreate() throws {
        let f = try StorageFixture()
        let xml = f.file("pool.xml")
        try "<pool type='dir'><name>fromfile</name><target><path>\(f.poolDir)</path></target></pool>"
            .write(toFile: xml, atomically: true, encoding: .utf8)
        let r = try f.run("pool-define \(xml); pool-start fromfile --build; pool-create-as tr dir --target \(f.file("tr")) --build")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == "Pool fromfile defined from \(xml)\n\nPool fromfile started\n\nPool tr created\n\n")
        // Sorted by name; the transient pool is listed with --transient only.
        #expect(try f.run("-q", "pool-list", "--name").out == "fromfile            \ntr                  \n")
        #expect(try f.run("-q", "pool-list", "--name", "--transient").out == "tr                  \n")
        #expect(try f.run("-q", "pool-list", "--name", "--type", "fs").out == "")
        let list = try #require(try f.json("pool-list", "--all", "--json") as? [[String: Any]])
        #expect(list.compactMap { $0["name"] as? String } == ["fromfile", "tr"])
        #expect(list.last?["persistent"] as? Bool == false)
        // A transient pool disappears when stopped.
        #expect(try f.run("pool-destroy tr; pool-list --all --name").out == "Pool tr destroyed\n\nfromfile            \n\n")
    }

    @Test func printXMLBuildsVirshDocument() throws {
        let f = try StorageFixture()
        let r = try f.run("pool-define-as", "--name", "n", "--type", "netfs", "--source-host", "h", "--source-path", "/e",
                          "--source-format", "nfs", "--target", "/mnt/x", "--print-xml")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == """
            <pool type='netfs'>
              <name>n</name>
              <source>
                <host name='h'/>
                <dir path='/e'/>
                <format type='nfs'/>
              </source>
              <target>
                <path>/mnt/x</path>
              </target>
            </pool>


            """)
        #expect(try f.run("-q", "pool-list", "--all", "--name").out == "")   // nothing was defined
    }

    @Test func badPoolInput() throws {
        let f = try StorageFixture()
        let unknown = try f.run("pool-info", "nosuch")
        #expect(unknown.status == 1)
        #expect(unknown.err == "error: failed to get pool 'nosuch'\nerror: Storage pool not found: no storage pool with matching name 'nosuch'\n")
        let type = try f.run("pool-list", "--type", "dir,bogus")
        #expect(type.status == 1)
        #expect(type.err == "error: Invalid pool type 'bogus'\n")
        let both = try f.run("pool-build", "p", "--overwrite", "--no-overwrite")
        #expect(both.status == 1)
        #expect(both.err == "error: command 'pool-build': Options --overwrite and --no-overwrite are mutually exclusive\n")
        let missing = try f.run("pool-define", "/nonexistent/pool.xml")
        #expect(missing.err == "error: Failed to open file '/nonexistent/pool.xml': No such file or directory\n")
        try f.startPool()
        let clash = try f.run("pool-create-as p dir --target \(f.file("other"))")
        #expect(clash.status == 1)
        #expect(clash.err.hasPrefix("error: Failed to create pool p\nerror: "), "\(clash.err)")
        let stillActive = try f.run("pool-undefine p")
        #expect(stillActive.status == 1)
        #expect(stillActive.err.hasPrefix("error: Failed to undefine pool p\nerror: "), "\(stillActive.err)")
    }
}

@Suite struct StorageVolumeCLITests {
    @Test func rawAndQcow2WithBacking() throws {
        let f = try StorageFixture()
        try f.startPool()
        let r = try f.run("vol-create-as p a 10M; vol-create-as p q 1G --format qcow2; "
                          + "vol-create-as --pool p --name ov --capacity 2GiB --format qcow2 --backing-vol q --backing-vol-format qcow2")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == "Vol a created\n\nVol q created\n\nVol ov created\n\n")
        let path = f.poolDir
        #expect(try f.run("vol-list", "p").out == " Name   Path\n" + String(repeating: "-", count: 7 + path.count + 6)
                 + "\n a      \(path)/a\n ov     \(path)/ov\n q      \(path)/q\n\n")
        // Allocation depends on the filesystem; the other columns do not.
        let rows = try f.run("-q", "vol-list", "p", "--details").out.split(separator: "\n").map {
            $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        }
        #expect(rows.map { Array($0.prefix(5)) } == [
            ["a", "\(path)/a", "file", "10.00", "MiB"], ["ov", "\(path)/ov", "file", "2.00", "GiB"],
            ["q", "\(path)/q", "file", "1.00", "GiB"],
        ])
        let vols = try #require(try f.json("vol-list", "p", "--json") as? [[String: Any]])
        #expect(vols.compactMap { ($0["capacity"] as? NSNumber)?.uint64Value } == [10 << 20, 2 << 30, 1 << 30])
        let info = try f.run("vol-info", "\(path)/q", "--bytes").out
        #expect(info.hasPrefix("Name:           q\nType:           file\nCapacity:       1073741824 bytes\nAllocation:     "), "\(info)")
        #expect(try f.run("vol-info", "a", "--pool", "p").out.hasPrefix("Name:           a\nType:           file\nCapacity:       10.00 MiB\n"))

        let xml = try f.run("vol-dumpxml", "ov", "--pool", "p").out
        #expect(xml.contains("<format type='qcow2'/>"))
        #expect(xml.contains("<backingStore>\n    <path>\(path)/q</path>"), "\(xml)")
        // The qcow2 header names its backing file, as qemu-img sees it.
        let img = Process()
        img.executableURL = URL(fileURLWithPath: "/usr/bin/qemu-img")
        img.arguments = ["info", "--output=json", "-U", "\(path)/ov"]
        let out = Pipe()
        img.standardOutput = out
        try img.run(); img.waitUntilExit()
        let imgInfo = try #require(try JSONSerialization.jsonObject(with: out.fileHandleForReading.readDataToEndOfFile()) as? [String: Any])
        #expect(imgInfo["backing-filename"] as? String == "\(path)/q")
        #expect(imgInfo["virtual-size"] as? Int == 2 << 30)

        // Name with --pool, key, path: the same volume.
        let ids = try f.run("vol-path ov --pool p; vol-key ov --pool p; vol-name \(path)/ov; vol-pool \(path)/ov; vol-path \(path)/ov")
        #expect(ids.out == "\(path)/ov\n\n\(path)/ov\n\nov\n\np\n\n\(path)/ov\n\n")
    }

    @Test func printXMLAndCloneAndCreateFrom() throws {
        let f = try StorageFixture()
        try f.startPool()
        let r = try f.run("vol-create-as p base 1M; vol-create-as p top 1500 --allocation 0 --format qcow2 --backing-vol base --backing-vol-format raw --print-xml")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == """
            Vol base created

            <volume>
              <name>top</name>
              <capacity>1500</capacity>
              <allocation>0</allocation>
              <target>
                <format type='qcow2'/>
              </target>
              <backingStore>
                <path>\(f.poolDir)/base</path>
                <format type='raw'/>
              </backingStore>
            </volume>


            """)
        let volXML = f.file("nv.xml")
        try "<volume><name>nv</name><capacity unit='M'>4</capacity><target><format type='qcow2'/></target></volume>"
            .write(toFile: volXML, atomically: true, encoding: .utf8)
        let c = try f.run("vol-clone base copy --pool p; vol-create p \(volXML); vol-delete nv --pool p; vol-create-from p \(volXML) base --inputpool p")
        #expect(c.out.hasPrefix("Vol copy cloned from base\n\nVol nv created from \(volXML)\n\nVol nv deleted\n\nVol nv created from input vol base\n\n"), "\(c.out) \(c.err)")
        #expect(try f.run("-q", "vol-list", "p").out.split(separator: "\n").map { $0.split(separator: " ").first.map(String.init) }
                == ["base", "copy", "nv"])
        #expect(try f.run("-q", "vol-info", "copy", "--pool", "p", "--bytes").out.contains("Capacity:       1048576 bytes\n"))
    }

    @Test func uploadDownloadSameBytes() throws {
        let f = try StorageFixture()
        try f.startPool()
        var bytes = [UInt8](repeating: 0, count: 3_000_000)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: (i &* 2654435761) >> 13) }
        try Data(bytes).write(to: URL(fileURLWithPath: f.file("src.bin")))
        let r = try f.run("vol-create-as p v 4M; vol-upload v \(f.file("src.bin")) --pool p; "
                          + "vol-download \(f.poolDir)/v \(f.file("all.bin")); "
                          + "vol-download v \(f.file("part.bin")) --pool p --offset 1000 --length 5000; "
                          + "vol-download v \(f.file("sparse.bin")) --pool p --sparse")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err == "")   // no progress bar without a terminal
        let all = try Data(contentsOf: URL(fileURLWithPath: f.file("all.bin")))
        #expect(all.count == 4 << 20)
        #expect(Array(all.prefix(bytes.count)) == bytes)
        #expect(all.dropFirst(bytes.count).allSatisfy { $0 == 0 })
        #expect(try Data(contentsOf: URL(fileURLWithPath: f.file("part.bin"))) == Data(bytes[1000..<6000]))
        #expect(try Data(contentsOf: URL(fileURLWithPath: f.file("sparse.bin"))) == all)
        // The zero tail became a hole.
        var st = stat()
        #expect(stat(f.file("sparse.bin"), &st) == 0)
        #expect(Int(st.st_blocks) * 512 < all.count)

        // An upload at an offset changes only those bytes.
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: f.file("three.bin")))
        #expect(try f.run("vol-upload", "v", f.file("three.bin"), "--pool", "p", "--offset", "10").status == 0)
        #expect(try f.run("vol-download", "v", f.file("after.bin"), "--pool", "p", "--length", "-1").status == 0)
        let after = try Data(contentsOf: URL(fileURLWithPath: f.file("after.bin")))
        #expect(Array(after[10..<13]) == [1, 2, 3])
        #expect(after.prefix(10) == all.prefix(10) && after.dropFirst(13) == all.dropFirst(13))
    }

    @Test func resizeWipeDelete() throws {
        let f = try StorageFixture()
        try f.startPool()
        try Data(repeating: 0xAB, count: 65536).write(to: URL(fileURLWithPath: f.file("ab.bin")))
        let r = try f.run("vol-create-as p v 10M; vol-upload v \(f.file("ab.bin")) --pool p; vol-resize v 20M --pool p; "
                          + "vol-resize v 1M --pool p --delta; vol-resize v -2M --pool p --delta --shrink")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == "Vol v created\n\n\nSize of volume 'v' successfully changed to 20M\n\n"
                 + "Size of volume 'v' successfully changed by 1M\n\nSize of volume 'v' successfully changed by 2M\n\n")
        #expect(try f.run("vol-info", "v", "--pool", "p", "--bytes").out.contains("Capacity:       19922944 bytes\n"))
        let negative = try f.run("vol-resize", "v", "-1M", "--pool", "p")
        #expect(negative.status == 1)
        #expect(negative.err == "error: negative size requires --shrink\n")
        let shrink = try f.run("vol-resize", "v", "1M", "--pool", "p")
        #expect(shrink.status == 1)
        #expect(shrink.err.hasPrefix("error: Failed to change size of volume 'v' to 1M\nerror: "), "\(shrink.err)")

        let wipe = try f.run("vol-wipe v --pool p; vol-download v \(f.file("w.bin")) --pool p")
        #expect(wipe.out.hasPrefix("Vol v wiped\n\n"), "\(wipe.err)")
        let wiped = try Data(contentsOf: URL(fileURLWithPath: f.file("w.bin")))
        #expect(wiped.count == 19922944 && wiped.allSatisfy { $0 == 0 })
        let bad = try f.run("vol-wipe", "v", "--pool", "p", "--algorithm", "shred")
        #expect(bad.err == "error: Unsupported algorithm 'shred'\n")

        let del = try f.run("vol-delete \(f.poolDir)/v; vol-list p")
        #expect(del.out == "Vol \(f.poolDir)/v deleted\n\n Name   Path\n" + String(repeating: "-", count: 14) + "\n\n")
        #expect(!FileManager.default.fileExists(atPath: "\(f.poolDir)/v"))
    }

    @Test func badVolumeInput() throws {
        let f = try StorageFixture()
        try f.startPool()
        let noPool = try f.run("vol-create-as", "nosuch", "v", "1M")
        #expect(noPool.status == 1)
        #expect(noPool.err == "error: failed to get pool 'nosuch'\nerror: Storage pool not found: no storage pool with matching name 'nosuch'\n")
        let badSize = try f.run("vol-create-as", "p", "v", "1.5G")
        #expect(badSize.status == 1)
        #expect(badSize.err == "error: Malformed size 1.5G\nerror: invalid argument: unknown suffix '.5G'\n")
        #expect(try f.run("vol-create-as", "p", "v", "-1").err == "error: Malformed size -1\n")
        #expect(try f.run("vol-create-as", "p", "v", "1", "--allocation", "9Q").err
                == "error: Malformed size 9Q\nerror: invalid argument: unknown suffix 'Q'\n")
        #expect(try f.run("vol-create-as", "p", "v", "20E").err
                == "error: Malformed size 20E\nerror: numerical overflow: value too large: 20E\n")

        let clash = try f.run("vol-create-as p v 1M; vol-create-as p v 1M")
        #expect(clash.status == 1)
        #expect(clash.err.hasPrefix("error: Failed to create vol v\nerror: "), "\(clash.err)")

        let unknown = try f.run("vol-info", "zz")
        #expect(unknown.status == 1)
        #expect(unknown.err == "error: failed to get vol 'zz', specifying --pool might help\n"
                 + "error: Storage volume not found: no storage vol with matching path 'zz'\n")
        #expect(try f.run("vol-info", "zz", "--pool", "p").err.hasPrefix("error: failed to get vol 'zz'\nerror: "))
        #expect(try f.run("vol-name", "v").err.hasPrefix("error: failed to get vol 'v'\nerror: "))
        #expect(try f.run("vol-upload", "v", "x", "--pool", "p", "--offset", "-1").err
                == "error: Numeric value '-1' for <offset> option is malformed or out of range\n")

        let noFile = try f.run("vol-upload", "v", "/nonexistent/file", "--pool", "p")
        #expect(noFile.status == 1)
        #expect(noFile.err.hasPrefix("error: cannot read /nonexistent/file\n"))
        let noDir = try f.run("vol-download", "v", "/nonexistent/dir/file", "--pool", "p")
        #expect(noDir.status == 1)
        #expect(noDir.err.hasPrefix("error: cannot create /nonexistent/dir/file\n"))

        let inactive = try f.run("pool-destroy p; vol-info v --pool p")
        #expect(inactive.status == 1)
        #expect(inactive.err == "error: pool 'p' is not active\n")
        #expect(try f.run("vol-list", "p").err.hasPrefix("error: Failed to list volumes\nerror: "))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "needs /usr/bin/script"))
    func progressBarOnATerminalOnly() throws {
        let f = try StorageFixture()
        try f.startPool()
        try Data(repeating: 7, count: 2 << 20).write(to: URL(fileURLWithPath: f.file("two.bin")))
        try f.run("vol-create-as", "p", "v", "2M")
        func inTerminal(_ args: String) throws -> String {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/script")
            p.arguments = ["-qec", "'\(CLI.binary.path)' -c '\(f.uri)' \(args)", "/dev/null"]
            let out = Pipe()
            p.standardOutput = out; p.standardInput = FileHandle.nullDevice
            try p.run()
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return String(decoding: data, as: UTF8.self)
        }
        let shown = try inTerminal("vol-upload v \(f.file("two.bin")) --pool p")
        #expect(shown.contains("Uploading ["), "\(shown)")
        #expect(shown.contains("100% 2.00 MiB / 2.00 MiB"), "\(shown)")
        let down = try inTerminal("vol-download v \(f.file("back.bin")) --pool p")
        #expect(down.contains("Downloading [") && down.contains("100%"), "\(down)")
        let quiet = try inTerminal("-q vol-upload v \(f.file("two.bin")) --pool p")
        #expect(!quiet.contains("Uploading"), "\(quiet)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: f.file("back.bin"))) == Data(repeating: 7, count: 2 << 20))
    }
}

@Suite struct StorageParsingTests {
    @Test func scaledIntegersAsVirsh() throws {
        #expect(try ScaledInteger.parse("1500") == 1500)
        #expect(try ScaledInteger.parse("5KB") == 5000)
        #expect(try ScaledInteger.parse("5k") == 5120)
        #expect(try ScaledInteger.parse("5kib") == 5120)
        #expect(try ScaledInteger.parse("2M") == 2 << 20)
        #expect(try ScaledInteger.parse("3GiB") == 3 << 30)
        #expect(try ScaledInteger.parse("1gb") == 1_000_000_000)
        #expect(try ScaledInteger.parse("7bytes") == 7)
        #expect(try ScaledInteger.parse("1E") == 1 << 60)
        #expect(try ScaledInteger.parse(" 5") == 5)
        for bad in ["", "-5", "G", "0x10", "1.5G", "5KiBx", "18446744073709551616"] {
            #expect(throws: ScaledInteger.Malformed.self, "\(bad)") { try ScaledInteger.parse(bad) }
        }
        #expect(throws: ScaledInteger.Malformed.self) { try ScaledInteger.parse("16E") }
    }

    @Test func prettyCapacities() {
        #expect(prettyCapacity(0) == "0.00 B")
        #expect(prettyCapacity(1023) == "1023.00 B")
        #expect(prettyCapacity(1500) == "1.46 KiB")
        #expect(prettyCapacity(10 << 20) == "10.00 MiB")
        #expect(prettyCapacity(1 << 30) == "1.00 GiB")
        #expect(prettyCapacity(107363696640) == "99.99 GiB")
        #expect(prettyCapacity(UInt64.max) == "16.00 EiB")
    }

    @Test func positionalsFillUnnamedOptionsInOrder() throws {
        #expect(try fillPositionals(["v", "1G"], [("pool", "p"), ("name", nil), ("capacity", nil)], required: 3) == ["p", "v", "1G"])
        #expect(try fillPositionals(["p", "1G"], [("pool", nil), ("name", "v"), ("capacity", nil)], required: 3) == ["p", "v", "1G"])
        #expect(throws: (any Error).self) { try fillPositionals(["p"], [("pool", nil), ("name", nil)], required: 2) }
        #expect(throws: (any Error).self) { try fillPositionals(["a", "b"], [("pool", nil)], required: 1) }
    }
}
