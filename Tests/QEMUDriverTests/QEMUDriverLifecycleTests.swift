import Foundation
import Testing
import DomainXML
import Hypervisor
@testable import QEMUDriver
#if canImport(Glibc)
import Glibc
#endif

/// A temporary state root; `cleanup()` kills only the QEMUs (and supervisors) started under it, by pid.
struct TempRoot {
    let path: String
    init() throws { path = try makeTempDir("root") }

    func driver() throws -> QEMUDriver { try QEMUDriver.open(root: path) }

    func runDir(_ name: String) -> String { "\(path)/run/qemu/\(name)" }

    func qemuPid(_ name: String) -> Int32? { ProcessSupervisor.readPid("\(runDir(name))/qemu.pid") }

    func cleanup() {
        let runRoot = "\(path)/run/qemu"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: runRoot)) ?? [] {
            for file in ["qemu.pid", "supervisor.pid"] {
                if let pid = ProcessSupervisor.readPid("\(runRoot)/\(name)/\(file)"), ProcessSupervisor.isAlive(pid) {
                    kill(pid, SIGKILL)
                }
            }
        }
        FileIO.remove(path)
    }
}

/// A guest that never boots an OS: SeaBIOS finds nothing and waits, enough for lifecycle tests.
func biosOnlyXML(_ name: String, uuid: String? = nil, emulator: String = qemuBinary, extraOS: String = "",
                 extraDevices: String = "") -> String {
    """
    <domain type='qemu'>
      <name>\(name)</name>
    \(uuid.map { "  <uuid>\($0)</uuid>\n" } ?? "")  <memory unit='MiB'>32</memory>
      <vcpu>1</vcpu>
      <os>
        <type arch='x86_64' machine='pc'>hvm</type>\(extraOS)
      </os>
      <devices>
        <emulator>\(emulator)</emulator>\(extraDevices)
        <serial type='pty'>
          <target port='0'/>
        </serial>
        <console type='pty'>
          <target type='serial' port='0'/>
        </console>
      </devices>
    </domain>
    """
}

func capture<T: Sendable>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do { return .success(try await body()) } catch { return .failure(error) }
}

func domainXMLWorks() -> Bool { (try? Domain(xml: biosOnlyXML("probe"))) != nil }

@Suite(.enabled(if: haveQEMU && domainXMLWorks(), "needs QEMU and the DomainXML parser"), .serialized)
struct QEMUDriverLifecycleTests {
    @Test func defineStartSuspendResumeDestroySeenByASecondProcess() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let d1 = try root.driver()
        let events = try await d1.events()
        let def = try await d1.defineDomain(xml: biosOnlyXML("vm1"), validate: true)
        #expect(def.id == -1)
        #expect(try await d1.domainState(def) == DomainStateReason(.shutoff, 0))
        #expect(FileIO.exists("\(root.path)/etc/qemu/vm1.xml"))

        let started = try await d1.startDomain(def, flags: [])
        #expect(started.id > 0)
        #expect(try await d1.domainState(started) == DomainStateReason(.running, DomainStateReason.runningBooted))
        await #expect(throws: VirError.alreadyRunning("vm1")) { _ = try await d1.startDomain(def, flags: []) }

        // A second driver on the same root stands for a new corral process.
        let d2 = try root.driver()
        let seen = try await d2.lookupDomain(name: "vm1")
        #expect(seen == started)
        #expect(try await d2.lookupDomain(id: started.id) == started)
        #expect(try await d2.domainState(seen).state == .running)
        #expect(try await d2.listAllDomains(flags: .active) == [started])
        #expect(try await d2.listAllDomains(flags: .inactive).isEmpty)
        let live = try await d2.domainXML(seen, flags: [])
        #expect(live.contains("id='\(started.id)'"))
        #expect(live.contains("/dev/pts/"))
        #expect(!(try await d2.domainXML(seen, flags: .inactive)).contains("/dev/pts/"))
        #expect(FileIO.readString("\(root.path)/log/qemu/vm1.log")?.contains("-pidfile") == true)

        try await d1.suspendDomain(started)
        #expect(try await d2.domainState(seen) == DomainStateReason(.paused, DomainStateReason.pausedUser))
        #expect(try await d2.listAllDomains(flags: .paused) == [started])
        try await d2.resumeDomain(seen)
        #expect(try await d1.domainState(started) == DomainStateReason(.running, DomainStateReason.runningUnpaused))

