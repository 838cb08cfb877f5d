/// Decides how to bring a service's instances to the wanted count of its current release,
/// from what systemd has: the reconciler's pure core (no systemd, no clock).
///
///     wanted + observed + back-off + now ──▶ plan ──▶ start / restart / stop / forget, retry at
///
/// - Up instances (running or starting) of the current release count. Beyond the wanted
///   number, the highest slots stop.
/// - Short of it, crashed slots come back first (failed units, and slots the reconciler
///   started that vanished), each after its crash-loop back-off; then the lowest free
///   slots start.
/// - While instances of another release run (a rollout's leftovers), the planner holds: which
///   release should run is a deployment's decision, not the reconciler's.
public enum ReconcilePlanner {
    public struct Wanted: Sendable, Equatable {
        public var version: ReleaseVersion
        public var count: Int

        public init(version: ReleaseVersion, count: Int) {
            self.version = version
            self.count = count
        }
    }

    public struct Observed: Sendable, Equatable {
        public var slot: Int
        public var version: ReleaseVersion
        public var state: InstanceState

        public init(slot: Int, version: ReleaseVersion, state: InstanceState) {
            self.slot = slot
            self.version = version
            self.state = state
        }
    }

    public enum Action: Sendable, Equatable {
        /// Start a new instance in a free slot.
        case start(slot: Int)
        /// Start a crashed slot again (after resetting its failure).
        case restart(slot: Int, crashes: Int)
        /// Stop a surplus instance.
        case stop(slot: Int)
        /// Reset a failed instance that is not wanted any more, so it stops showing.
        case forget(slot: Int)

        public var slot: Int {
            switch self {
            case .start(let slot), .restart(let slot, _), .stop(let slot), .forget(let slot): slot
            }
        }
    }

    public struct Plan: Sendable, Equatable {
        public var actions: [Action] = []
        /// Crashed slots waiting out their back-off, with the time each may start again.
        public var waiting: [Int: Duration] = [:]
        /// Why nothing is done, when the planner holds.
        public var holding: String?

        /// The earliest time a waiting slot may start: when to plan again.
        public var retryAt: Duration? { waiting.values.min() }
    }

    public static func plan(wanted: Wanted, observed: [Observed], backoff: inout [Int: CrashLoopBackoff], now: Duration) -> Plan {
        var plan = Plan()
        let present = observed.filter { $0.state != .idle }
        let foreign = present.filter { $0.version != wanted.version && $0.state != .failed }
        if !foreign.isEmpty {
            let versions = Set(foreign.map(\.version.rawValue)).sorted().joined(separator: ", ")
            plan.holding = "instances of \(versions) run beside the current release \(wanted.version); deploy or roll back to settle the count"
            return plan
        }
        let mine = present.filter { $0.version == wanted.version }
        let up = mine.filter(\.state.isUp).sorted { $0.slot < $1.slot }
        for instance in up where instance.state == .running && backoff[instance.slot]?.isRecovered(upAt: now) == true {
            backoff[instance.slot] = nil
        }
        let count = max(0, wanted.count)
        for surplus in up.dropFirst(count).reversed() {
            plan.actions.append(.stop(slot: surplus.slot))
            backoff[surplus.slot] = nil
        }

        var need = max(0, count - up.count)
        let occupied = Set(present.map(\.slot))
        let failed = Set(mine.filter { $0.state == .failed }.map(\.slot))
        let vanished = backoff.keys.filter { !occupied.contains($0) }
        for slot in (Array(failed) + vanished).sorted() {
            guard need > 0 else {
                if failed.contains(slot) { plan.actions.append(.forget(slot: slot)) }
                backoff[slot] = nil
                continue
            }
            need -= 1
            var entry = backoff[slot] ?? CrashLoopBackoff()
            entry.crashed(at: now)
            if entry.mayStart(at: now) {
                plan.actions.append(.restart(slot: slot, crashes: entry.crashes))
                entry.started(at: now)
            } else {
                plan.waiting[slot] = entry.nextTry
            }
            backoff[slot] = entry
        }

        var used = occupied.union(failed).union(vanished)
        var slot = 1
        while need > 0 {
            while used.contains(slot) { slot += 1 }
            used.insert(slot)
            plan.actions.append(.start(slot: slot))
            var entry = CrashLoopBackoff()
            entry.started(at: now)
            backoff[slot] = entry
            need -= 1
        }
        return plan
    }
}
