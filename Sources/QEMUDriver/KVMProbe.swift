import Foundation
import Hypervisor
#if canImport(Glibc)
import Glibc
#endif

/// The outcome of probing KVM, with why it is unusable.
public struct KVMProbeResult: Sendable, Equatable, Codable {
    public var usable: Bool
    /// "ok", or what failed (for the "KVM is not usable on this host: ..." error).
    public var reason: String
}

/// Whether KVM can really run guests here. `/dev/kvm` existing proves little: on nested
/// hosts it may accept a VM yet run it far too slowly (or not at all) for a real kernel.
/// So the probe runs a tiny guest twice: real-mode code that writes 0x42 to an I/O port
/// (the VM works at all), then, in 64-bit paged mode, a 2 MiB `rep movsq` copy — the kind
/// of work a kernel's decompressor starts with — that must finish within a time limit.
/// On this project's nested hosts the copy takes ~0.4 s (native: about a millisecond) and
/// stock kernels take minutes to decompress, so those hosts report KVM as unusable.
public enum KVMProbe {
    /// The probe result, computed once per process.
    public static var result: KVMProbeResult { cached }
    private static let cached = run()

    public static func canRunGuests() -> Bool { result.usable }

    /// The probe result cached in `cacheDir` for the current boot of the host (the kernel's
    /// boot_id), so short-lived processes such as the CLI do not each spend time probing.
    public static func result(cacheDir: String) -> KVMProbeResult {
        struct Entry: Codable { var bootID: String; var result: KVMProbeResult }
        guard let bootID = try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines), !bootID.isEmpty else { return result }
        let file = URL(fileURLWithPath: cacheDir).appendingPathComponent("kvm-probe.json")
        if let data = try? Data(contentsOf: file), let entry = try? JSONDecoder().decode(Entry.self, from: data), entry.bootID == bootID {
            return entry.result
        }
        let fresh = result
        try? FileManager.default.createDirectory(atPath: cacheDir, withIntermediateDirectories: true)
        if let data = try? JSONEncoder().encode(Entry(bootID: bootID, result: fresh)) {
            try? data.write(to: file, options: .atomic)
        }
        return fresh
    }

    /// As `accelerator(for:)`, with the probe result cached in `cacheDir` for this boot.
    public static func accelerator(for domainType: String, cacheDir: String) throws -> String {
        try accelerator(for: domainType, probe: result(cacheDir: cacheDir))
    }

    /// QEMU's accelerator for a `<domain type=''>`: "qemu" → tcg; "kvm" → kvm when the probe passed.
    public static func accelerator(for domainType: String) throws -> String {
        try accelerator(for: domainType, probe: result)
    }

    /// `probe` runs only for kvm domains: TCG guests never pay for probing.
    static func accelerator(for domainType: String, probe: @autoclosure () -> KVMProbeResult) throws -> String {
        switch domainType {
        case "qemu": return "tcg"
        case "kvm":
            let probe = probe()
            guard probe.usable else {
                throw VirError(.configUnsupported,
                               "KVM is not usable on this host: \(probe.reason); use <domain type='qemu'> to run with TCG",
                               domain: .qemu)
            }
            return "kvm"
        default:
            throw VirError(.configUnsupported, "unsupported domain type '\(domainType)': use qemu or kvm", domain: .qemu)
        }
    }

    // ioctl numbers from <linux/kvm.h> (_IO/_IOR/_IOW on 0xAE with the struct sizes below).
    private static let getAPIVersion: UInt = 0xAE00
    private static let createVM: UInt = 0xAE01
    private static let getVCPUMmapSize: UInt = 0xAE04
    private static let createVCPU: UInt = 0xAE41
    private static let setUserMemoryRegion: UInt = 0x4020_AE46   // struct kvm_userspace_memory_region, 32 bytes
    private static let kvmRun: UInt = 0xAE80
    private static let getRegs: UInt = 0x8090_AE81                // struct kvm_regs, 144 bytes
    private static let setRegs: UInt = 0x4090_AE82
    private static let getSregs: UInt = 0x8138_AE83               // struct kvm_sregs, 312 bytes
    private static let setSregs: UInt = 0x4138_AE84
    private static let exitIO: UInt32 = 2, exitHLT: UInt32 = 5

    /// Runs the probe now (uncached). `copyLimit` bounds the 2 MiB copy.
    public static func run(device: String = "/dev/kvm", copyLimit: Duration = .milliseconds(100)) -> KVMProbeResult {
        func fail(_ why: String) -> KVMProbeResult { KVMProbeResult(usable: false, reason: why) }
        func errnoText() -> String { String(cString: strerror(errno)) }

        let kvm = open(device, O_RDWR | O_CLOEXEC)
        guard kvm >= 0 else { return fail("cannot open \(device): \(errnoText())") }
        defer { close(kvm) }
        let api = ioctl(kvm, getAPIVersion)
        guard api == 12 else { return fail("unexpected KVM API version \(api)") }
        let vm = ioctl(kvm, createVM, CInt(0))
        guard vm >= 0 else { return fail("KVM_CREATE_VM failed: \(errnoText())") }
        defer { close(vm) }

        // 8 MiB of guest RAM at guest physical 0: code at 0x1000, page tables at 0x2000-0x4fff,
        // copy source 2-4 MiB, destination 4-6 MiB.
        let memSize = 8 << 20
        guard let mem = mmap(nil, memSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0),
              mem != MAP_FAILED else { return fail("cannot map guest memory: \(errnoText())") }
        defer { munmap(mem, memSize) }
        var region = [UInt8](repeating: 0, count: 32)    // slot, flags, guest_phys_addr, memory_size, userspace_addr
        store(&region, 16, UInt64(memSize))
        store(&region, 24, UInt64(UInt(bitPattern: mem)))
        guard region.withUnsafeMutableBytes({ ioctl(vm, setUserMemoryRegion, $0.baseAddress!) }) == 0 else {
            return fail("KVM_SET_USER_MEMORY_REGION failed: \(errnoText())")
        }

        let vcpu = ioctl(vm, createVCPU, CInt(0))
        guard vcpu >= 0 else { return fail("KVM_CREATE_VCPU failed: \(errnoText())") }
        defer { close(vcpu) }
        let runSize = Int(ioctl(kvm, getVCPUMmapSize))
        guard runSize >= 64, let run = mmap(nil, runSize, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0), run != MAP_FAILED else {
            return fail("cannot map the vCPU run area: \(errnoText())")
        }
        defer { munmap(run, runSize) }

        let guest = mem.assumingMemoryBound(to: UInt8.self)
        // Stage 1, real mode at 0x1000: mov $0x42,%al; out %al,$0x10; hlt
        let realMode: [UInt8] = [0xB0, 0x42, 0xE6, 0x10, 0xF4]
        // Stage 2, long mode at 0x1100: mov $0x200000,%rsi; mov $0x400000,%rdi; mov $0x40000,%rcx;
        // rep movsq; mov $0x43,%al; out %al,$0x10; hlt
        let longMode: [UInt8] = [0x48, 0xC7, 0xC6, 0x00, 0x00, 0x20, 0x00, 0x48, 0xC7, 0xC7, 0x00, 0x00, 0x40, 0x00,
                                 0x48, 0xC7, 0xC1, 0x00, 0x00, 0x04, 0x00, 0xF3, 0x48, 0xA5,
                                 0xB0, 0x43, 0xE6, 0x10, 0xF4]
        for (i, b) in realMode.enumerated() { guest[0x1000 + i] = b }
        for (i, b) in longMode.enumerated() { guest[0x1100 + i] = b }
        // Identity map of the first 8 MiB: PML4 → PDPT → PD with four 2 MiB pages.
        let tables = UnsafeMutableRawPointer(mem)
        tables.storeBytes(of: UInt64(0x3000 | 3), toByteOffset: 0x2000, as: UInt64.self)
        tables.storeBytes(of: UInt64(0x4000 | 3), toByteOffset: 0x3000, as: UInt64.self)
        for i in 0..<4 { tables.storeBytes(of: UInt64(i << 21) | 0x83, toByteOffset: 0x4000 + 8 * i, as: UInt64.self) }

        var sregs = [UInt8](repeating: 0, count: 312)
        var regs = [UInt8](repeating: 0, count: 144)
        func vcpuIoctl(_ request: UInt, _ buffer: inout [UInt8]) -> Bool {
            buffer.withUnsafeMutableBytes { ioctl(vcpu, request, $0.baseAddress!) } == 0
        }
        /// Runs until the next exit; returns (exit reason, byte written to port 0x10 if an OUT).
        func runOnce() -> (reason: UInt32, value: UInt8?)? {
            guard ioctl(vcpu, kvmRun) == 0 else { return nil }
            let reason = run.load(fromByteOffset: 8, as: UInt32.self)
            guard reason == exitIO else { return (reason, nil) }
            // struct kvm_run io: direction, size, port, count, data_offset at offset 32.
            let direction = run.load(fromByteOffset: 32, as: UInt8.self)
            let size = run.load(fromByteOffset: 33, as: UInt8.self)
            let port = run.load(fromByteOffset: 34, as: UInt16.self)
            let offset = Int(run.load(fromByteOffset: 40, as: UInt64.self))
            guard direction == 1, size == 1, port == 0x10, offset >= 0, offset < runSize else { return (reason, nil) }
            return (reason, run.load(fromByteOffset: offset, as: UInt8.self))
        }

        // Stage 1: real mode, CS base 0.
        guard vcpuIoctl(getSregs, &sregs) else { return fail("KVM_GET_SREGS failed: \(errnoText())") }
        store(&sregs, 0, UInt64(0)); store(&sregs, 12, UInt16(0))   // cs.base, cs.selector
        guard vcpuIoctl(setSregs, &sregs) else { return fail("KVM_SET_SREGS failed: \(errnoText())") }
        store(&regs, 128, UInt64(0x1000)); store(&regs, 136, UInt64(2))   // rip, rflags
        guard vcpuIoctl(setRegs, &regs) else { return fail("KVM_SET_REGS failed: \(errnoText())") }
        guard let out = runOnce() else { return fail("KVM_RUN failed: \(errnoText())") }
        guard out.reason == exitIO, out.value == 0x42 else {
            return fail("a real-mode test guest did not run correctly (exit reason \(out.reason))")
        }
        guard let halt = runOnce(), halt.reason == exitHLT else { return fail("a real-mode test guest did not halt") }

        // Stage 2: 64-bit mode with paging, as a kernel runs.
        guard vcpuIoctl(getSregs, &sregs) else { return fail("KVM_GET_SREGS failed: \(errnoText())") }
        writeSegment(&sregs, at: 0, selector: 8, type: 11, long: true)             // cs
        for offset in [24, 48, 72, 96, 120] { writeSegment(&sregs, at: offset, selector: 16, type: 3, long: false) }
        store(&sregs, 224, UInt64(0x8005_0033))   // cr0: PE MP ET NE WP AM PG
        store(&sregs, 240, UInt64(0x2000))        // cr3
        store(&sregs, 248, UInt64(1 << 5))        // cr4: PAE
        store(&sregs, 264, UInt64(0x500))         // efer: LME LMA
        guard vcpuIoctl(setSregs, &sregs) else { return fail("KVM_SET_SREGS (long mode) failed: \(errnoText())") }
        regs = [UInt8](repeating: 0, count: 144)
        store(&regs, 48, UInt64(8 << 20))         // rsp
        store(&regs, 128, UInt64(0x1100)); store(&regs, 136, UInt64(2))
        guard vcpuIoctl(setRegs, &regs) else { return fail("KVM_SET_REGS failed: \(errnoText())") }
        let clock = ContinuousClock()
        let start = clock.now
        guard let copied = runOnce() else { return fail("KVM_RUN failed: \(errnoText())") }
        let elapsed = clock.now - start
        guard copied.reason == exitIO, copied.value == 0x43 else {
            return fail("a 64-bit test guest did not run correctly (exit reason \(copied.reason))")
        }
        guard elapsed <= copyLimit else {
            return fail("a test guest copied 2 MiB in \(elapsed.formatted(.units(allowed: [.milliseconds]))) (limit \(copyLimit.formatted(.units(allowed: [.milliseconds])))); nested KVM this slow cannot boot real kernels")
        }
        return KVMProbeResult(usable: true, reason: "ok")
    }

    private static func store<T: FixedWidthInteger>(_ buffer: inout [UInt8], _ offset: Int, _ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes in
            for (i, b) in bytes.enumerated() { buffer[offset + i] = b }
        }
    }

    /// struct kvm_segment: base u64, limit u32, selector u16, type, present, dpl, db, s, l, g, avl, unusable.
    private static func writeSegment(_ sregs: inout [UInt8], at offset: Int, selector: UInt16, type: UInt8, long: Bool) {
        store(&sregs, offset, UInt64(0))
        store(&sregs, offset + 8, UInt32(0xFFFF_FFFF))
        store(&sregs, offset + 12, selector)
        let flags: [UInt8] = [type, 1, 0, long ? 0 : 1, 1, long ? 1 : 0, 1, 0, 0]   // type present dpl db s l g avl unusable
        for (i, f) in flags.enumerated() { sregs[offset + 14 + i] = f }
    }
}
