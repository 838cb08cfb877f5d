import DroverAPI
import DroverCore
import Prometheus

/// `GET /metrics`: Prometheus gauges of every service and instance, from the agent's shared
/// read of them (`ServiceListCache`: read again after any change, and renewed every 250 ms
/// otherwise; systemd and the cgroups are the truth). Gauges of instances that are gone are
/// unregistered, so a scrape never shows a stale instance.
actor MetricsExporter {
    private let agent: Agent
    private let registry = PrometheusCollectorRegistry()
    private var gauges: [Key: Gauge] = [:]
    /// The text of the last read, for the scrapes that come before the next one.
    private var lastText: (changes: UInt64, at: ContinuousClock.Instant, text: [UInt8])?

    private struct Key: Hashable {
        var name: String
        var labels: [String]
    }

    private static let help: [String: String] = [
        "drover_service_desired_instances": "Instances the agent keeps running for the service.",
        "drover_service_active_instances": "Instances of the service that are active.",
        "drover_service_autoscaled": "1 when the service has an autoscaling policy.",
        "drover_instance_up": "1 when the instance is active, 0 when it is starting, stopping or failed.",
        "drover_instance_cpu_cores": "CPU in use by the instance, in cores, since the previous reading.",
        "drover_instance_cpu_of_quota": "CPU in use over the instance's CPUQuota.",
        "drover_instance_memory_bytes": "Memory in use by the instance.",
        "drover_instance_memory_of_max": "Memory in use over the instance's MemoryMax.",
        "drover_instance_cpu_pressure": "cpu.pressure some avg10 of the instance's cgroup, in percent.",
        "drover_instance_memory_pressure": "memory.pressure some avg10 of the instance's cgroup, in percent.",
        "drover_instance_restarts": "Times systemd restarted the instance.",
    ]

    init(agent: Agent) {
        self.agent = agent
    }

    /// The text exposition format of every gauge.
    func scrape() async throws -> [UInt8] {
        // Read everything first, then update the registry without suspending, so two scrapes
        // cannot interleave their updates.
        let snapshot = try await agent.servicesSnapshot()
        if let lastText, lastText.changes == snapshot.changes, lastText.at == snapshot.at { return lastText.text }
        var values: [(Key, Double)] = []
        for service in snapshot.services {
            let policy = service.autoscale
            let labels = [service.name.rawValue]
            values.append((Key(name: "drover_service_desired_instances", labels: labels), Double(service.desiredInstances)))
            values.append((Key(name: "drover_service_active_instances", labels: labels),
                           Double(service.instances.filter { $0.state == .running }.count)))
            values.append((Key(name: "drover_service_autoscaled", labels: labels), policy == nil ? 0 : 1))
            for instance in service.instances {
                let labels = [service.name.rawValue, String(instance.slot), instance.version.rawValue]
                let figures: [(String, Double?)] = [
                    ("drover_instance_up", instance.state == .running ? 1 : 0),
                    ("drover_instance_cpu_cores", instance.cpuCores),
                    ("drover_instance_cpu_of_quota", instance.cpuOfQuota),
                    ("drover_instance_memory_bytes", instance.memoryBytes.map { Double($0) }),
                    ("drover_instance_memory_of_max", instance.memoryOfMax),
                    ("drover_instance_cpu_pressure", instance.cpuPressure),
                    ("drover_instance_memory_pressure", instance.memoryPressure),
                    ("drover_instance_restarts", instance.restarts.map { Double($0) }),
                ]
                for case let (name, value?) in figures { values.append((Key(name: name, labels: labels), value)) }
            }
        }
        var seen = Set<Key>()
        for (key, value) in values {
            seen.insert(key)
            gauge(key).set(to: value)
        }
        for (key, gauge) in gauges where !seen.contains(key) {
            registry.unregisterGauge(gauge)
            gauges[key] = nil
        }
        let text = registry.emitToBuffer()
        lastText = (snapshot.changes, snapshot.at, text)
        return text
    }

    private func gauge(_ key: Key) -> Gauge {
        if let gauge = gauges[key] { return gauge }
        let names = key.name.hasPrefix("drover_service_") ? ["service"] : ["service", "slot", "version"]
        let gauge = registry.makeGauge(
            descriptor: MetricNameDescriptor(metricName: key.name, unitName: "", helpText: Self.help[key.name] ?? ""),
            labels: Array(zip(names, key.labels))
        )
        gauges[key] = gauge
        return gauge
    }
}
