import AsyncHTTPClient
import Foundation
import NIOCore

/// Many clients asking an agent at once, each as fast as its answers come, for a while: the
/// latency of every answer and every failure. Shared by `drover-bench load` (the figures)
/// and the load test (the behaviour: nothing fails while a deploy runs).
public enum LoadDriver {
    public struct Report: Sendable {
        /// Every answer's latency, sorted.
        public let latencies: [Duration]
        /// Failures (a status other than 200, or no answer), with what they were.
        public let errors: [String]
        public let elapsed: Duration

        /// Nearest-rank percentile of the latencies.
        public func percentile(_ p: Double) -> Duration {
            guard !latencies.isEmpty else { return .zero }
            let rank = max(1, Int((p / 100 * Double(latencies.count)).rounded(.up)))
            return latencies[min(rank, latencies.count) - 1]
        }

        public var maximum: Duration { latencies.last ?? .zero }
        public var requestsPerSecond: Double {
            Double(latencies.count) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }
    }

    /// `clients` concurrent clients, each asking `paths` in turn (starting at its own offset)
    /// with `token`, until `duration` has passed. Each client has a connection of its own and
    /// asks again as soon as it has its answer, or, with `every`, at most once per interval
    /// (the clients spread over the interval), as pollers such as dashboards and scrapers do.
    public static func run(clients: Int, for duration: Duration, every interval: Duration? = nil,
                           baseURL: String, token: String, paths: [String]) async throws -> Report {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = clients
        configuration.timeout.connect = .seconds(10)
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let clock = ContinuousClock(), started = clock.now, end = started + duration
        let results = await withTaskGroup(of: ([Duration], [String]).self) { group in
            for client in 0..<clients {
                group.addTask {
                    var latencies: [Duration] = [], errors: [String] = []
                    var index = client
                    var next = started + (interval ?? .zero) * (Double(client) / Double(clients))
                    while clock.now < end {
                        if let interval {
                            if next > clock.now { try? await Task.sleep(until: next) }
                            next = max(next + interval, clock.now)
                            guard clock.now < end else { break }
                        }
                        var request = HTTPClientRequest(url: baseURL + paths[index % paths.count])
                        request.headers.add(name: "Authorization", value: "Bearer \(token)")
                        index += 1
                        let began = clock.now
                        do {
                            let response = try await http.execute(request, timeout: .seconds(30))
                            _ = try await response.body.collect(upTo: 64 << 20)
                            if response.status == .ok { latencies.append(clock.now - began) } else { errors.append("\(request.url): HTTP \(response.status.code)") }
                        } catch {
                            errors.append("\(request.url): \(error)")
                        }
                    }
                    return (latencies, errors)
                }
            }
            var all: ([Duration], [String]) = ([], [])
            for await (latencies, errors) in group {
                all.0 += latencies
                all.1 += errors
            }
            return all
        }
        let elapsed = clock.now - started
        try await http.shutdown()
        return Report(latencies: results.0.sorted(), errors: results.1, elapsed: elapsed)
    }
}
