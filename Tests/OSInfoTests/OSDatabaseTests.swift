import Foundation
import Testing
@testable import OSInfo

/// Against Debian's real osinfo-db (osinfo-db 0.20221130 on bookworm: it has debian11, fedora37,
/// ubuntu22.04 and win11, not yet debian12 or fedora38).
@Suite struct RealDatabaseTests {
    static let root = "/usr/share/osinfo"
    var db: OSDatabase { OSDatabase.shared(root: Self.root) }

    @Test func loadsEveryFileWithoutErrors() throws {
        func rssKiB() -> Int {
            let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        let rss = rssKiB()
        let clock = ContinuousClock()
        let start = clock.now
        let fresh = OSDatabase(root: Self.root)
        let elapsed = clock.now - start
        #expect(fresh.errors.isEmpty, "\(fresh.errors)")
        #expect(fresh.variants.count > 700)
        // Printed for the record; the test asserts behaviour, not speed.
        print("osinfo-db: \(fresh.variants.count) OSes parsed in \(elapsed), RSS +\(rssKiB() - rss) KiB (other tests run alongside)")
        for id in ["debian11", "win11", "fedora37", "linux2022"] {
            if let d = fresh.lookup(id)?.defaults() { print("osinfo-db defaults \(id): \(d)") }
        }
        #expect(OSDatabase.shared(root: Self.root) === OSDatabase.shared(root: Self.root))
    }

    @Test func debian11() throws {
        let v = try #require(db.lookup("debian11"))
        #expect(v.id == "http://debian.org/debian/11")
        #expect(v.name == "Debian 11")
        #expect(v.family == "linux" && v.distro == "debian" && v.version == "11")
        #expect(v.vendor == "Debian Project")
        #expect(v.releaseDate == "2021-08-14")
        let d = v.defaults()
        #expect(d.memoryMiB == 1024 && d.diskGiB == 20)
        #expect(d.vcpus == 2)                              // n-cpus only in <minimum>: doubled, as virtinst
        #expect(d.diskBus == "virtio" && d.nicModel == "virtio" && d.usb == "qemu-xhci")
        #expect(d.machine == "q35" && d.firmware == "bios" && d.input == "usb-tablet")
        #expect(db.lookup("http://debian.org/debian/11") == v)
    }

    @Test func win11NeedsEFIAndHasNoVirtio() throws {
        let v = try #require(db.lookup("win11"))
        let min = try #require(v.minimum())
        #expect(min.ramBytes == 4 << 30 && min.nCPUs == 2 && min.storageBytes == 64 << 30)
        #expect(v.recommended() == nil)
        #expect(v.requiresEFI())
        let d = v.defaults()
        #expect(d.firmware == "efi")
        #expect(d.memoryMiB == 8192 && d.vcpus == 4 && d.diskGiB == 128)   // twice the minimum
        #expect(d.diskBus == "sata" && d.nicModel == "e1000e" && d.machine == "q35")
        #expect(d.video == "qxl")                          // qxl comes down the derives-from chain
        // Inherited from win10 → win8.1 → ... along derives-from.
        #expect(v.devices.contains("http://pcisig.com/pci/8086/10d3"))
        #expect(!v.supports(OSDevice.virtioBlock))
    }

    @Test func fedora37() throws {
        let v = try #require(db.lookup("fedora37"))
        let rec = try #require(v.recommended())
        #expect(rec.ramBytes == 2 << 30 && rec.storageBytes == 20 << 30)
        let d = v.defaults()
        #expect(d.memoryMiB == 2048 && d.diskGiB == 20)
        #expect(d.diskBus == "virtio" && d.nicModel == "virtio" && d.video == "virtio" && d.machine == "q35")
    }

    @Test func ubuntu2204DropsVirtioGPUButLinux2022AddsItBack() throws {
        let u = try #require(db.lookup("ubuntu22.04"))
        #expect(db.lookup("ubuntujammy") == u)
        #expect(u.defaults().memoryMiB == 4096 && u.defaults().diskGiB == 25)
        #expect(!u.supports(OSDevice.virtioGPU))           // supported="false" in its own file
        #expect(u.defaults().video == "vga")
        let g = try #require(db.lookup("linux2022"))
        #expect(g.supports(OSDevice.virtioGPU))
        // resources arch="all" inherit="true": ubuntu22.04's.
        #expect(g.recommended() == u.recommended())
        #expect(g.defaults().video == "virtio" && g.defaults().diskBus == "virtio")
    }

    @Test func genericHasVirtInstallFallbacks() throws {
        let d = try #require(db.lookup("generic")).defaults()
        #expect(d == OSDefaults(memoryMiB: 1024, vcpus: 1, diskGiB: 20, diskBus: "sata", nicModel: "e1000e",
                                video: "vga", firmware: "bios", machine: "q35", usb: "ich9-ehci1", sound: nil,
                                input: "usb-tablet"))
    }

    @Test func oldOSGetsPCAndIDE() throws {
        let d = try #require(db.lookup("winxp")).defaults()
        #expect(d.machine == "pc" && d.diskBus == "ide" && d.firmware == "bios")
        #expect(d.nicModel != "virtio")
    }

    @Test func searchRanksExactShortIDThenNewerThenEOL() throws {
        let now = try #require(OSVariant.parseDate("2026-11-27"))
        let r = db.search("debian", now: now)
        #expect(!r.isEmpty && r.count <= 50)
        let ids = r.map(\.shortID)
        let i11 = try #require(ids.firstIndex(of: "debian11")), i7 = try #require(ids.firstIndex(of: "debian7"))
        #expect(i11 < i7)
        let eolFlags = r.map { $0.isEOL(now: now) }
        #expect(eolFlags == eolFlags.sorted { !$0 && $1 }, "EOL entries come last")

        #expect(db.search("fedora3", now: now).first?.shortID.hasPrefix("fedora3") == true)
        #expect(db.search("win11", now: now).first?.shortID == "win11")
        #expect(db.search("WIN11", now: now).first?.shortID == "win11")
        // An exact short id wins even over newer releases whose ids merely contain it.
        #expect(db.search("fedora1", now: now).first?.shortID == "fedora1")
        #expect(db.search("Jammy", now: now).map(\.shortID).contains("ubuntu22.04"))   // by a second short id
        #expect(db.search("22.04", now: now).map(\.shortID).contains("ubuntu22.04"))   // by version
        #expect(db.search("Windows 11", now: now).map(\.shortID).contains("win11"))    // by name
        #expect(db.search("no-such-os-anywhere", now: now).isEmpty)
    }

    @Test func featuredListHasRecentAndGenericEntries() throws {
        let ids = db.search("").map(\.shortID)
        #expect(ids.contains("linux2022") && ids.contains("generic") && ids.contains("win11"))
        #expect(ids.contains("ubuntu22.10") || ids.contains("ubuntu22.04"))
        #expect(ids.count <= 50)
    }
}

