import CSystemd
import Foundation
import Synchronization

/// Which units changed, as systemd announces them: a unit's properties changed (state,
/// main PID, result…), a unit was loaded or unloaded, or one of its jobs ended.
///
/// Consumers wait on this instead of asking systemd again and again: an idle agent sleeps,
/// and a change is seen as soon as systemd reports it. The stream carries names only;
/// whoever cares reads the unit's status (the signals' payloads differ between interfaces
/// and systemd versions, a fresh read does not).
extension SystemdClient {
    /// A stream of the units that changed, from now on. Any number of streams may be open;
    /// each sees every change. A stream whose consumer falls behind keeps only the newest 4096
    /// changes (a consumer that missed some rereads everything it watches).
    public nonisolated func unitChanges() -> AsyncStream<UnitChange> {
        let (stream, continuation) = AsyncStream<UnitChange>.makeStream(bufferingPolicy: .bufferingNewest(4096))
        let id = unitChangeListeners.add(continuation)
        continuation.onTermination = { [listeners = unitChangeListeners] _ in listeners.remove(id) }
        return stream
    }

    /// Subscribes once, at connect, to the signals that say a unit changed.
    func subscribeToUnitChanges() async throws(SystemdError) {
        let bus = try openBus()
        let sender = address.viaBusDaemon ? ",sender='\(Self.destination)'" : ""
        let listeners = unitChangeListeners
        unitChangeSubscriptions.append(try SignalSubscription.subscribe(
            bus: bus,
            rule: "type='signal'\(sender),interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',"
                + "path_namespace='\(Self.unitPathPrefix)'"
        ) { message in
            if let path = message.path, let unit = Self.unit(atPath: path) { listeners.yield(UnitChange(unit: unit, removed: false)) }
        })
        for member in ["UnitNew", "UnitRemoved"] {
            unitChangeSubscriptions.append(try SignalSubscription.subscribe(
                bus: bus, sender: address.viaBusDaemon ? Self.destination : nil,
                path: Self.managerPath, interface: Self.managerInterface, member: member
            ) { message in
                if let unit = try? message.readString() { listeners.yield(UnitChange(unit: unit, removed: member == "UnitRemoved")) }
            })
        }
        // Through a bus daemon systemd only signals clients that asked; a direct connection
        // gets every signal anyway (and may be told it is subscribed already).
        _ = try? await call(try methodCall(member: "Subscribe"))
    }

    static let unitPathPrefix = "/org/freedesktop/systemd1/unit"

    /// The unit name an object path encodes (`…/unit/web_2d1_2eservice` → `web-1.service`).
    static func unit(atPath path: String) -> String? {
        var name: UnsafeMutablePointer<CChar>? = nil
        guard path.withCString({ sd_bus_path_decode($0, unitPathPrefix, &name) }) > 0, let name else { return nil }
        defer { free(name) }
        return String(cString: name)
    }
}

/// One unit's change: its properties or jobs changed, or systemd unloaded it (`removed`:
/// reading it now would load it again, only for systemd to unload it once more).
public struct UnitChange: Sendable, Equatable {
    public var unit: String
    public var removed: Bool

    public init(unit: String, removed: Bool) {
        self.unit = unit
        self.removed = removed
    }
}

/// The open `unitChanges()` streams. Fed on the bus loop thread, read from anywhere.
final class UnitChangeListeners: Sendable {
    private let listeners = Mutex<[Int: AsyncStream<UnitChange>.Continuation]>([:])
    private let nextID = Atomic<Int>(0)

    func add(_ continuation: AsyncStream<UnitChange>.Continuation) -> Int {
        let id = nextID.add(1, ordering: .relaxed).newValue
        listeners.withLock { $0[id] = continuation }
        return id
    }

    func remove(_ id: Int) {
        _ = listeners.withLock { $0.removeValue(forKey: id) }
    }

    /// Yields outside the lock: a yield resumes the reading task, which takes that task's
    /// status lock, while cancelling that task holds its status lock and calls `remove`, which
    /// takes this one. Yielding under the lock deadlocked the agent at shutdown (a unit change
    /// arriving as the stream was cancelled).
    func yield(_ unit: UnitChange) {
        let all = listeners.withLock { Array($0.values) }
        for continuation in all { continuation.yield(unit) }
    }

    func finishAll() {
        let all = listeners.withLock { listeners in
            defer { listeners.removeAll() }
            return Array(listeners.values)
        }
        for continuation in all { continuation.finish() }
    }
}
