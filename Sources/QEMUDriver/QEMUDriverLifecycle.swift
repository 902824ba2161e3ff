import Foundation
import DomainXML
import Hypervisor
import HostNetworks
#if canImport(Glibc)
import Glibc
#endif

extension QEMUDriver {
    // MARK: Reconciliation

    /// Settles every domain whose QEMU has gone away. Domains locked by another operation
    /// (e.g. a start in progress in another process) are left alone.
    func reconcileAll() {
        let fm = FileManager.default
        for name in state.runDirNames() {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: state.domainRunDir(name), isDirectory: &isDir), isDir.boolValue else { continue }
            guard let lock = try? FileLock.tryAcquire(state.domainLock(name)) else { continue }
            reconcileLocked(name)
            lock.release()
        }
    }

    /// With the domain lock held: if QEMU has exited, record why, remove the run dir and report it.
    /// Returns true when the domain is (still) running.
    @discardableResult
    func reconcileLocked(_ name: String) -> Bool {
        let runDir = state.domainRunDir(name)
        guard FileIO.exists(runDir) else { return false }
        let status = loadStatus(name)
        let pid = status?.pid ?? ProcessSupervisor.readPid("\(runDir)/qemu.pid") ?? 0
        let supervisor = ProcessSupervisor.readPid(state.supervisorPid(name)) ?? 0
        let destroyed = FileIO.exists(state.destroyIntent(name))
        let reason: DomainStateReason
        let detail: Int32
        if let text = FileIO.readString(state.exitStatus(name)), let code = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            if destroyed {
                (reason, detail) = (DomainStateReason(.shutoff, DomainStateReason.shutoffDestroyed), EventDetail.stoppedDestroyed)
            } else if code == 0 {
                (reason, detail) = (DomainStateReason(.shutoff, DomainStateReason.shutoffShutdown), EventDetail.stoppedShutdown)
            } else {
                // Killed by a signal (128+N) or failed while running: libvirt calls both "crashed".
                (reason, detail) = (DomainStateReason(.shutoff, DomainStateReason.shutoffCrashed), EventDetail.stoppedCrashed)
            }
        } else if status == nil {
            // Nobody holds the lock yet no status was written: a start died half-way. The shell leads
            // its own session and process group, with QEMU in it, so one signal ends both.
            if ProcessSupervisor.isRunning(supervisor, executable: "/bin/sh") { kill(-supervisor, SIGKILL) }
            if ProcessSupervisor.isAlive(pid) { kill(pid, SIGKILL) }
            (reason, detail) = (DomainStateReason(.shutoff, DomainStateReason.shutoffFailed), EventDetail.stoppedFailed)
        } else if status?.bootID != nil && status?.bootID != ProcessSupervisor.bootID {
            // The host rebooted since the start: nothing recorded here is running any more.
            (reason, detail) = (DomainStateReason(.shutoff, DomainStateReason.shutoffCrashed), EventDetail.stoppedCrashed)
        } else if ProcessSupervisor.isRunning(pid, executable: status?.emulator ?? "")
                    || ProcessSupervisor.isRunning(supervisor, executable: "/bin/sh") {
            // While only the shell lives, it is about to record QEMU's exit: still running until then.
            return true
        } else {
            (reason, detail) = destroyed
                ? (DomainStateReason(.shutoff, DomainStateReason.shutoffDestroyed), EventDetail.stoppedDestroyed)
                : (DomainStateReason(.shutoff, DomainStateReason.shutoffCrashed), EventDetail.stoppedCrashed)
        }
        let live = loadRunning(name)?.0
        let persistent = FileIO.exists(state.configPath(name))
        if persistent { writeShutoff(name, reason) }
        releaseTaps(domain: name)
        FileIO.remove(runDir)
        FileIO.append("\(Self.timestamp()): shutting down, reason=\(reason.reasonName)\n", to: state.logPath(name))
        if let live, let uuid = live.uuid, status != nil {
            emit(DomainRef(name: name, uuid: uuid, id: -1), .stopped, detail)
        }
        return false
    }

    // MARK: Starting

    public func startDomain(_ dom: DomainRef, flags: DomainCreateFlags) async throws -> DomainRef {
        let e = try resolve(dom)
        let lock = try await FileLock.acquire(state.domainLock(e.name), what: "domain")
        defer { lock.release() }
        if reconcileLocked(e.name) { throw VirError.alreadyRunning(e.name) }
        guard let def = e.config else { throw VirError.operationInvalid("domain '\(e.name)' is not persistent") }
        return try await launch(def, flags: flags)
    }

    public func createDomain(xml: String, flags: DomainCreateFlags) async throws -> DomainRef {
        let def = try parseDefinition(xml)
        let lock = try await FileLock.acquire(state.domainLock(def.name), what: "domain")
        defer { lock.release() }
        if let existing = try checkClash(def, entries: loadEntries()), reconcileLocked(existing.name) {
            throw VirError.operationInvalid("domain '\(def.name)' is already active")
        }
        return try await launch(def, flags: flags)
    }

    /// Starts QEMU for `def` (domain lock held, not running): host side of its NICs, checks, argv,
    /// supervised spawn, QMP handshake, pty discovery, then `cont` unless starting paused.
    func launch(_ def: Domain, flags: DomainCreateFlags) async throws -> DomainRef {
        var def = def
        let interfaces = try await setUpInterfaces(&def)
        do {
            return try await launchPrepared(def, flags: flags, interfaces: interfaces)
        } catch {
            NetworkManager.removeTaps(interfaces.taps, createdIn: nil)
            throw error
        }
    }

    private func launchPrepared(_ def: Domain, flags: DomainCreateFlags,
                                interfaces: (backends: [Int: InterfaceBackend], taps: [String])) async throws -> DomainRef {
        let name = def.name
        let emulator = emulatorPath(for: def)
        guard access(emulator, X_OK) == 0 else {
            throw VirError(.systemError, "Cannot find QEMU binary \(emulator): \(String(cString: strerror(errno)))", domain: .qemu)
        }
        // QEMU gets the volumes' paths; the live XML keeps <disk type='volume'> as written.
        let resolved = try await resolvingVolumes(def)
        try checkSourceFiles(resolved)
        let caps = try capabilities(emulator: emulator)
        let accel = try accelerator(for: def)

        var context = state.launchContext(name, accel: accel)
        context.interfaceBackends = interfaces.backends
        // QEMU picks a free VNC port itself (to=); SPICE needs one chosen here.
        for (i, g) in def.devices.graphics.enumerated() where g.type == "spice" && (g.autoport == true || g.port == nil || g.port == -1) {
            context.graphicsPorts[i] = try Self.freeTCPPort(from: 5900 + i, avoiding: Set(context.graphicsPorts.values))
        }

        let runDir = state.domainRunDir(name)
        FileIO.remove(runDir)
        do {
            try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw VirError(.systemError, "cannot create directory '\(runDir)': \(error.localizedDescription)", domain: .qemu)
        }
        recordTaps(interfaces.taps, domain: name)
        var argv: [String]
        do {
            argv = try QEMUCommandLine.build(resolved, context: context, caps: caps)
        } catch let error as DomainXMLError {
            FileIO.remove(runDir)
            throw VirError.unsupported(error.message)
        } catch {
            FileIO.remove(runDir)
            throw error
        }
        if !argv.contains("-pidfile") { argv.insert(contentsOf: ["-pidfile", context.pidFile], at: min(1, argv.count)) }
        if !argv.contains("-S") { argv.insert("-S", at: min(1, argv.count)) }
        if let first = argv.first, first != emulator { argv[0] = emulator }

        let id: Int32
        do { id = try state.allocateID() } catch { FileIO.remove(runDir); throw error }
        let logPath = state.logPath(name)
        FileIO.append("\(Self.timestamp()): starting up corral, qemu version: \(caps.version.map(String.init).joined(separator: "."))\n"
                      + shellQuoted(argv) + "\n", to: logPath)
        // What QEMU writes from here on is what a failed start reports.
        let logStart = FileIO.size(logPath)

        do {
            try ProcessSupervisor.spawn(argv: argv, logPath: logPath, exitStatusPath: state.exitStatus(name),
                                        supervisorPidPath: state.supervisorPid(name))
            let started = try await handshake(withLiveAliases(def), id: id, context: context, logStart: logStart, paused: flags.contains(.paused))
            let ref = DomainRef(name: name, uuid: def.uuid ?? UUID(), id: id)
            if FileIO.exists(state.configPath(name)) { FileIO.remove(state.shutoffRecord(name)) }
            if flags.contains(.autodestroy) { autodestroy.append(ref) }
            emit(ref, .started, EventDetail.startedBooted)
            if started.state == DomainState.paused.rawValue { emit(ref, .suspended, EventDetail.suspendedPaused) }
            return ref
        } catch {
            await killAndWait(name, pid: ProcessSupervisor.readPid(context.pidFile) ?? 0, graceful: false)
            FileIO.remove(runDir)
            if FileIO.exists(state.configPath(name)) {
                writeShutoff(name, DomainStateReason(.shutoff, DomainStateReason.shutoffFailed))
            }
            FileIO.append("\(Self.timestamp()): shutting down, reason=failed\n", to: logPath)
            throw error
        }
    }

    /// Connects to the new QEMU's monitor, learns its ptys, writes the status files and resumes it.
    private func handshake(_ def: Domain, id: Int32, context: QEMULaunchContext, logStart: UInt64,
                           paused: Bool) async throws -> DomainStatus {
        let name = def.name
        let deadline = Date().addingTimeInterval(30)
        let monitorLock = try await FileLock.acquire(state.monitorLock(name), what: "monitor")
        defer { monitorLock.release() }
        var client: QMPClient?
        while client == nil {
            if FileIO.exists(state.exitStatus(name)) {
                // Like libvirt, leave out QEMU's informational pty lines; keep its error messages.
                let stderr = FileIO.tail(state.logPath(name), from: logStart).split(separator: "\n")
                    .filter { !$0.hasPrefix("char device redirected to ") }.joined(separator: "\n")
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                throw VirError.internalError("QEMU unexpectedly closed the monitor (vm='\(name)'): \(stderr)")
            }
            if Date() > deadline {
                throw VirError(.operationTimeout, "Timed out during operation: QEMU monitor of domain '\(name)' did not come up within 30 seconds", domain: .qemu)
            }
            if FileIO.exists(context.qmpSocket) {
                client = try? await QMPClient.connect(path: context.qmpSocket, timeout: .seconds(10))
            }
            // Short polls: QEMU usually opens its monitor within tens of milliseconds.
            if client == nil { try await Task.sleep(nanoseconds: 5_000_000) }
        }
        guard let qmp = client else { throw QMPError.connectionClosed }
        do {
            var live = def
            live.id = Int(id)
            var serialPTYs = [String?](repeating: nil, count: def.devices.serials.count)
            var consolePTYs = [String?](repeating: nil, count: def.devices.consoles.count)
            let chardevs = try await qmp.execute("query-chardev").array ?? []
            var ptyByLabel: [String: String] = [:]
            for dev in chardevs {
                if let label = dev["label"]?.string, let file = dev["filename"]?.string, file.hasPrefix("pty:") {
                    ptyByLabel[label] = String(file.dropFirst(4))
                }
            }
            for (i, serial) in def.devices.serials.enumerated() where serial.type == "pty" {
                serialPTYs[i] = ptyByLabel["charserial\(i)"]
                live.devices.serials[i].sourcePath = serialPTYs[i]
            }
            for (i, console) in def.devices.consoles.enumerated() where console.type == "pty" {
                // libvirt's first console with a serial target is serial0 itself.
                let isSerial = (console.targetType ?? "serial") == "serial" && i == 0
                consolePTYs[i] = isSerial ? serialPTYs.first ?? nil : ptyByLabel["charconsole\(i)"]
                live.devices.consoles[i].sourcePath = consolePTYs[i]
                // libvirt's live XML also names a pty console's device in a tty attribute.
                if let tty = consolePTYs[i] {
                    live.devices.consoles[i].extra.attributes.removeAll { $0.name == "tty" }
                    live.devices.consoles[i].extra.attributes.append(XMLAttribute("tty", tty))
                }
            }
            var pid: Int32 = 0
            let pidDeadline = Date().addingTimeInterval(5)
            while pid == 0 {
                pid = ProcessSupervisor.readPid(context.pidFile) ?? 0
                if pid == 0 {
                    guard Date() < pidDeadline else { throw VirError.internalError("QEMU did not write its pid file \(context.pidFile)") }
                    try await Task.sleep(nanoseconds: 20_000_000)
                }
            }
            for (i, g) in def.devices.graphics.enumerated() {
                // Passwords stay off the command line (visible in ps); QEMU gets them here.
                if let pw = g.passwd, g.type == "vnc" || g.type == "spice" {
                    try await qmp.execute("set_password", arguments: ["protocol": .string(g.type), "password": .string(pw)])
                }
                if g.type == "vnc", g.autoport == true || g.port == nil || g.port == -1,
                   let service = try await qmp.execute("query-vnc")["service"]?.string, let port = Int(service) {
                    live.devices.graphics[i].port = port
                } else if g.type == "spice", let port = context.graphicsPorts[i] {
                    live.devices.graphics[i].port = port
                }
            }
            if !paused { try await qmp.execute("cont") }
            let st = paused ? DomainStateReason(.paused, DomainStateReason.pausedUser)
                            : DomainStateReason(.running, DomainStateReason.runningBooted)
            let status = DomainStatus(id: id, pid: pid, state: st.state.rawValue, reason: st.reason,
                                      startTime: Date().timeIntervalSince1970, emulator: emulatorPath(for: def),
                                      serialPTYs: serialPTYs, consolePTYs: consolePTYs, bootID: ProcessSupervisor.bootID)
            try FileIO.writeAtomically(live.formatXML([.secure]), to: state.statusXML(name), durable: false)
            try writeStatus(name, status)
            await qmp.close()
            return status
        } catch let error as QMPError {
            await qmp.close()
            throw VirError.internalError("QEMU monitor of domain '\(name)': \(error)")
        } catch {
            await qmp.close()
            throw error
        }
    }

    /// The first TCP port from `start` (up to 65535) that nothing listens on, like libvirt's port allocator.
    static func freeTCPPort(from start: Int, avoiding taken: Set<Int>) throws -> Int {
        for port in start...65535 where !taken.contains(port) {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { break }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = INADDR_ANY
            let ok = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            Glibc.close(fd)
            if ok == 0 { return port }
        }
        throw VirError.internalError("Unable to find an unused port in range 'display' (\(start)-65535)")
    }

    func emulatorPath(for def: Domain) -> String {
        if let e = def.devices.emulator, !e.isEmpty { return e }
        return QEMUCommandLine.defaultEmulator
    }

    /// Files QEMU would fail on, named up front rather than in QEMU's words.
    func checkSourceFiles(_ def: Domain) throws {
        func check(_ path: String?, _ what: String) throws {
            guard let path, !path.isEmpty else { return }
            guard access(path, R_OK) == 0 else {
                throw VirError(.systemError, "Cannot access \(what) '\(path)': \(String(cString: strerror(errno)))", domain: .qemu)
            }
        }
        try check(def.os.kernel, "kernel file")
        try check(def.os.initrd, "initrd file")
        try check(def.os.loader?.path, "loader file")
        for disk in def.devices.disks where disk.type == "file" || disk.type == "block" {
            try check(disk.sourcePath, "storage file")
        }
    }

    // MARK: Stopping

    public func shutdownDomain(_ dom: DomainRef, flags: UInt32) async throws {
        let e = try requireActive(dom)
        // Returns at once; the domain stays running until the guest powers off and QEMU exits.
        try await withMonitor(e.name) { qmp in try await qmp.execute("system_powerdown") }
    }

    public func destroyDomain(_ dom: DomainRef, flags: UInt32) async throws {
        let e = try resolve(dom)
        let lock = try await FileLock.acquire(state.domainLock(e.name), what: "domain")
        defer { lock.release() }
        guard reconcileLocked(e.name), let status = loadStatus(e.name) else { throw VirError.notRunning(e.name) }
        FileIO.append("destroy\n", to: state.destroyIntent(e.name))
        // VIR_DOMAIN_DESTROY_GRACEFUL (1): SIGTERM only, never SIGKILL.
        let graceful = flags & 1 != 0
        let exited = await killAndWait(e.name, pid: status.pid, graceful: graceful)
        guard exited else {
            throw VirError(.systemError, "Failed to terminate process \(status.pid) with SIGTERM: Device or resource busy", domain: .qemu)
        }
        reconcileLocked(e.name)
    }

    /// Asks QEMU to quit over QMP, then SIGTERM, then SIGKILL, waiting for the supervisor to record the exit.
    @discardableResult
    func killAndWait(_ name: String, pid: Int32, graceful: Bool) async -> Bool {
        func exited() -> Bool {
            FileIO.exists(state.exitStatus(name))
                || (!ProcessSupervisor.isAlive(pid) && !ProcessSupervisor.isAlive(ProcessSupervisor.readPid(state.supervisorPid(name)) ?? 0))
        }
        func waitExit(_ seconds: Double) async -> Bool {
            let deadline = Date().addingTimeInterval(seconds)
            while Date() < deadline {
                if exited() { return true }
                try? await Task.sleep(nanoseconds: 20_000_000)
            }
            return exited()
        }
        if exited() { return true }
        if FileIO.exists("\(state.domainRunDir(name))/monitor.sock"),
           let lock = try? await FileLock.acquire(state.monitorLock(name), timeout: 2, what: "monitor") {
            if let qmp = try? await QMPClient.connect(path: "\(state.domainRunDir(name))/monitor.sock", timeout: .seconds(3)) {
                _ = try? await qmp.execute("quit")
                await qmp.close()
            }
            lock.release()
            if await waitExit(5) { return true }
        }
        guard pid > 0 else { return await waitExit(5) }
        kill(pid, SIGTERM)
        if await waitExit(10) { return true }
        if graceful { return false }
        kill(pid, SIGKILL)
        return await waitExit(5)
    }

    // MARK: Running-state operations

    public func rebootDomain(_ dom: DomainRef, flags: UInt32) async throws {
        let e = try requireActive(dom)
        // Ctrl+Alt+Del lets the guest reboot itself cleanly (busybox init runs its ctrlaltdel action),
        // without the -no-shutdown/SHUTDOWN-event machinery libvirt's ACPI method needs.
        try await withMonitor(e.name) { qmp in
            try await qmp.execute("send-key", arguments: ["keys": [
                ["type": "qcode", "data": "ctrl"], ["type": "qcode", "data": "alt"], ["type": "qcode", "data": "delete"]]])
        }
    }

    public func resetDomain(_ dom: DomainRef) async throws {
        let e = try requireActive(dom)
        try await withMonitor(e.name) { qmp in try await qmp.execute("system_reset") }
    }

    public func suspendDomain(_ dom: DomainRef) async throws {
        let e = try requireActive(dom)
        try await withMonitor(e.name) { qmp in try await qmp.execute("stop") }
        try updateState(e.name, DomainStateReason(.paused, DomainStateReason.pausedUser))
        emit(e.ref, .suspended, EventDetail.suspendedPaused)
    }

    public func resumeDomain(_ dom: DomainRef) async throws {
        let e = try requireActive(dom)
        try await withMonitor(e.name) { qmp in try await qmp.execute("cont") }
        try updateState(e.name, DomainStateReason(.running, DomainStateReason.runningUnpaused))
        emit(e.ref, .resumed, EventDetail.resumedUnpaused)
    }

    public func domainState(_ dom: DomainRef) async throws -> DomainStateReason {
        let e = try resolve(dom)
        guard e.isActive, let status = e.status else { return shutoffState(e.name) }
        // Ask QEMU when the monitor is free (the guest may have paused itself); else trust the status file.
        guard let lock = try? FileLock.tryAcquire(state.monitorLock(e.name)) else { return status.domainState }
        defer { lock.release() }
        guard let qmp = try? await QMPClient.connect(path: "\(state.domainRunDir(e.name))/monitor.sock", timeout: .seconds(5)) else {
            return status.domainState
        }
        let reply = try? await qmp.execute("query-status")
        await qmp.close()
        guard let run = reply?["status"]?.string else { return status.domainState }
        let now = stateFromQMP(run, previous: status.domainState)
        if now != status.domainState { try? updateState(e.name, now) }
        return now
    }

    // MARK: Helpers

    func requireActive(_ dom: DomainRef) throws -> DomainEntry {
        let e = try resolve(dom)
        guard e.isActive else { throw VirError.notRunning(e.name) }
        return e
    }

    func updateState(_ name: String, _ st: DomainStateReason) throws {
        guard var status = loadStatus(name) else { return }
        status.state = st.state.rawValue
        status.reason = st.reason
        try writeStatus(name, status)
    }

    /// Runs QMP commands on a domain's monitor, one client at a time across processes.
    @discardableResult
    func withMonitor<T: Sendable>(_ name: String, _ body: (QMPClient) async throws -> T) async throws -> T {
        let lock = try await FileLock.acquire(state.monitorLock(name), timeout: 30, what: "monitor")
        defer { lock.release() }
        let qmp: QMPClient
        do {
            qmp = try await QMPClient.connect(path: "\(state.domainRunDir(name))/monitor.sock", timeout: .seconds(10))
        } catch {
            if FileIO.exists(state.exitStatus(name)) || !FileIO.exists(state.domainRunDir(name)) {
                throw VirError.notRunning(name)
            }
            throw VirError.internalError("cannot connect to the monitor of domain '\(name)': \(error)")
        }
        do {
            let result = try await body(qmp)
            await qmp.close()
            return result
        } catch let QMPError.command(_, desc) {
            await qmp.close()
            throw VirError.internalError("unable to execute QEMU command: \(desc)")
        } catch {
            await qmp.close()
            throw error
        }
    }

    static var hostArch: String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.machine) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    static func timestamp() -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss.SSSZ"
        return f.string(from: Date())
    }
}

/// argv as a shell would accept it (for logs and domxml-to-native).
func shellQuoted(_ argv: [String]) -> String {
    argv.map { arg in
        let safe = !arg.isEmpty && arg.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,@%+".contains($0) }
        return safe ? arg : "'" + arg.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }.joined(separator: " ")
}
