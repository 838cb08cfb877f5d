/// Where to reach systemd: a D-Bus bus (through dbus-daemon or dbus-broker), or systemd's
/// private socket (a direct connection to the manager, no bus daemon in between; faster,
/// and available even when no bus daemon runs).
public struct BusAddress: Sendable, Hashable, CustomStringConvertible {
    /// A D-Bus address string, e.g. `unix:path=/run/user/1000/bus`.
    public let address: String
    /// True when a bus daemon sits in between (then we send `Hello` and address systemd by name).
    public let viaBusDaemon: Bool

    public init(address: String, viaBusDaemon: Bool) {
        self.address = address
        self.viaBusDaemon = viaBusDaemon
    }

    /// The system bus: `DBUS_SYSTEM_BUS_ADDRESS`, or the standard socket.
    public static func system(environment: [String: String]) -> BusAddress {
        BusAddress(
            address: environment["DBUS_SYSTEM_BUS_ADDRESS"] ?? "unix:path=/run/dbus/system_bus_socket",
            viaBusDaemon: true
        )
    }

    /// The caller's session bus: `DBUS_SESSION_BUS_ADDRESS`, or `$XDG_RUNTIME_DIR/bus`.
    /// Returns nil when neither is set, since there is then no way to find the user manager.
    public static func session(environment: [String: String]) -> BusAddress? {
        if let address = environment["DBUS_SESSION_BUS_ADDRESS"], !address.isEmpty {
            return BusAddress(address: address, viaBusDaemon: true)
        }
        guard let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty else { return nil }
        return BusAddress(address: "unix:path=" + escapeAddressValue(runtime + "/bus"), viaBusDaemon: true)
    }

    /// systemd's private socket of the manager whose runtime directory is `runtimeDirectory`
    /// (`/run` for the system manager, `$XDG_RUNTIME_DIR` for a user manager).
    public static func systemdPrivate(runtimeDirectory: String) -> BusAddress {
        BusAddress(
            address: "unix:path=" + escapeAddressValue(runtimeDirectory + "/systemd/private"),
            viaBusDaemon: false
        )
    }

    public var description: String { address }

    /// D-Bus address values escape every byte outside `[-0-9A-Za-z_/.\*]` as `%XX`.
    static func escapeAddressValue(_ value: String) -> String {
        var out = ""
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "-"), UInt8(ascii: "_"),
                UInt8(ascii: "/"), UInt8(ascii: "."), UInt8(ascii: "\\"), UInt8(ascii: "*"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            default:
                let hex = String(byte, radix: 16)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }
}