        let info = try await d2.domainInfo(seen)
        #expect(info.state == .running && info.maxMemKiB == 32 * 1024 && info.nrVirtCPU == 1)
        let vcpus = try await d2.vcpuInfo(seen)
        #expect(vcpus.count == 1)
        let stats = try await d2.allDomainStats(nil, types: .all)
        let params = Dictionary(stats.first?.params.map { ($0.field, $0.value) } ?? [], uniquingKeysWith: { a, _ in a })
        #expect(params["state.state"] == .int(DomainState.running.rawValue))
        #expect(params["balloon.maximum"] == .ullong(32 * 1024))
        #expect(params["vcpu.current"] == .uint(1))
        #expect(params["cpu.time"] != nil)

        let qemuPid = try #require(root.qemuPid("vm1"))
        try await d2.destroyDomain(seen, flags: 0)
        #expect(!ProcessSupervisor.isAlive(qemuPid))
        #expect(!FileIO.exists(root.runDir("vm1")))
        #expect(try await d1.domainState(def) == DomainStateReason(.shutoff, DomainStateReason.shutoffDestroyed))
        let d3 = try root.driver()
        #expect(try await d3.domainState(try await d3.lookupDomain(name: "vm1")).reason == DomainStateReason.shutoffDestroyed)
        #expect(try await d3.lookupDomain(name: "vm1").id == -1)

