import CSystemd
import Logging

/// A client of systemd's Manager API over one sd-bus connection.
///
/// An actor whose executor is the connection's event loop (see `BusLoop`): every call from
/// any task is safe, and concurrent calls share the connection instead of queueing behind
/// each other. Unit operations wait for their job to finish and report its result as a typed
/// `SystemdError` (see `SystemdClient+Jobs.swift`).
public actor SystemdClient {
    static let destination = "org.freedesktop.systemd1"
    static let managerPath = "/org/freedesktop/systemd1"
    static let managerInterface = "org.freedesktop.systemd1.Manager"

    nonisolated let loop: BusLoop
    nonisolated let address: BusAddress
    let logger: Logger

    // Job tracking (see SystemdClient+Jobs.swift).
    var jobWaiters: [String: JobWaiter] = [:]
    var unclaimedJobResults: [String: String] = [:]
    var jobCallsInFlight = 0
    var jobRemovedSubscription: SignalSubscription?
    // Unit change streams (see SystemdClient+UnitChanges.swift).
    nonisolated let unitChangeListeners = UnitChangeListeners()
    var unitChangeSubscriptions: [SignalSubscription] = []
    var isClosed = false

    public nonisolated var unownedExecutor: UnownedSerialExecutor {
        loop.asUnownedSerialExecutor()
    }

    /// Connects to the manager at `address` and subscribes to job completions.
    public static func connect(
        to address: BusAddress,
        logger: Logger = Logger(label: "drover.systemd")
    ) async throws(SystemdError) -> SystemdClient {
        let bus = try openBus(address)
        let loop: BusLoop
        do {
            loop = try BusLoop(bus: bus, name: "sd-bus \(address)")
        } catch {
            sd_bus_flush_close_unref(bus)
            throw error
        }
        let client = SystemdClient(loop: loop, address: address, logger: logger)
        try await client.subscribeToJobRemoved()
        try await client.subscribeToUnitChanges()
        return client
    }

    private init(loop: BusLoop, address: BusAddress, logger: Logger) {
        self.loop = loop
        self.address = address
        self.logger = logger
    }

    deinit {
        loop.stop()
    }

    /// Closes the connection. Jobs still being waited for fail with `.disconnected`; the
    /// units themselves are not affected. Later calls fail with `.disconnected`.
    public func close() {
        loop.closeBus()
    }

    private static func openBus(_ address: BusAddress) throws(SystemdError) -> OpaquePointer {
        var bus: OpaquePointer? = nil
        try checked("sd_bus_new", sd_bus_new(&bus))
        guard let bus else { throw SystemdError(.busFailure, message: "sd_bus_new returned no bus") }
        do throws(SystemdError) {
            let set = address.address.withCString { sd_bus_set_address(bus, $0) }
            try checked("sd_bus_set_address", set)
            try checked("sd_bus_set_bus_client", sd_bus_set_bus_client(bus, address.viaBusDaemon ? 1 : 0))
            let started = sd_bus_start(bus)
            guard started >= 0 else {
                throw SystemdError(
                    .connectionFailed,
                    message: "cannot connect to systemd at \(address): \(errnoDescription(-started))"
                        + " (is the manager running, and may this user reach it?)"
                )
            }
        } catch {
            sd_bus_flush_close_unref(bus)
            throw error
        }
        return bus
    }

    // MARK: Calls

    /// The open connection, or `.disconnected`.
    func openBus() throws(SystemdError) -> OpaquePointer {
        guard let bus = loop.bus else {
            throw SystemdError(.disconnected, message: "the connection to systemd at \(address) is closed")
        }
        return bus
    }

    /// A new method call to systemd (the manager, or a unit object when `path` says so).
    func methodCall(
        path: String = SystemdClient.managerPath,
        interface: String = SystemdClient.managerInterface,
        member: String
    ) throws(SystemdError) -> BusMessage {
        let bus = try openBus()
        var message: OpaquePointer? = nil
        let destination = address.viaBusDaemon ? Self.destination : nil
        let result = withOptionalCString(destination) { destination in
            path.withCString { path in
                interface.withCString { interface in
                    member.withCString { member in
                        sd_bus_message_new_method_call(bus, &message, destination, path, interface, member)
                    }
                }
            }
        }
        try checked("sd_bus_message_new_method_call", result)
        return BusMessage(adopting: message!)
    }

    /// Sends `message` and waits for the reply without blocking the connection for others.
    /// An error reply becomes a `SystemdError` naming `unit`.
    func call(_ message: BusMessage, unit: String? = nil) async throws -> BusMessage {
        let bus = try openBus()
        return try await withCheckedThrowingContinuation { continuation in
            let pending = PendingReply(continuation: continuation, unit: unit)
            let userdata = Unmanaged.passRetained(pending).toOpaque()
            let sent = sd_bus_call_async(bus, nil, message.pointer, pendingReplyCallback, userdata, 0)
            if sent < 0 {
                Unmanaged<PendingReply>.fromOpaque(userdata).release()
                continuation.resume(throwing: SystemdError(
                    .busFailure, unit: unit, message: "sending a call to systemd failed: \(errnoDescription(-sent))"
                ))
            }
        }
    }
}

/// A reply being waited for. Retained by sd-bus (through userdata) until its callback runs.
final class PendingReply: @unchecked Sendable {
    // @unchecked: created and completed on the bus loop thread only.
    let continuation: CheckedContinuation<BusMessage, any Error>
    let unit: String?

    init(continuation: CheckedContinuation<BusMessage, any Error>, unit: String?) {
        self.continuation = continuation
        self.unit = unit
    }
}

/// sd-bus calls this once per async call: with the reply, an error reply, or a synthesized
/// error when the call timed out or the connection closed.
private let pendingReplyCallback: sd_bus_message_handler_t = { message, userdata, _ in
    let pending = Unmanaged<PendingReply>.fromOpaque(userdata!).takeRetainedValue()
    guard let message else {
        pending.continuation.resume(throwing: SystemdError(.disconnected, unit: pending.unit, message: "no reply from systemd"))
        return 0
    }
    let reply = BusMessage(retaining: message)
    if let error = reply.error(unit: pending.unit) {
        pending.continuation.resume(throwing: error)
    } else {
        pending.continuation.resume(returning: reply)
    }
    return 0
}

func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return string.withCString { body($0) }
}
