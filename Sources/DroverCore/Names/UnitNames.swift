/// The systemd unit names Drover uses for a service, in one place.
///
/// Two rules keep them unambiguous, and differ from a naive `drover-<service>-<version>`:
/// - Service and version are joined with `_`, which a service name cannot contain. With `-`
///   (allowed in both) service `web` at version `api-1` and service `web-api` at version `1`
///   would share one unit, and one service's deploy would overwrite the other's.
/// - In slice names `-` means nesting (`a-b.slice` lives inside `a.slice`), so the service
///   name is escaped as `systemd-escape` does (`-` → `\x2d`); every service's slice is then
///   a direct child of `drover.slice`, and `web-api` never inherits the limits of `web`.
///
/// `ServiceName` and `ReleaseVersion` are validated, so every name built here is a valid unit name.
public enum UnitNames {
    /// Every unit Drover creates starts with this, so they can be listed with one pattern.
    public static let prefix = "drover-"
    /// Joins service and version; never part of a service name.
    public static let separator = "_"
    /// The parent slice of every service slice.
    public static let rootSlice = "drover.slice"

    /// `drover-<service>_<version>@.service`: one immutable template per release.
    public static func template(_ service: ServiceName, _ version: ReleaseVersion) -> String {
        "\(prefix)\(service)\(separator)\(version)@.service"
    }

    /// `drover-<service>_<version>@<slot>.service`: one running instance.
    public static func instance(_ service: ServiceName, _ version: ReleaseVersion, slot: Int) -> String {
        precondition(slot >= 0, "slots are non-negative")
        return "\(prefix)\(service)\(separator)\(version)@\(slot).service"
    }

    /// `drover-<escaped service>.slice`: service-wide resource limits for all its instances.
    public static func slice(_ service: ServiceName) -> String {
        let escaped = service.rawValue.replacingAll("-", with: "\\x2d")
        return "\(prefix)\(escaped).slice"
    }

    /// `drover-<service>.socket`: the optional listening socket shared by all instances.
    public static func socket(_ service: ServiceName) -> String {
        "\(prefix)\(service).socket"
    }

    /// `drover-<service>-socket-holder.service`: the shared socket's placeholder service.
    public static func socketHolder(_ service: ServiceName) -> String {
        "\(prefix)\(service)-socket-holder.service"
    }

    /// A glob matching every instance of every release of `service`, and nothing else.
    public static func instancePattern(_ service: ServiceName) -> String {
        "\(prefix)\(service)\(separator)*@*.service"
    }

    /// The highest slot Drover ever uses: a rollout reaches at most the count plus the surge,
    /// both within `Bounds.instances`. A unit named with a higher slot is not Drover's (made by
    /// hand): read as one, it would send the agent allocating ports for billions of slots.
    public static let maxSlot = 2 * Bounds.instances.upperBound

    /// The parts of an instance unit name, or nil if `unit` is not one Drover made.
    public static func parseInstance(_ unit: String) -> (service: ServiceName, version: ReleaseVersion, slot: Int)? {
        guard unit.hasPrefix(prefix), unit.hasSuffix(".service") else { return nil }
        let body = unit.dropFirst(prefix.count).dropLast(".service".count)
        guard let at = body.lastIndex(of: "@"),
              let slot = Int(body[body.index(after: at)...]), (0...maxSlot).contains(slot),
              String(slot) == body[body.index(after: at)...],
              let sep = body[..<at].firstIndex(of: Character(separator)),
              let service = try? ServiceName(String(body[..<sep])),
              let version = try? ReleaseVersion(String(body[body.index(after: sep)..<at]))
        else { return nil }
        return (service, version, slot)
    }
}

extension String {
    /// `replacingOccurrences` without Foundation, so the core stays dependency-free. Compares
    /// Unicode scalars, not `Character`s, so a mark fused to `target` cannot hide it.
    func replacingAll(_ target: Unicode.Scalar, with replacement: String) -> String {
        var result = String.UnicodeScalarView()
        for scalar in unicodeScalars {
            if scalar == target { result.append(contentsOf: replacement.unicodeScalars) } else { result.append(scalar) }
        }
        return String(result)
    }
}

extension UnitNames {
    /// `drover-<service>_<version>.run-<id>.service`: a one-off run of a release. No `@`, so
    /// it is never taken for an instance.
    public static func oneOffRun(_ service: ServiceName, _ version: ReleaseVersion, id: String) -> String {
        "\(prefix)\(service)\(separator)\(version).run-\(id).service"
    }
}
