import Foundation
import Testing
import Hypervisor
@testable import QEMUDriver

@Suite struct QEMUDriverUnitTests {
    @Test func procStatParsesCommandNamesWithSpacesAndParens() throws {
        let fields = (4...52).map(String.init)
        // state R, utime (field 14) = 14, stime (15) = 15, processor (39) = 39
        let line = "1234 (qemu (x) y) R " + fields.joined(separator: " ")
        let stat = try #require(ProcStat(text: line))
        #expect(stat.state == "R")
        #expect(stat.utimeTicks == 14 && stat.stimeTicks == 15)
        #expect(stat.processor == 39)
        #expect(stat.totalNs == 29 * ProcStat.nsPerTick)
        #expect(ProcStat(text: "garbage") == nil)
        #expect(ProcStat(text: "1 (x) R 1 2") == nil)
    }

    @Test func procStatOfThisProcess() throws {
        let me = try #require(ProcStat(pid: getpid()))
        #expect(me.state == "R" || me.state == "S")
    }

    @Test func qmpRunStatesMapToLibvirtStates() {
        let running = DomainStateReason(.running, DomainStateReason.runningBooted)
        #expect(stateFromQMP("running", previous: running) == running)
        #expect(stateFromQMP("paused", previous: running) == DomainStateReason(.paused, DomainStateReason.pausedUser))
        #expect(stateFromQMP("io-error", previous: running) == DomainStateReason(.paused, 5))
        #expect(stateFromQMP("guest-panicked", previous: running) == DomainStateReason(.crashed, 1))
        let paused = DomainStateReason(.paused, DomainStateReason.pausedUser)
        #expect(stateFromQMP("running", previous: paused) == DomainStateReason(.running, DomainStateReason.runningUnpaused))
        #expect(stateFromQMP("something-new", previous: running).state == .paused)
    }

    @Test func shellQuotingRoundTripsThroughSh() throws {
        let argv = ["/bin/echo", "plain", "with space", "it's", #"{"a":"b"}"#, ""]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", shellQuoted(argv)]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        p.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(text == "plain with space it's {\"a\":\"b\"} \n")
    }

    @Test func stateRootLayoutAndIDs() throws {
        let dir = try makeTempDir("layout")
        defer { FileIO.remove(dir) }
        _ = try QEMUDriver.open(root: dir + "/")
        for sub in ["etc/qemu/autostart", "run/qemu", "log/qemu", "cache/qemu", "lib/qemu"] {
            #expect(FileIO.exists("\(dir)/\(sub)"))
        }
        let state = StateDir(root: dir)
        let a = try state.allocateID(), b = try state.allocateID()
        #expect(b == a + 1)
        #expect(throws: VirError.self) { _ = try QEMUDriver.open(root: "relative/path") }
    }

    @Test func uriPercentEncodesTheRoot() async throws {
        let dir = try makeTempDir("uri") + "/my vms&x"
        defer { FileIO.remove(dir) }
        let d = try QEMUDriver.open(root: dir)
        let uri = try await d.uri()
        #expect(uri.hasSuffix("/my%20vms%26x"))
        #expect(try ConnectionURI(parsing: uri)[param: "root"] == dir)
    }

    @Test func atomicWriteReplacesWholeFile() throws {
        let dir = try makeTempDir("atomic")
        defer { FileIO.remove(dir) }
        let path = "\(dir)/f.xml"
        try FileIO.writeAtomically("first version, longer", to: path)
        try FileIO.writeAtomically("second", to: path)
        #expect(FileIO.readString(path) == "second")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["f.xml"])
    }

    @Test func fileLocksExcludeWithinOneProcess() async throws {
        let dir = try makeTempDir("lock")
        defer { FileIO.remove(dir) }
        let first = try #require(try FileLock.tryAcquire("\(dir)/x.lock"))
        #expect(try FileLock.tryAcquire("\(dir)/x.lock") == nil)
        await #expect(throws: VirError.self) { _ = try await FileLock.acquire("\(dir)/x.lock", timeout: 0.1, what: "test") }
        first.release()
        #expect(try FileLock.tryAcquire("\(dir)/x.lock") != nil)
    }

    @Test func blockStatsAreMatchedByImagePath() {
        let devices: QMPValue = [
            ["qdev": "/machine/peripheral/virtio-disk0/virtio-backend", "device": "",
             "inserted": ["file": "/img/a.qcow2", "image": ["filename": "/img/a.qcow2"]]],
            ["qdev": "ide0-0-1", "device": ""],
        ]
        let stats: QMPValue = [
            ["qdev": "/machine/peripheral/virtio-disk0/virtio-backend", "device": "", "node-name": "libvirt-1-format",
             "stats": ["rd_operations": 7, "rd_bytes": 4096]],
            ["qdev": "ide0-0-1", "stats": ["rd_operations": 1]],
        ]
        let byPath = QEMUDriver.blockStatsByPath(stats: stats, devices: devices)
        #expect(byPath.count == 1)
        #expect(byPath["/img/a.qcow2"]?["rd_operations"] == 7)
        #expect(QEMUDriver.blockStatsByPath(stats: "garbage", devices: nil).isEmpty)
    }
}
