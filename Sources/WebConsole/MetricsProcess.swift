import Foundation
import Prometheus
#if canImport(Glibc)
import Glibc
#endif

/// corrald's own process, read from /proc/self at scrape time under the names Prometheus's
/// client libraries use (process_*), so stock dashboards show the daemon.
enum ProcessMetrics {
    static func collect(into registry: PrometheusCollectorRegistry, now: Date = Date()) {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        if let stat = selfStat(), ticks > 0 {
            registry.makeCounter(descriptor: .named("process_cpu_seconds_total", "Total user and system CPU time spent in seconds."))
                .increment(by: (stat.utime + stat.stime) / ticks)
            registry.makeGauge(descriptor: .named("process_virtual_memory_bytes", "Virtual memory size in bytes.")).set(stat.vsize)
            registry.makeGauge(descriptor: .named("process_resident_memory_bytes", "Resident memory size in bytes.")).set(stat.rssPages * page)
            if let boot = bootTime() {
                let start = boot + stat.startTicks / ticks
                registry.makeGauge(descriptor: .named("process_start_time_seconds", "Start time of the process since unix epoch in seconds.")).set(start)
                registry.makeGauge(descriptor: .named("corral_uptime_seconds", "Seconds since corrald started."))
                    .set(max(0, now.timeIntervalSince1970 - start))
            }
        }
        if let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            registry.makeGauge(descriptor: .named("process_open_fds", "Number of open file descriptors.")).set(Double(fds.count))
        }
        var limit = rlimit()
        // RLIM_INFINITY is all ones; Swift cannot import the C macro's -1 into the unsigned rlim_t.
        if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max {
            registry.makeGauge(descriptor: .named("process_max_fds", "Maximum number of open file descriptors.")).set(Double(limit.rlim_cur))
        }
    }

    struct Stat { var utime: Double; var stime: Double; var startTicks: Double; var vsize: Double; var rssPages: Double }

    /// proc(5) /proc/self/stat: fields after the parenthesised command name (which may hold
    /// spaces), so counting starts at the last ')'.
    static func selfStat() -> Stat? {
        guard let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")") else { return nil }
        let f = text[text.index(after: close)...].split(separator: " ")
        // f[0] is field 3 (state): field n is f[n - 3].
        func field(_ n: Int) -> Double? { f.count > n - 3 ? Double(f[n - 3]) : nil }
        guard let utime = field(14), let stime = field(15), let start = field(22), let vsize = field(23), let rss = field(24) else {
            return nil
        }
        return Stat(utime: utime, stime: stime, startTicks: start, vsize: vsize, rssPages: rss)
    }

    /// Boot time (unix seconds): /proc/stat's btime.
    static func bootTime() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}
