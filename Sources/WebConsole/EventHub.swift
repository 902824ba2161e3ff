import Foundation
import Hypervisor
import Synchronization

/// One browser tab's queue of event-stream messages. A tab that reads slowly must not hold up the
/// others, so pushing never waits: a newer stats message of a connection replaces a queued older
/// one (stats are totals, so the newest says everything), and past `capacity` the oldest message
/// goes.
final class Mailbox: Sendable {
    struct Item { var text: String; var statsOf: String? }
    private struct State {
        var queue: [Item] = []
        var waiter: CheckedContinuation<String?, Never>?
        var closed = false
    }
    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int = 256) { self.capacity = max(1, capacity) }

    /// Queues `text`; `statsOf` names the connection when it is a stats message.
    func push(_ text: String, statsOf: String? = nil) {
        let waiter: CheckedContinuation<String?, Never>? = state.withLock { s in
            if s.closed { return nil }
            if let w = s.waiter {
                s.waiter = nil
                return w
            }
            if let conn = statsOf { s.queue.removeAll { $0.statsOf == conn } }
            if s.queue.count >= capacity { s.queue.removeFirst(s.queue.count - capacity + 1) }
            s.queue.append(Item(text: text, statsOf: statsOf))
            return nil
        }
        waiter?.resume(returning: text)
    }

    /// The next message, waiting for one; nil once closed.
    func next() async -> String? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (cont: CheckedContinuation<String?, Never>) in
                let ready: String?? = state.withLock { s in
                    if !s.queue.isEmpty { return .some(s.queue.removeFirst().text) }
                    if s.closed || s.waiter != nil { return .some(nil) }
                    s.waiter = cont
                    return .none
                }
                if let ready { cont.resume(returning: ready) }
            }
        } onCancel: {
            close()
        }
    }

    func close() {
        let waiter = state.withLock { s -> CheckedContinuation<String?, Never>? in
            s.closed = true
            s.queue.removeAll()
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// What is queued (tests).
    var queued: [String] { state.withLock { $0.queue.map(\.text) } }
}

/// The event stream's source: per connection one feed (one driver event stream plus one stats
/// poller) shared by every subscribed tab, started when the first tab wants that connection and
/// stopped when the last one leaves. Connections added to the registry later are picked up by a
/// watcher that compares the registry's list every `statsInterval`.
actor EventHub {
    private struct Subscriber { var filter: Set<String>?; var mailbox: Mailbox }

    private let registry: ConnectionRegistry
    private let interval: Double
    private var subscribers: [UUID: Subscriber] = [:]
    private var feeds: [String: Task<Void, Never>] = [:]
    /// The last failure of each connection's feed, for tabs that subscribe while it is down.
    private var lastError: [String: String] = [:]
    private var watcher: Task<Void, Never>?
    /// Seconds to wait before the next retry of a failing connection.
    private var backoffs: [String: Double] = [:]

    init(registry: ConnectionRegistry, statsInterval: Double) {
        self.registry = registry
        // A zero or negative interval would spin; a tenth of a second is the floor.
        self.interval = max(0.1, statsInterval.isFinite ? statsInterval : 2)
    }

    /// Subscribes to the connections in `filter` (nil: all of them, including ones added later).
    func subscribe(_ filter: Set<String>?, mailbox: Mailbox) async -> UUID {
        let id = UUID()
        subscribers[id] = Subscriber(filter: filter, mailbox: mailbox)
        for (conn, message) in lastError where filter?.contains(conn) ?? true { mailbox.push(message) }
        await reconcile()
        if watcher == nil {
            let interval = interval
            watcher = Task { [weak self] in
                while !Task.isCancelled {
                    try? await Task.sleep(nanoseconds: UInt64(interval * 1e9))
                    guard let self, await self.reconcile() else { return }
                }
            }
        }
        return id
    }

    /// The connections whose feed runs now.
    var feedConnections: Set<String> { Set(feeds.keys) }

    func unsubscribe(_ id: UUID) async {
        subscribers[id]?.mailbox.close()
        subscribers[id] = nil
        await reconcile()
    }

    /// Starts feeds that someone wants and stops the rest; false when nobody listens any more.
    @discardableResult
    private func reconcile() async -> Bool {
        let known = Set(await registry.list().map(\.id))
        var wanted = Set<String>()
        for s in subscribers.values { wanted.formUnion(s.filter.map { $0.intersection(known) } ?? known) }
        for (conn, task) in feeds where !wanted.contains(conn) {
            task.cancel()
            feeds[conn] = nil
            lastError[conn] = nil
            backoffs[conn] = nil
        }
        for conn in wanted where feeds[conn] == nil {
            feeds[conn] = Task { [weak self] in await self?.runFeed(conn) }
        }
        if subscribers.isEmpty {
            watcher?.cancel()
            watcher = nil
            return false
        }
        return true
    }

    private func publish(_ conn: String, _ text: String, stats: Bool = false) {
        for s in subscribers.values where s.filter?.contains(conn) ?? true {
            s.mailbox.push(text, statsOf: stats ? conn : nil)
        }
    }

    private func failed(_ conn: String, _ message: String) {
        let text = LiveJSON.encode(ErrorMessage(connection: conn, message: message))
        lastError[conn] = text
        publish(conn, text)
    }

    private struct FeedEnded: Error, CustomStringConvertible {
        var description: String { "the connection's event stream ended" }
    }

    /// One connection's events and stats until cancelled; a failure is reported and retried after
    /// 1, 2, 4 ... 30 seconds, with the registry told to reopen the connection.
    private func runFeed(_ conn: String) async {
        while !Task.isCancelled {
            do {
                let driver = try await registry.driver(conn)
                let events: AsyncStream<DomainEvent>?
                do {
                    events = try await driver.events()
                } catch let e as VirError where e.code == .noSupport {
                    events = nil  // an old server without event callbacks still gives stats
                }
                let interval = interval
                try await withThrowingTaskGroup(of: Void.self) { group in
                    if let events {
                        group.addTask {
                            for await ev in events {
                                let text = await LiveJSON.lifecycle(ev, connection: conn, driver: driver)
                                await self.publish(conn, text)
                            }
                            try Task.checkCancellation()
                            throw FeedEnded()
                        }
                    }
                    group.addTask {
                        var sampler = StatsSampler()
                        // The first round only primes the CPU counters, so every message has a rate.
                        _ = try await sampler.sample(driver)
                        while true {
                            try await Task.sleep(nanoseconds: UInt64(interval * 1e9))
                            let message = try await sampler.sample(driver)
                            await self.succeeded(conn)
                            await self.publish(conn, LiveJSON.encode(StatsMessage(connection: conn, time: message.time, domains: message.domains)), stats: true)
                        }
                    }
                    try await group.next()
                    group.cancelAll()
                }
            } catch {
                if Task.isCancelled { return }
                let api = APIError(error)
                failed(conn, api.message)
                if api.brokenConnection { await registry.invalidate(conn) }
                let backoff = backoffs[conn] ?? 1
                backoffs[conn] = min(backoff * 2, 30)
                try? await Task.sleep(nanoseconds: UInt64(backoff * 1e9))
            }
        }
    }

    /// A stats round worked: the connection is healthy again.
    private func succeeded(_ conn: String) {
        lastError[conn] = nil
        backoffs[conn] = nil
    }
}

/// CPU percentages from two samples of cumulative CPU time. Guest-relative, like virt-manager's
/// "guest CPU usage": 100% means all of the guest's vCPUs were busy for the whole interval (host
/// time spent by QEMU for the guest, divided by wall time and the number of vCPUs, capped at 100).
struct StatsSampler {
    private var previous: [UUID: (cpuNs: UInt64, at: UInt64)] = [:]

    struct Message { var time: Int64; var domains: [DomainStats] }

    mutating func sample(_ driver: any HypervisorDriver) async throws -> Message {
        // Listing is the health check: if it fails the connection is down.
        let doms = try await driver.listAllDomains(flags: .active)
        let now = DispatchTime.now().uptimeNanoseconds
        let time = Int64(Date().timeIntervalSince1970 * 1000)
        let types: StatsTypes = [.state, .cpuTotal, .balloon, .interface, .block]
        // Stats are extras (disk/net/rss); a driver that cannot give them still gets info.
        let records = doms.isEmpty ? [] : ((try? await driver.allDomainStats(doms, types: types)) ?? [])
        let byUUID = Dictionary(records.map { ($0.domain.uuid, $0.params) }, uniquingKeysWith: { a, _ in a })
        var out: [DomainStats] = []
        var seen: [UUID: (cpuNs: UInt64, at: UInt64)] = [:]
        for dom in doms {
            // A guest that stopped between the list and here is simply left out.
            guard let info = try? await driver.domainInfo(dom) else { continue }
            let params = byUUID[dom.uuid] ?? []
            let cpuNs = Self.ullong(params, "cpu.time") ?? info.cpuTimeNs
            var percent = 0.0
            if let prev = previous[dom.uuid], now > prev.at, cpuNs >= prev.cpuNs {
                let vcpus = Double(max(1, info.nrVirtCPU))
                percent = min(100, Double(cpuNs - prev.cpuNs) / Double(now - prev.at) / vcpus * 100)
            }
            seen[dom.uuid] = (cpuNs, now)
            let blocks = Int(clamping: Self.ullong(params, "block.count") ?? 0)
            let nets = Int(clamping: Self.ullong(params, "net.count") ?? 0)
            func sum(_ prefix: String, _ count: Int, _ field: String) -> UInt64 {
                (0..<min(count, 4096)).reduce(0) { $0 &+ (Self.ullong(params, "\(prefix).\($1).\(field)") ?? 0) }
            }
            out.append(DomainStats(
                name: dom.name, uuid: dom.uuid.lowercasedString, state: LiveJSON.stateWord(info.state),
                cpuPercent: (percent * 10).rounded() / 10, cpuTimeNs: cpuNs, vcpus: Int(info.nrVirtCPU),
                memoryKiB: Self.ullong(params, "balloon.current") ?? info.memoryKiB, maxMemoryKiB: info.maxMemKiB,
                rssKiB: Self.ullong(params, "balloon.rss"),
                diskRdBytes: sum("block", blocks, "rd.bytes"), diskWrBytes: sum("block", blocks, "wr.bytes"),
                netRxBytes: sum("net", nets, "rx.bytes"), netTxBytes: sum("net", nets, "tx.bytes")))
        }
        previous = seen
        return Message(time: time, domains: out)
    }

    static func ullong(_ params: [TypedParam], _ field: String) -> UInt64? {
        guard let p = params.first(where: { $0.field == field }) else { return nil }
        switch p.value {
        case .ullong(let v): return v
        case .uint(let v): return UInt64(v)
        case .llong(let v): return v >= 0 ? UInt64(v) : nil
        case .int(let v): return v >= 0 ? UInt64(v) : nil
        default: return nil
        }
    }
}

/// One domain in a stats message.
struct DomainStats: Codable, Sendable {
    var name: String
    var uuid: String
    var state: String
    var cpuPercent: Double
    var cpuTimeNs: UInt64
    var vcpus: Int
    var memoryKiB: UInt64
    var maxMemoryKiB: UInt64
    var rssKiB: UInt64?
    var diskRdBytes: UInt64
    var diskWrBytes: UInt64
    var netRxBytes: UInt64
    var netTxBytes: UInt64
}

struct StatsMessage: Codable, Sendable {
    var type = "stats"
    var connection: String
    var time: Int64
    var domains: [DomainStats]
}

struct LifecycleMessage: Codable, Sendable {
    var type = "lifecycle"
    var connection: String
    var domain: String
    var uuid: String
    var event: String
    /// virsh event's wording of the detail, e.g. "booted", "destroyed".
    var detail: String
    /// libvirt's number for the detail (virDomainEvent*DetailType).
    var detailCode: Int32
    var state: String
}

struct ErrorMessage: Codable, Sendable {
    var type = "error"
    var connection: String
    var message: String
}

enum LiveJSON {
    static func encode(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(value) else { return #"{"type":"error","message":"cannot encode message"}"# }
        return String(decoding: data, as: UTF8.self)
    }

    /// The preamble's state words: virsh's, except "shutdown" for a guest shutting down.
    static func stateWord(_ s: DomainState) -> String { s == .shutdown ? "shutdown" : s.virshName }

    static func eventWord(_ k: DomainEvent.Kind) -> String {
        switch k {
        case .defined: "defined"
        case .undefined: "undefined"
        case .started: "started"
        case .suspended: "suspended"
        case .resumed: "resumed"
        case .stopped: "stopped"
        case .shutdown: "shutdown"
        case .pmsuspended: "pmsuspended"
        case .crashed: "crashed"
        }
    }

    /// virsh's words for each event's details (virsh event --event lifecycle).
    static func detailWord(_ k: DomainEvent.Kind, _ detail: Int32) -> String {
        let names: [String]
        switch k {
        case .defined: names = ["added", "updated", "renamed", "from snapshot"]
        case .undefined: names = ["removed", "renamed"]
        case .started: names = ["booted", "migrated", "restored", "from snapshot", "event wakeup"]
        case .suspended: names = ["paused", "migrated", "i/o error", "watchdog", "restored", "from snapshot", "api error",
                                  "post-copy", "post-copy error"]
        case .resumed: names = ["unpaused", "migrated", "from snapshot", "post-copy", "post-copy error"]
        case .stopped: names = ["shutdown", "destroyed", "crashed", "migrated", "saved", "failed", "from snapshot"]
        case .shutdown: names = ["finished", "finished after guest request", "finished after host request"]
        case .pmsuspended: names = ["memory", "disk"]
        case .crashed: names = ["panicked", "crashloaded"]
        }
        return detail >= 0 && Int(detail) < names.count ? names[Int(detail)] : "unknown"
    }

    /// What a state most likely is right after an event, when the domain cannot be asked (it was
    /// undefined, or the connection is slow to answer).
    static func stateAfter(_ k: DomainEvent.Kind) -> DomainState {
        switch k {
        case .started, .resumed: .running
        case .suspended: .paused
        case .defined, .undefined, .stopped, .shutdown: .shutoff
        case .pmsuspended: .pmSuspended
        case .crashed: .crashed
        }
    }

    static func lifecycle(_ ev: DomainEvent, connection: String, driver: any HypervisorDriver) async -> String {
        // The domain's state now (a "defined" event of a running guest keeps it running); an
        // undefined domain has none left.
        let state = ev.kind == .undefined ? nil : try? await driver.domainState(ev.domain).state
        return encode(LifecycleMessage(
            connection: connection, domain: ev.domain.name, uuid: ev.domain.uuid.lowercasedString,
            event: eventWord(ev.kind), detail: detailWord(ev.kind, ev.detail), detailCode: ev.detail,
            state: stateWord(state ?? stateAfter(ev.kind))))
    }
}
