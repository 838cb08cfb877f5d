/// An error from systemd or from talking to it, carrying the unit it concerns.
///
/// `code` is what callers branch on (and what the agent maps to HTTP statuses); `message`
/// is the sentence for a person, with the unit name and systemd's own words in it.
public struct SystemdError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case noSuchUnit, accessDenied, unitMasked, invalidArgument, badUnitSetting
            case jobFailed, jobTimedOut, jobCanceled, jobDependencyFailed, jobSkipped
            case disconnected, timedOut, connectionFailed, busFailure, other
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The unit does not exist (no unit file, not loaded).
        public static let noSuchUnit = Code(.noSuchUnit)
        /// systemd (or polkit) refused the caller.
        public static let accessDenied = Code(.accessDenied)
        /// The unit is masked and cannot be started.
        public static let unitMasked = Code(.unitMasked)
        /// systemd rejected an argument of the call (an unknown property, a bad mode, ...).
        public static let invalidArgument = Code(.invalidArgument)
        /// The unit file has a setting systemd cannot accept.
        public static let badUnitSetting = Code(.badUnitSetting)
        /// The job ended with result `failed`: the unit did not start (or stop) as asked.
        public static let jobFailed = Code(.jobFailed)
        /// The job ended with result `timeout` (e.g. `TimeoutStartSec=` passed).
        public static let jobTimedOut = Code(.jobTimedOut)
        /// The job was canceled, usually by a conflicting job.
        public static let jobCanceled = Code(.jobCanceled)
        /// A unit this one requires failed.
        public static let jobDependencyFailed = Code(.jobDependencyFailed)
        /// The job did not apply (e.g. an unmet `Condition…=`).
        public static let jobSkipped = Code(.jobSkipped)
        /// The connection to systemd is gone.
        public static let disconnected = Code(.disconnected)
        /// systemd did not answer in time.
        public static let timedOut = Code(.timedOut)
        /// The bus could not be reached at all.
        public static let connectionFailed = Code(.connectionFailed)
        /// A local sd-bus call failed (out of memory, bad message).
        public static let busFailure = Code(.busFailure)
        /// Any other D-Bus error; `busErrorName` says which.
        public static let other = Code(.other)

        public var description: String { base.rawValue }
    }

    public let code: Code
    /// The unit the failed operation was about, if any.
    public let unit: String?
    /// A sentence for a person.
    public let message: String
    /// The D-Bus error name, when systemd sent one (`org.freedesktop.systemd1.NoSuchUnit`).
    public let busErrorName: String?

    public init(_ code: Code, unit: String? = nil, message: String, busErrorName: String? = nil) {
        self.code = code
        self.unit = unit
        self.message = message
        self.busErrorName = busErrorName
    }

    public var description: String { message }
}

extension SystemdError {
    /// Maps a D-Bus error reply to a typed error. The message names the unit even when
    /// systemd's own text does not.
    static func fromBus(name: String, message: String, unit: String?) -> SystemdError {
        let code: Code = switch name {
        case "org.freedesktop.systemd1.NoSuchUnit", "org.freedesktop.systemd1.LoadFailed": .noSuchUnit
        case "org.freedesktop.DBus.Error.AccessDenied", "org.freedesktop.systemd1.InteractiveAuthorizationRequired":
            .accessDenied
        case "org.freedesktop.systemd1.UnitMasked": .unitMasked
        case "org.freedesktop.DBus.Error.InvalidArgs", "org.freedesktop.DBus.Error.PropertyReadOnly",
            "org.freedesktop.DBus.Error.UnknownProperty":
            .invalidArgument
        case "org.freedesktop.systemd1.BadUnitSetting": .badUnitSetting
        // sd-bus answers calls pending when the connection closes with this name, too.
        case "org.freedesktop.DBus.Error.NoReply" where message == "Connection terminated": .disconnected
        case "org.freedesktop.DBus.Error.NoReply", "org.freedesktop.DBus.Error.Timeout": .timedOut
        case "org.freedesktop.DBus.Error.Disconnected": .disconnected
        default: .other
        }
        var text = message.isEmpty ? name : message
        if let unit, !text.contains(unit) { text = "\(unit): \(text)" }
        return SystemdError(code, unit: unit, message: text, busErrorName: name)
    }
}