@Suite struct SyntheticDatabaseTests {
    /// A temporary osinfo-db tree with the given os/ files.
    func makeDB(_ files: [String: String]) throws -> (OSDatabase, String) {
        let root = NSTemporaryDirectory() + "osinfo-test-\(UUID().uuidString)"
        for (path, text) in files {
            let full = root + "/os/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }
        return (OSDatabase(root: root), root)
    }

    func os(_ id: String, _ short: String, _ body: String) -> String {
        "<libosinfo version='0.0.1'><os id='\(id)'><short-id>\(short)</short-id><name>\(short)</name>\(body)</os></libosinfo>"
    }

    @Test func malformedFilesAreSkippedAndReported() throws {
        let (db, root) = try makeDB([
            "x.org/good.xml": os("http://x.org/good", "good", "<release-date>2020-01-01</release-date>"),
            "x.org/broken.xml": "<libosinfo><os id='http://x.org/b'><short-id>b</short-id>",
            "x.org/noid.xml": "<libosinfo><os><short-id>noid</short-id></os></libosinfo>",
            "x.org/noshort.xml": "<libosinfo><os id='http://x.org/ns'></os></libosinfo>",
            "x.org/wrongroot.xml": "<html/>",
            "x.org/empty.xml": "",
            "x.org/binary.xml": String(decoding: [0xff, 0xfe, 0x00, 0x3c, 0x00], as: UTF8.self),
        ])
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(db.lookup("good") != nil)
        #expect(db.lookup("b") == nil && db.lookup("noid") == nil)
        #expect(db.errors.count == 6, "\(db.errors)")
        #expect(db.errors.contains { $0.file.hasSuffix("noshort.xml") && $0.message.contains("no <short-id>") })
        #expect(db.errors.contains { $0.file.hasSuffix("wrongroot.xml") && $0.message.contains("<libosinfo>") })
    }

    @Test func missingDirectoryIsAnErrorNotACrash() {
        let db = OSDatabase(root: "/nonexistent/osinfo")
        #expect(db.errors.count == 1)
        #expect(db.lookup("generic") != nil)
    }

    @Test func inheritanceAlongDerivesFromWithCycleGuard() throws {
        let res = "<resources arch='all'><minimum><n-cpus>1</n-cpus><ram>1073741824</ram></minimum><recommended><ram>2147483648</ram><storage>10737418240</storage></recommended></resources>"
        let (db, root) = try makeDB([
            "x.org/base.xml": os("http://x.org/base", "base", res + "<devices><device id='http://pcisig.com/pci/1af4/1041'/><device id='http://pcisig.com/pci/1af4/1042'/><device id='http://qemu.org/chipset/x86/q35'/></devices><firmware arch='x86_64' type='efi'/>"),
            "x.org/child.xml": os("http://x.org/child", "child", "<derives-from id='http://x.org/base'/><devices><device id='http://pcisig.com/pci/1af4/1042' supported='false'/></devices>"),
            "x.org/grandchild.xml": os("http://x.org/grandchild", "grandchild", "<derives-from id='http://x.org/child'/><resources arch='x86_64'><recommended><ram>4294967296</ram></recommended></resources>"),
            "x.org/a.xml": os("http://x.org/a", "a", "<derives-from id='http://x.org/b'/>"),
            "x.org/b.xml": os("http://x.org/b", "b", "<derives-from id='http://x.org/a'/><devices><device id='http://pcisig.com/pci/1af4/1041'/></devices>"),
            "x.org/self.xml": os("http://x.org/self", "self", "<derives-from id='http://x.org/self'/>"),
            "x.org/orphan.xml": os("http://x.org/orphan", "orphan", "<derives-from id='http://x.org/missing'/>"),
        ])
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(db.errors.isEmpty)
        let child = try #require(db.lookup("child"))
        #expect(child.recommended()?.ramBytes == 2 << 30)               // no resources of its own: inherited
        #expect(child.supports(OSDevice.virtioNet) && !child.supports(OSDevice.virtioBlock))   // one removed
        #expect(child.firmware == [OSFirmware(arch: "x86_64", type: "efi", supported: true)])
        #expect(!child.requiresEFI())
        let gc = try #require(db.lookup("grandchild"))
        // It has resources of its own, so none are inherited; devices always are.
        #expect(gc.recommended()?.ramBytes == 4 << 30 && gc.recommended()?.storageBytes == nil)
        #expect(!gc.supports(OSDevice.virtioBlock) && gc.supports(OSDevice.virtioNet))
        #expect(gc.defaults().memoryMiB == 4096 && gc.defaults().diskGiB == OSDefaults.fallbackDiskGiB)
        #expect(gc.defaults().diskBus == "sata" && gc.defaults().machine == "q35")
        // Cycles terminate and each side keeps what it has.
        #expect(db.lookup("a")?.supports(OSDevice.virtioNet) == true)
        #expect(db.lookup("b")?.supports(OSDevice.virtioNet) == true)
        #expect(db.lookup("self") != nil && db.lookup("orphan") != nil)
    }

    @Test func archBlockFallsBackToAllPerField() throws {
        let (db, root) = try makeDB([
            "x.org/v.xml": os("http://x.org/v", "v", "<resources arch='all'><minimum><n-cpus>1</n-cpus><storage>5368709120</storage></minimum></resources><resources arch='x86_64'><minimum><ram>536870912</ram></minimum></resources><resources arch='aarch64'><minimum><ram>1</ram></minimum></resources>"),
        ])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let v = try #require(db.lookup("v"))
        #expect(v.minimum() == OSResources(nCPUs: 1, ramBytes: 512 << 20, storageBytes: 5 << 30))
        let d = v.defaults()
        #expect(d.memoryMiB == 1024 && d.vcpus == 2 && d.diskGiB == 10)
    }
}
