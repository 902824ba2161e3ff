import Foundation
import Hummingbird
import Hypervisor
import Prometheus
import Synchronization

/// GET /metrics: Prometheus's text format. Domain series are read at scrape time from every
/// connection of the console (or only `?connection=ID`) into a fresh registry, so a domain that
/// is gone has no series; the daemon's request counters come from `state.metrics`.
enum MetricsRoutes {
    /// How long one connection may take before it is reported down (libvirt_up 0) for this scrape.
    static let connectionTimeout: Duration = .seconds(10)

    static func register(on router: Router<WebContext>, state: WebState) {
        let gate = ScrapeGate()
        router.get("/metrics") { request, _ -> Response in
            var ids = await state.connections.list()
            if let only = request.uri.queryParameters.get("connection") {
                ids = ids.filter { $0.id == only }
                if ids.isEmpty { throw ConnectionRegistry.notFound(only) }
            }
            let scrape = PrometheusCollectorRegistry()
            await collectConnections(ids, state: state, gate: gate, into: scrape)
            ProcessMetrics.collect(into: scrape)
            var bytes = scrape.emitToBuffer()
            state.metrics.registry.emit(into: &bytes)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }

    /// Scrapes the connections concurrently, each bounded by `connectionTimeout`.
    static func collectConnections(_ infos: [ConnectionRegistry.Info], state: WebState, gate: ScrapeGate,
                                   into registry: PrometheusCollectorRegistry) async {
        await withTaskGroup(of: Void.self) { group in
            for info in infos {
                group.addTask {
                    let started = ContinuousClock.now
                    let result = await scrapeConnection(info.id, state: state, gate: gate)
                    let labels = [("connection", info.id)]
                    let up: Double
                    switch result {
                    case .success(let records):
                        up = 1
                        registry.makeGauge(descriptor: .named("libvirt_domains_number", "Number of domains."), labels: labels)
                            .set(Double(records.count))
                        DomainMetrics.collect(into: registry, connection: info.id, records: records)
                    case .failure(let error):
                        up = 0
                        // A host that hangs or went away is reopened by the next request that needs it.
                        if error is ScrapeFailure || APIError(error).brokenConnection {
                            await state.connections.invalidate(info.id)
                        }
                    }
                    registry.makeGauge(descriptor: .named("libvirt_up", "Whether scraping libvirt's metrics was successful."),
                                       labels: labels + [("uri", info.uri)]).set(up)
                    registry.makeGauge(descriptor: .named("corral_scrape_duration_seconds",
                                                          "Time taken to read the connection's domain statistics."),
                                       labels: labels).set((ContinuousClock.now - started).seconds)
                }
            }
        }
    }

    enum ScrapeFailure: Error { case timedOut }

    /// One connection's records. Concurrent scrapes share one read per connection, and a host
    /// that hangs costs one stuck call, not one per scrape: until that call ends, scrapes
    /// report the connection down at once.
    static func scrapeConnection(_ id: String, state: WebState, gate: ScrapeGate) async -> Result<[DomainStatsRecord], any Error> {
        let (outcome, isNew) = gate.join(id)
        guard isNew else { return await outcome.value() }
        let work = Task {
            defer { gate.leave(id) }
            do {
                let driver = try await state.connections.driver(id)
                outcome.finish(.success(try await withInfo(driver.allDomainStats(nil, types: .all), driver)))
            } catch {
                outcome.finish(.failure(error))
            }
        }
        let timer = Task {
            try await Task.sleep(for: connectionTimeout)
            outcome.finish(.failure(ScrapeFailure.timedOut))
        }
        let result = await outcome.value()
        timer.cancel()
        if case .failure(ScrapeFailure.timedOut) = result { work.cancel() }
        return result
    }

    /// Fills in memory and vCPUs from virDomainGetInfo where the stats lack them (corrald, like
    /// older libvirt, gives only state.* for a shut-off domain): the exporter shows them for
    /// every domain. A domain undefined meanwhile keeps what it had.
    static func withInfo(_ records: [DomainStatsRecord], _ driver: any HypervisorDriver) async -> [DomainStatsRecord] {
        var out = records
        for i in out.indices where !out[i].params.contains(where: { $0.field == "balloon.maximum" }) {
            guard let info = try? await driver.domainInfo(out[i].domain) else { continue }
            out[i].params += [TypedParam("balloon.maximum", .ullong(info.maxMemKiB)),
                              TypedParam("balloon.current", .ullong(info.memoryKiB))]
            if !out[i].params.contains(where: { $0.field == "vcpu.current" }) {
                out[i].params.append(TypedParam("vcpu.current", .uint(UInt32(info.nrVirtCPU))))
            }
        }
        return out
    }

    /// The read in flight per connection.
    final class ScrapeGate: Sendable {
        private let inflight = Mutex<[String: Outcome]>([:])
        /// The read in flight for `id`, or a new one the caller must start (isNew).
        func join(_ id: String) -> (Outcome, isNew: Bool) {
            inflight.withLock {
                if let o = $0[id] { return (o, false) }
                let o = Outcome()
                $0[id] = o
                return (o, true)
            }
        }
        func leave(_ id: String) { _ = inflight.withLock { $0.removeValue(forKey: id) } }
    }

    /// The first of the read and the timer to finish.
    final class Outcome: Sendable {
        private enum State {
            case waiting([CheckedContinuation<Result<[DomainStatsRecord], any Error>, Never>])
            case done(Result<[DomainStatsRecord], any Error>)
        }
        private let state = Mutex<State>(.waiting([]))

        func finish(_ r: Result<[DomainStatsRecord], any Error>) {
            let waiters: [CheckedContinuation<Result<[DomainStatsRecord], any Error>, Never>] = state.withLock {
                guard case .waiting(let w) = $0 else { return [] }
                $0 = .done(r)
                return w
            }
            for w in waiters { w.resume(returning: r) }
        }

        func value() async -> Result<[DomainStatsRecord], any Error> {
            await withCheckedContinuation { c in
                let ready: Result<[DomainStatsRecord], any Error>? = state.withLock {
                    switch $0 {
                    case .done(let r): return r
                    case .waiting(var w): w.append(c); $0 = .waiting(w); return nil
                    }
                }
                if let ready { c.resume(returning: ready) }
            }
        }
    }
}

fileprivate extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
