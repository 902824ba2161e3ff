import Foundation
import Hypervisor
import Prometheus

/// Per-domain series from one connection's virConnectGetAllDomainStats records, under the names
/// of prometheus-libvirt-exporter (Debian's package and its GetAllDomainStats forks), so its
/// dashboards and alerts work unchanged; corral_* for what it lacks. Every series carries
/// `connection` (the console's id: "local", "c1", ...) besides domain and uuid.
enum DomainMetrics {
    /// Devices per domain we look at: the stats are untrusted input from remote hosts.
    static let maxDevices = 1024

    static func collect(into r: PrometheusCollectorRegistry, connection: String, records: [DomainStatsRecord]) {
        for record in records {
            var p: [String: TypedValue] = [:]
            for param in record.params { p[param.field] = param.value }
            let dom = [("connection", connection), ("domain", record.domain.name),
                       ("uuid", record.domain.uuid.uuidString.lowercased())]
            let s = Series(registry: r, params: p)

            s.gauge("libvirt_domain_state_code", "State of the domain (virDomainState: 1 running, 3 paused, 5 shut off, ...).",
                    dom, "state.state")
            s.gauge("corral_domain_state_reason", "Reason for the domain's state (virDomain*Reason of its state).", dom, "state.reason")

            s.counter("libvirt_domain_info_cpu_time_seconds_total", "Amount of CPU time used by the domain, in seconds.",
                      dom, "cpu.time", scale: 1e-9)
            s.counter("corral_domain_cpu_user_seconds_total", "User CPU time of the domain's process, in seconds.",
                      dom, "cpu.user", scale: 1e-9)
            s.counter("corral_domain_cpu_system_seconds_total", "System CPU time of the domain's process, in seconds.",
                      dom, "cpu.system", scale: 1e-9)
            s.gauge("libvirt_domain_info_virtual_cpus", "Number of virtual CPUs for the domain.", dom, "vcpu.current")
            s.gauge("corral_domain_vcpus_maximum", "Maximum number of virtual CPUs of the domain.", dom, "vcpu.maximum")
            if let n = s.count("vcpu.maximum") ?? s.count("vcpu.current") {
                for i in 0..<n {
                    let l = dom + [("vcpu", String(i))]
                    s.gauge("libvirt_domain_vcpu_state", "State of the virtual CPU (0 offline, 1 running, 2 blocked).",
                            l, "vcpu.\(i).state")
                    s.counter("libvirt_domain_vcpu_time_seconds_total", "Amount of CPU time used by the virtual CPU, in seconds.",
                              l, "vcpu.\(i).time", scale: 1e-9)
                }
            }

            s.gauge("libvirt_domain_info_maximum_memory_bytes", "Maximum allowed memory of the domain, in bytes.",
                    dom, "balloon.maximum", scale: 1024)
            s.gauge("libvirt_domain_info_memory_usage_bytes", "Memory usage of the domain, in bytes.",
                    dom, "balloon.current", scale: 1024)
            s.gauge("libvirt_domain_memory_stats_actual_balloon_bytes", "Current balloon value, in bytes.",
                    dom, "balloon.current", scale: 1024)
            s.gauge("libvirt_domain_memory_stats_rss_bytes", "Resident set size of the process running the domain, in bytes.",
                    dom, "balloon.rss", scale: 1024)
            s.gauge("libvirt_domain_memory_stats_available_bytes", "Total memory as seen by the guest, in bytes.",
                    dom, "balloon.available", scale: 1024)
            s.gauge("libvirt_domain_memory_stats_unused_bytes", "Memory left completely unused by the guest, in bytes.",
                    dom, "balloon.unused", scale: 1024)
            s.gauge("libvirt_domain_memory_stats_usable_bytes", "Memory the guest can reclaim without swapping, in bytes.",
                    dom, "balloon.usable", scale: 1024)
            s.gauge("libvirt_domain_memory_stats_disk_cache_bytes", "Guest memory used for caches it can drop quickly, in bytes.",
                    dom, "balloon.disk_caches", scale: 1024)
            s.counter("libvirt_domain_memory_stats_major_fault_total", "Page faults in the guest that needed disk I/O.",
                      dom, "balloon.major_fault")
            s.counter("libvirt_domain_memory_stats_minor_fault_total", "Page faults in the guest served without disk I/O.",
                      dom, "balloon.minor_fault")

            for i in 0..<(s.count("block.count") ?? 0) {
                let k = "block.\(i)."
                guard let dev = s.string(k + "name") else { continue }
                let l = dom + [("source_file", s.string(k + "path") ?? ""), ("target_device", dev)]
                s.counter("libvirt_domain_block_stats_read_bytes_total", "Number of bytes read from a block device, in bytes.", l, k + "rd.bytes")
                s.counter("libvirt_domain_block_stats_read_requests_total", "Number of read requests from a block device.", l, k + "rd.reqs")
                s.counter("libvirt_domain_block_stats_read_time_seconds_total", "Total time spent on reads from a block device, in seconds.",
                          l, k + "rd.times", scale: 1e-9)
                s.counter("libvirt_domain_block_stats_write_bytes_total", "Number of bytes written to a block device, in bytes.", l, k + "wr.bytes")
                s.counter("libvirt_domain_block_stats_write_requests_total", "Number of write requests to a block device.", l, k + "wr.reqs")
                s.counter("libvirt_domain_block_stats_write_time_seconds_total", "Total time spent on writes to a block device, in seconds.",
                          l, k + "wr.times", scale: 1e-9)
                s.counter("libvirt_domain_block_stats_flush_requests_total", "Number of flush requests from a block device.", l, k + "fl.reqs")
                s.counter("libvirt_domain_block_stats_flush_time_seconds_total", "Total time spent on flushes of a block device, in seconds.",
                          l, k + "fl.times", scale: 1e-9)
                s.gauge("libvirt_domain_block_stats_capacity_bytes", "Logical size of a block device, in bytes.", l, k + "capacity")
                s.gauge("libvirt_domain_block_stats_allocation", "Bytes of a block device's image in use, in bytes.", l, k + "allocation")
                s.gauge("libvirt_domain_block_stats_physicalsize_bytes", "Physical size of a block device's image, in bytes.", l, k + "physical")
            }

            for i in 0..<(s.count("net.count") ?? 0) {
                let k = "net.\(i)."
                guard let dev = s.string(k + "name") else { continue }
                let l = dom + [("target_device", dev)]
                for (dir, key) in [("receive", "rx"), ("transmit", "tx")] {
                    s.counter("libvirt_domain_interface_stats_\(dir)_bytes_total", "Number of bytes \(dir == "receive" ? "received" : "transmitted") on a network interface, in bytes.",
                              l, k + key + ".bytes")
                    s.counter("libvirt_domain_interface_stats_\(dir)_packets_total", "Number of packets \(dir == "receive" ? "received" : "transmitted") on a network interface.",
                              l, k + key + ".pkts")
                    s.counter("libvirt_domain_interface_stats_\(dir)_errors_total", "Number of packet \(dir) errors on a network interface.",
                              l, k + key + ".errs")
                    s.counter("libvirt_domain_interface_stats_\(dir)_drops_total", "Number of packet \(dir) drops on a network interface.",
                              l, k + key + ".drop")
                }
            }
        }
    }

