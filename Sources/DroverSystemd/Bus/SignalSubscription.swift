import CSystemd

/// A match on one D-Bus signal whose handler runs on the bus loop thread.
///
/// The slot floats (the bus owns it), so it is freed with the bus on the loop thread, never
/// from whatever thread drops the last reference to the owning actor.
final class SignalSubscription: @unchecked Sendable {
    // @unchecked: the handler only runs on the bus loop thread.
    let handler: (BusMessage) -> Void

    private init(handler: @escaping (BusMessage) -> Void) {
        self.handler = handler
    }

    /// Calls `handler` for each `member` signal of `interface` at `path` from `sender`
    /// (pass a nil sender on direct connections, where messages carry none).
    static func subscribe(
        bus: OpaquePointer, sender: String?, path: String, interface: String, member: String,
        handler: @escaping (BusMessage) -> Void
    ) throws(SystemdError) -> SignalSubscription {
        var rule = "type='signal',path='\(path)',interface='\(interface)',member='\(member)'"
        if let sender { rule += ",sender='\(sender)'" }
        return try subscribe(bus: bus, rule: rule, handler: handler)
    }

    /// Calls `handler` for each message matching the D-Bus match `rule` (for matches the
    /// other form cannot say, such as `path_namespace`).
    static func subscribe(bus: OpaquePointer, rule: String, handler: @escaping (BusMessage) -> Void) throws(SystemdError) -> SignalSubscription {
        let subscription = SignalSubscription(handler: handler)
        let userdata = Unmanaged.passRetained(subscription).toOpaque()
        var slot: OpaquePointer? = nil
        let result = rule.withCString { sd_bus_add_match(bus, &slot, $0, signalCallback, userdata) }
        guard result >= 0, let slot else {
            Unmanaged<SignalSubscription>.fromOpaque(userdata).release()
            throw SystemdError(.busFailure, message: "subscribing to \(rule) failed: \(errnoDescription(-result))")
        }
        // The bus keeps the slot; when it goes, the destroy callback releases the subscription.
        sd_bus_slot_set_destroy_callback(slot, releaseSubscription)
        sd_bus_slot_set_floating(slot, 1)
        sd_bus_slot_unref(slot)
        return subscription
    }
}

private let signalCallback: sd_bus_message_handler_t = { message, userdata, _ in
    guard let message, let userdata else { return 0 }
    let subscription = Unmanaged<SignalSubscription>.fromOpaque(userdata).takeUnretainedValue()
    subscription.handler(BusMessage(retaining: message))
    return 0
}

private let releaseSubscription: sd_bus_destroy_t = { userdata in
    guard let userdata else { return }
    Unmanaged<SignalSubscription>.fromOpaque(userdata).release()
}
