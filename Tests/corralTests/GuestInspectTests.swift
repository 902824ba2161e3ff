import Foundation
import Testing

// `corral guest inspect` (the real binary) on the OS fixtures of scripts/guest-images.d/50-os.sh:
// virt-inspector's XML, and once, when libguestfs-tools are installed, the real virt-inspector's.

private enum OSImages {
    static var built: Result<String, any Error> { GuestImages.dir }

    static func path(_ name: String) throws -> String { try built.get() + "/" + name }
    static func exists(_ name: String) -> Bool {
        (try? path(name)).map { FileManager.default.fileExists(atPath: $0) } ?? false
    }
}

@Suite struct GuestInspectTests {
    @Test func debianXML() throws {
        let r = try CLI.run(["guest", "inspect", "-a", try OSImages.path("debian12.raw")])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.hasPrefix("""
            <?xml version="1.0"?>
            <operatingsystems>
              <operatingsystem>
                <root>/dev/sda2</root>
                <name>linux</name>
                <arch>x86_64</arch>
                <distro>debian</distro>
                <product_name>12.5</product_name>
                <major_version>12</major_version>
                <minor_version>5</minor_version>
                <package_format>deb</package_format>
                <package_management>apt</package_management>
                <hostname>debian12-guest</hostname>
                <osinfo>debian12</osinfo>
                <mountpoints>
                  <mountpoint dev="/dev/sda2">/</mountpoint>
                  <mountpoint dev="/dev/sda1">/boot</mountpoint>
                </mountpoints>
                <filesystems>
                  <filesystem dev="/dev/sda1">
                    <type>ext2</type>
                    <label>debboot</label>
                    <uuid>1d2e3f40-5a6b-4c7d-8e9f-a0b1c2d3e4f5</uuid>
                  </filesystem>
                  <filesystem dev="/dev/sda2">
                    <type>ext4</type>
                    <label>debroot</label>
                    <uuid>6a1f5c2e-0d3b-4c7a-9e21-5b8f0c4d7e11</uuid>
                  </filesystem>
                  <filesystem dev="/dev/sda3">
                    <type>swap</type>
                    <label>debswap</label>
                    <uuid>0b9c8d7e-6f5a-4b3c-2d1e-0f9a8b7c6d5e</uuid>
                  </filesystem>
                </filesystems>
                <applications>
                  <application>

            """))
        #expect(r.out.hasSuffix("    </applications>\n  </operatingsystem>\n</operatingsystems>\n"))
        let expected = try String(contentsOfFile: try OSImages.path("debian12.expected-packages.txt"), encoding: .utf8)
        #expect(r.out.components(separatedBy: "<application>").count - 1 == expected.split(separator: "\n").count)
        // libxml2's escaping of text: quotes in package descriptions become &quot;.
        #expect(r.out.contains("&quot;"))
        #expect(r.out.split(separator: "\n").dropFirst().allSatisfy { !$0.contains("\"") || $0.contains(" dev=\"") })
    }

    @Test func noApplications() throws {
        let r = try CLI.run(["guest", "inspect", "--no-applications", "--no-icon", "-a", try OSImages.path("debian12-overlay.qcow2")])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("    <hostname>debian12-overlay</hostname>\n"))
        #expect(!r.out.contains("<applications"))
        #expect(r.out.hasSuffix("    </filesystems>\n  </operatingsystem>\n</operatingsystems>\n"))
    }

    @Test(.enabled(if: OSImages.exists("rhel9.raw"), "the RHEL fixture needs loop devices for LVM"))
    func rhelXML() throws {
        let r = try CLI.run(["guest", "inspect", "--format", "raw", "-a", try OSImages.path("rhel9.raw")])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("""
                <root>/dev/rhel/root</root>
                <name>linux</name>
                <arch>aarch64</arch>
                <distro>rhel</distro>
                <product_name>Red Hat Enterprise Linux 9.2 (Plow)</product_name>
                <major_version>9</major_version>
                <minor_version>2</minor_version>
                <package_format>rpm</package_format>
                <package_management>dnf</package_management>
                <hostname>rhel9.example.com</hostname>
                <osinfo>rhel9.2</osinfo>
                <mountpoints>
                  <mountpoint dev="/dev/rhel/root">/</mountpoint>
                  <mountpoint dev="/dev/sda1">/boot</mountpoint>
                </mountpoints>
                <filesystems>
                  <filesystem dev="/dev/rhel/root">
            """))
        #expect(r.out.contains("""
                  <application>
                    <name>openssl-libs</name>
                    <epoch>1</epoch>
                    <version>3.0.7</version>
                    <release>16.el9_2</release>
                    <arch>aarch64</arch>
                    <url>http://www.openssl.org/</url>
                    <summary>A general purpose cryptography library with TLS implementation</summary>
                    <description>The openssl-libs package, built for corral inspection tests.</description>
                  </application>
            """))
        #expect(r.out.contains("<url>(none)</url>"))
        #expect(r.out.components(separatedBy: "<application>").count - 1 == 6)
    }

    @Test func noOperatingSystem() throws {
        let r = try CLI.run(["guest", "inspect", "-a", try OSImages.path("mbr.raw")])
        #expect(r.status == 1)
        #expect(r.out == "")
        #expect(r.err.contains("no operating system could be detected"))
    }

    /// The real virt-inspector on the Debian fixture, run once and kept next to the images (the
    /// images directory is rebuilt, and the copy dropped, whenever the fixture scripts change).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/virt-inspector"), "libguestfs-tools not installed"))
    func sameAsVirtInspector() throws {
        let image = try OSImages.path("debian12.raw")
        let saved = try OSImages.path("debian12.virt-inspector.xml")
        if !FileManager.default.fileExists(atPath: saved) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/virt-inspector")
            p.arguments = ["--format=raw", "-a", image]
            var env = ProcessInfo.processInfo.environment
            env["LIBGUESTFS_BACKEND"] = "direct"
            env["LIBGUESTFS_BACKEND_SETTINGS"] = "force_tcg"
            p.environment = env
            let tmp = saved + ".tmp"
            FileManager.default.createFile(atPath: tmp, contents: nil)
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: tmp))
            p.standardOutput = handle
            p.standardError = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            try handle.close()
            guard p.terminationStatus == 0 else {
                try? FileManager.default.removeItem(atPath: tmp)
                Issue.record("virt-inspector failed with status \(p.terminationStatus)")
                return
            }
            try FileManager.default.moveItem(atPath: tmp, toPath: saved)
        }
        let theirs = try String(contentsOfFile: saved, encoding: .utf8)
        let ours = try CLI.run(["guest", "inspect", "-a", image]).out
        // Field by field first, for a readable failure; then the whole document, byte for byte.
        func fields(_ xml: String) -> [String] {
            xml.split(separator: "\n").filter { !$0.contains("<application>") }.prefix(40).map(String.init)
        }
        #expect(fields(ours) == fields(theirs))
        #expect(ours == theirs)
    }
}