        // d1's own actions, already buffered (d2's resume and destroy are d2's events).
        var kinds: [DomainEvent.Kind] = []
        for await e in events {
            kinds.append(e.kind)
            if kinds.count == 3 { break }
        }
        #expect(kinds == [.defined, .started, .suspended])
        await d1.close()
    }

    @Test func killedQEMUIsReportedCrashedByANewProcess() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let d1 = try root.driver()
        let dom = try await d1.startDomain(try await d1.defineDomain(xml: biosOnlyXML("vm2"), validate: true), flags: .paused)
        #expect(try await d1.domainState(dom).state == .paused)
        let pid = try #require(root.qemuPid("vm2"))
        kill(pid, SIGKILL)
        #expect(await waitUntil(10) { FileIO.exists("\(root.runDir("vm2"))/exit-status") })
        let d2 = try root.driver()
        let ref = try await d2.lookupDomain(name: "vm2")
        #expect(try await d2.domainState(ref) == DomainStateReason(.shutoff, DomainStateReason.shutoffCrashed))
        #expect(try await d2.domainState(ref).virshDescription == "shut off (crashed)")
        #expect(!FileIO.exists(root.runDir("vm2")))
        #expect(FileIO.readString("\(root.path)/log/qemu/vm2.log")?.contains("shutting down, reason=crashed") == true)
        // And the domain starts again.
        let again = try await d2.startDomain(ref, flags: [])
        #expect(again.id > dom.id)
        try await d2.destroyDomain(again, flags: 0)
    }

    @Test func twoProcessesStartingOneDomainStartItOnce() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let d1 = try root.driver(), d2 = try root.driver()
        let dom = try await d1.defineDomain(xml: biosOnlyXML("race"), validate: true)
        async let r1 = capture { try await d1.startDomain(dom, flags: []) }
        async let r2 = capture { try await d2.startDomain(dom, flags: []) }
        let results = await [r1, r2]
        let ok = results.compactMap { try? $0.get() }
        #expect(ok.count == 1)
        for case .failure(let e) in results { #expect(e as? VirError == VirError.alreadyRunning("race")) }
        let running = try await d2.listAllDomains(flags: .active)
        #expect(running.count == 1)
        try await d1.destroyDomain(dom, flags: 0)
    }

    @Test func leftoversOfADeadProcessAreCleanedUp() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let d = try root.driver()
        let dom = try await d.defineDomain(xml: biosOnlyXML("ghost"), validate: true)
        // A start that died half-way: run dir with a garbage status file, no exit-status, no live process.
        let run = root.runDir("ghost")
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: "\(run)/status.json"))
        try Data("999999999\n".utf8).write(to: URL(fileURLWithPath: "\(run)/qemu.pid"))
        #expect(try await d.domainState(dom) == DomainStateReason(.shutoff, DomainStateReason.shutoffFailed))
        #expect(!FileIO.exists(run))
        // A running record whose processes are gone (supervisor killed too): crashed.
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        let started = try await d.startDomain(dom, flags: [])
        let pid = try #require(root.qemuPid("ghost"))
        let supervisor = try #require(ProcessSupervisor.readPid("\(run)/supervisor.pid"))
        kill(supervisor, SIGKILL)
        kill(pid, SIGKILL)
        #expect(await waitUntil(10) { !ProcessSupervisor.isAlive(pid) && !ProcessSupervisor.isAlive(supervisor) })
        #expect(!FileIO.exists("\(run)/exit-status"))
        #expect(try await d.domainState(started) == DomainStateReason(.shutoff, DomainStateReason.shutoffCrashed))
        #expect(!FileIO.exists(run))
    }

    @Test func eventListenersHearAboutGuestsStoppingOnTheirOwn() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let d = try root.driver()
        let dom = try await d.createDomain(xml: biosOnlyXML("watched"), flags: [])
        let events = try await d.events()
        kill(try #require(root.qemuPid("watched")), SIGKILL)
        let stopped = Task { () -> DomainEvent? in
            for await e in events where e.kind == .stopped { return e }
            return nil
        }
        let timeout = Task { try await Task.sleep(nanoseconds: 15_000_000_000); stopped.cancel() }
        let event = await stopped.value
        timeout.cancel()
        #expect(event == DomainEvent(domain: DomainRef(name: "watched", uuid: dom.uuid, id: -1), kind: .stopped,
                                     detail: EventDetail.stoppedCrashed))
        await d.close()
    }

    @Test func transientDomainDisappearsWhenStopped() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let d = try root.driver()
        let dom = try await d.createDomain(xml: biosOnlyXML("tr"), flags: [])
        #expect(try await d.isPersistent(dom) == false)
        #expect(try await d.listAllDomains(flags: .transient) == [dom])
        await #expect(throws: VirError.self) { try await d.setAutostart(dom, true) }
        try await d.destroyDomain(dom, flags: 0)
        await #expect(throws: VirError.noDomain(name: "tr")) { _ = try await d.lookupDomain(name: "tr") }
        #expect(try await d.listAllDomains(flags: [.active, .inactive]).isEmpty)
    }

    @Test func autodestroyDomainsEndWithTheConnection() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let d = try root.driver()
        let kept = try await d.createDomain(xml: biosOnlyXML("kept"), flags: [])
        _ = try await d.createDomain(xml: biosOnlyXML("doomed"), flags: .autodestroy)
        await d.close()
        let d2 = try root.driver()
        #expect(try await d2.listAllDomains(flags: .active) == [kept])
        try await d2.destroyDomain(kept, flags: 0)
    }

    @Test func undefineRunningDomainLeavesItTransient() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let d = try root.driver()
        let dom = try await d.startDomain(try await d.defineDomain(xml: biosOnlyXML("und"), validate: true), flags: [])
        try await d.setAutostart(dom, true)
        #expect(try await d.autostart(dom))
        #expect(try await d.listAllDomains(flags: .autostart) == [dom])
        try await d.undefineDomain(dom, flags: 0)
        #expect(try await d.isPersistent(dom) == false)
        #expect(try await d.domainState(dom).state == .running)
        try await d.destroyDomain(dom, flags: 0)
        await #expect(throws: VirError.self) { _ = try await d.lookupDomain(uuid: dom.uuid) }
    }

    @Test func vncAutoportAndPasswordAreSetUp() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let d = try root.driver()
        let xml = biosOnlyXML("vnc", extraDevices: "\n    <graphics type='vnc' autoport='yes' listen='127.0.0.1' passwd='s3cret'/>")
        let dom = try await d.createDomain(xml: xml, flags: [])
        let live = try await d.domainXML(dom, flags: .secure)
        let port = try #require(live.firstMatch(of: /graphics type='vnc' port='(\d+)'/).flatMap { Int($0.1) })
        #expect(port >= 5900)
        #expect(!(try await d.domainXML(dom, flags: [])).contains("s3cret"))
        // The password is not on QEMU's command line.
        #expect(FileIO.readString("\(root.path)/log/qemu/vnc.log")?.contains("s3cret") == false)
        try await d.destroyDomain(dom, flags: 0)
    }

    @Test func missingKernelIsNamedAndLeavesNoRunDir() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let d = try root.driver()
        let xml = biosOnlyXML("nokernel", extraOS: "\n    <kernel>/nonexistent/vmlinuz</kernel>")
        let dom = try await d.defineDomain(xml: xml, validate: true)
        do {
            _ = try await d.startDomain(dom, flags: [])
            Issue.record("start should fail")
        } catch let e as VirError {
            #expect(e.message.contains("/nonexistent/vmlinuz"))
        }
        #expect(!FileIO.exists(root.runDir("nokernel")))
        #expect(try await d.domainState(dom).state == .shutoff)
    }

    @Test func missingEmulatorIsAClearError() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let d = try root.driver()
        do {
            _ = try await d.createDomain(xml: biosOnlyXML("noemu", emulator: "/usr/bin/qemu-system-nosuch"), flags: [])
            Issue.record("start should fail")
        } catch let e as VirError {
            #expect(e.message == "Cannot find QEMU binary /usr/bin/qemu-system-nosuch: No such file or directory")
        }
        #expect(!FileIO.exists(root.runDir("noemu")))
        #expect(try await d.listAllDomains(flags: []).isEmpty)
    }

    @Test func qemuFailingAtStartReportsItsStderr() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let d = try root.driver()
        // QEMU itself rejects the disk: the error carries QEMU's own message from the log.
        let bad = "\(root.path)/not-a-qcow2.img"
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: bad))
        let xml = biosOnlyXML("qfail", extraDevices: """

            <disk type='file' device='disk'>
              <driver name='qemu' type='qcow2'/>
              <source file='\(bad)'/>
              <target dev='vda' bus='virtio'/>
            </disk>
        """)
        let dom = try await d.defineDomain(xml: xml, validate: true)
        do {
            _ = try await d.startDomain(dom, flags: [])
            Issue.record("start should fail")
        } catch let e as VirError {
            #expect(e.message.hasPrefix("internal error: QEMU unexpectedly closed the monitor (vm='qfail'): "))
            #expect(e.message.contains("qemu-system-x86_64"))
        }
        #expect(!FileIO.exists(root.runDir("qfail")))
        #expect(try await d.domainState(dom) == DomainStateReason(.shutoff, DomainStateReason.shutoffFailed))
    }

    @Test func defineClashRules() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let d = try root.driver()
        let u1 = "11111111-2222-3333-4444-555555555555"
        let a = try await d.defineDomain(xml: biosOnlyXML("a", uuid: u1), validate: true)
        #expect(a.uuid == UUID(uuidString: u1))
        // Same name and uuid: an update.
        #expect(try await d.defineDomain(xml: biosOnlyXML("a", uuid: u1), validate: true) == a)
        await #expect(throws: VirError.operationFailed("domain 'a' already exists with uuid \(u1)")) {
            _ = try await d.defineDomain(xml: biosOnlyXML("a", uuid: "99999999-2222-3333-4444-555555555555"), validate: true)
        }
        await #expect(throws: VirError.operationFailed("domain 'a' is already defined with uuid \(u1)")) {
            _ = try await d.defineDomain(xml: biosOnlyXML("b", uuid: u1), validate: true)
        }
        await #expect(throws: VirError.self) { _ = try await d.defineDomain(xml: "<domain>", validate: true) }
    }

    @Test func hostInformation() async throws {
        let root = try TempRoot()
        defer { root.cleanup() }
        let d = try root.driver()
        #expect(try await d.uri() == "qemu:///embed?root=\(root.path)")
        #expect(try await d.hypervisorVersion() >= 7_000_000)
        let caps = try await d.capabilitiesXML()
        #expect(caps.contains("<emulator>/usr/bin/qemu-system-x86_64</emulator>"))
        #expect(caps.contains("<domain type='qemu'/>"))
        let dcaps = try await d.domainCapabilitiesXML(emulator: nil, arch: nil, machine: nil, virtType: "qemu")
        #expect(dcaps.contains("<path>/usr/bin/qemu-system-x86_64</path>"))
        let node = try await d.nodeInfo()
        #expect(node.cpus >= 1 && node.memoryKiB > 0)
        let argv = try await d.domainXMLToNative(format: "qemu-argv", xml: biosOnlyXML("n"))
        #expect(argv.contains("/usr/bin/qemu-system-x86_64"))
        await #expect(throws: VirError.unsupported("Unsupported config type xen-xm")) {
            _ = try await d.domainXMLToNative(format: "xen-xm", xml: biosOnlyXML("n"))
        }
    }
}