    /// Writes one record's parameters into the registry; absent or non-numeric ones are skipped.
    struct Series {
        let registry: PrometheusCollectorRegistry
        let params: [String: TypedValue]

        func number(_ key: String) -> Double? {
            switch params[key] {
            case .int(let v)?: return Double(v)
            case .uint(let v)?: return Double(v)
            case .llong(let v)?: return Double(v)
            case .ullong(let v)?: return Double(v)
            case .double(let v)?: return v.isFinite ? v : nil
            case .boolean(let v)?: return v ? 1 : 0
            case .string?, nil: return nil
            }
        }

        func string(_ key: String) -> String? {
            if case .string(let v)? = params[key] { return v }
            return nil
        }

        /// A device count, bounded.
        func count(_ key: String) -> Int? {
            guard let n = number(key), n >= 0 else { return nil }
            return Int(min(n, Double(DomainMetrics.maxDevices)))
        }

        func gauge(_ name: String, _ help: String, _ labels: [(String, String)], _ key: String, scale: Double = 1) {
            guard let v = number(key) else { return }
            registry.makeGauge(descriptor: .named(name, help), labels: labels).set(v * scale)
        }

        /// A fresh counter set to the driver's running total (the registry lives for one scrape).
        func counter(_ name: String, _ help: String, _ labels: [(String, String)], _ key: String, scale: Double = 1) {
            guard let v = number(key).map({ $0 * scale }), v >= 0, v.isFinite else { return }
            let c = registry.makeCounter(descriptor: .named(name, help), labels: labels)
            // Integers print as integers; a duplicate device name from a confused host adds, never crashes.
            if v < 9.0e18, v == v.rounded() { c.increment(by: Int64(v)) } else { c.increment(by: v) }
        }
    }
}
