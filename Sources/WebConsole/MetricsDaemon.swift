import Foundation
import Hummingbird
import Prometheus

/// The daemon's own counters: web console requests and remote-protocol calls. They live for the
/// whole process (Prometheus computes rates from their growth), unlike the per-domain series,
/// which are rebuilt at every scrape.
public final class DaemonMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()

    public init() {}

    // Sub-millisecond lookups up to long calls (domain start, volume upload).
    static let buckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
    ]

    /// One finished remote-protocol call (corrald passes RemoteServerConfig.callObserver's records).
    public func recordRPC(procedure: String, succeeded: Bool, duration: Duration) {
        registry.makeCounter(descriptor: .named("corral_rpc_calls_total",
                                                "Remote protocol calls served, by procedure (REMOTE_PROC_ name) and outcome."),
                             labels: [("procedure", procedure), ("status", succeeded ? "ok" : "error")]).increment()
        registry.makeDurationHistogram(descriptor: .named("corral_rpc_call_duration_seconds",
                                                          "Time from receiving a remote protocol call to queueing its reply."),
                                       labels: [("procedure", procedure)], buckets: Self.buckets).record(duration)
    }

    /// One finished web console request; `route` is the matched pattern, never the raw path.
    func recordHTTP(method: String, route: String, status: Int, duration: Duration) {
        let labels = [("method", method), ("route", route), ("status", String(status))]
        registry.makeCounter(descriptor: .named("corral_http_requests_total",
                                                "Web console HTTP requests, by method, matched route and status."),
                             labels: labels).increment()
        registry.makeDurationHistogram(descriptor: .named("corral_http_request_duration_seconds",
                                                          "Web console HTTP request latency, until the response body was written."),
                                       labels: labels, buckets: Self.buckets).record(duration)
    }
}

/// Counts and times every request of the HTTP router. Installed before the other routes:
/// Hummingbird applies a middleware only to routes added after it.
struct HTTPMetricsMiddleware: RouterMiddleware {
    typealias Context = WebContext
    let metrics: DaemonMetrics

    // Anything else is one label value, so odd methods cannot grow the series without bound.
    static let methods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]

    func handle(_ request: Request, context: WebContext, next: (Request, WebContext) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let method = Self.methods.contains(request.method.rawValue) ? request.method.rawValue : "OTHER"
        do {
            var response = try await next(request, context)
            let status = Int(response.status.code)
            let metrics = metrics
            // After the body: downloads and pages are timed to their last byte.
            let body = response.body
            let record: @Sendable () -> Void = {
                metrics.recordHTTP(method: method, route: context.endpointPath ?? "unmatched", status: status,
                                   duration: ContinuousClock.now - started)
            }
            response.body = ResponseBody(contentLength: body.contentLength) { writer in
                do {
                    try await body.write(writer)
                    record()
                } catch {
                    record()
                    throw error
                }
            }
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            metrics.recordHTTP(method: method, route: context.endpointPath ?? "unmatched", status: Int(status),
                               duration: ContinuousClock.now - started)
            throw error
        }
    }
}

extension MetricNameDescriptor {
    /// A full metric name with its help text (units are part of our names already).
    static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
