import Foundation
import Hypervisor
import QEMUDriver
import Testing

@Suite struct CapabilitiesTests {
    @Test func missingBinaryIsAClearError() {
        let error = #expect(throws: VirError.self) {
            try QEMUCapabilities.probe(emulator: "/nonexistent/qemu-system-x86_64", cacheDir: "/tmp")
        }
        #expect(error?.message == "Cannot find QEMU binary /nonexistent/qemu-system-x86_64: No such file or directory")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: qemuBinary)))
    func probesRealQEMU() throws {
        let caps = try QEMUCapabilities.probeUncached(emulator: qemuBinary)
        #expect(caps.version.count == 3 && caps.version[0] >= 7)
        #expect(caps.machines.contains("pc") && caps.machines.contains("q35"))
        #expect(caps.defaultMachine.map(caps.machines.contains) == true)
        #expect(caps.cpuModels.contains("qemu64") && caps.cpuModels.contains("Haswell-noTSX"))
        for device in ["virtio-blk-pci", "isa-serial", "virtio-net-pci", "qemu-xhci", "ide-cd"] {
            #expect(caps.devices.contains(device), "\(device) missing")
        }
    }

    /// The cache answers while the binary is unchanged and is ignored once its mtime changes.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: qemuBinary)))
    func cacheIsKeyedByBinaryIdentity() throws {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("corral-caps-\(getpid())")
        try fm.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: dir) }
        // A wrapper stands in for the binary: a copy of QEMU would not find its modules.
        let binary = dir.appendingPathComponent("qemu-wrapper").path
        try "#!/bin/sh\nexec \(qemuBinary) \"$@\"\n".write(toFile: binary, atomically: true, encoding: .utf8)
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: binary)
        let cacheDir = dir.appendingPathComponent("cache").path

        let first = try QEMUCapabilities.probe(emulator: binary, cacheDir: cacheDir)
        let files = try fm.contentsOfDirectory(atPath: cacheDir)
        #expect(files.count == 1)
        let cacheFile = URL(fileURLWithPath: cacheDir).appendingPathComponent(try #require(files.first))
        // Plant a marker in the cache: a cached answer must come back with it.
        let text = try String(contentsOf: cacheFile, encoding: .utf8)
            .replacingOccurrences(of: "\"virtio-blk-pci\"", with: "\"corral-marker\"")
        try text.write(to: cacheFile, atomically: true, encoding: .utf8)
        let cached = try QEMUCapabilities.probe(emulator: binary, cacheDir: cacheDir)
        #expect(cached.devices.contains("corral-marker"))
        #expect(cached.version == first.version)

        try fm.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -3600)], ofItemAtPath: binary)
        let reprobed = try QEMUCapabilities.probe(emulator: binary, cacheDir: cacheDir)
        #expect(!reprobed.devices.contains("corral-marker"))
        #expect(reprobed == first)
    }
}
