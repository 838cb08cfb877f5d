import CSystemd
import Foundation

/// Reading units, listing them, changing them at run time, and reloading unit files.
extension SystemdClient {
    /// The statuses of `units`, asked for all at once (the calls pipeline over the one
    /// connection). Units whose status cannot be read (gone meanwhile) are left out.
    public nonisolated func statuses(of units: [String]) async -> [String: UnitStatus] {
        await withTaskGroup(of: (String, UnitStatus?).self) { group in
            for unit in units { group.addTask { (unit, try? await self.status(of: unit)) } }
            var result: [String: UnitStatus] = [:]
            for await (unit, status) in group { result[unit] = status }
            return result
        }
    }

    /// The status of `unit`. Throws `.noSuchUnit` when systemd has no such unit (no file, not loaded).
    public func status(of unit: String) async throws -> UnitStatus {
        // Both interfaces at once: the calls pipeline over the connection.
        async let common = properties(of: unit, interface: "org.freedesktop.systemd1.Unit")
        async let typeSpecific = typeProperties(of: unit)
        let unitProperties = try await common
        if unitProperties["LoadState"]?.string == "not-found", unitProperties["ActiveState"]?.string == "inactive" {
            _ = try? await typeSpecific
            throw SystemdError(.noSuchUnit, unit: unit, message: "unit \(unit) not found")
        }
        return UnitStatus(name: unit, unit: unitProperties, typeSpecific: try await typeSpecific)
    }

    private func typeProperties(of unit: String) async throws -> [String: BusValue] {
        guard let interface = Self.typeInterface(of: unit) else { return [:] }
        return try await properties(of: unit, interface: interface)
    }

    /// Every property of one interface of `unit`, decoded; for what `UnitStatus` does not cover.
    public func properties(of unit: String, interface: String) async throws -> [String: BusValue] {
        let message = try methodCall(
            path: try Self.objectPath(of: unit),
            interface: "org.freedesktop.DBus.Properties",
            member: "GetAll"
        )
        try message.append(interface)
        let reply = try await call(message, unit: unit)
        guard let properties = try reply.readValue()?.dictionary else {
            throw SystemdError(.busFailure, unit: unit, message: "unexpected reply to GetAll for \(unit)")
        }
        return properties
    }

    /// Loaded units whose names match any of the shell-style `patterns` (all when empty).
    public func listUnits(matching patterns: [String], states: [String] = []) async throws -> [UnitListEntry] {
        let message = try methodCall(member: "ListUnitsByPatterns")
        try message.append(states)
        try message.append(patterns)
        let reply = try await call(message)
        return try (reply.readValue()?.array ?? []).compactMap { row in
            guard case .structure(let fields) = row, fields.count >= 5 else {
                throw SystemdError(.busFailure, message: "unexpected row in ListUnitsByPatterns")
            }
            return UnitListEntry(
                name: fields[0].string ?? "", description: fields[1].string ?? "",
                loadState: fields[2].string ?? "", activeState: fields[3].string ?? "",
                subState: fields[4].string ?? "",
                jobID: fields.count > 7 ? UInt32(truncatingIfNeeded: fields[7].uint64 ?? 0) : 0
            )
        }
    }

    /// Unit files on disk whose names match any of `patterns`, loaded or not.
    public func listUnitFiles(matching patterns: [String]) async throws -> [UnitFileEntry] {
        let message = try methodCall(member: "ListUnitFilesByPatterns")
        try message.append([String]())
        try message.append(patterns)
        let reply = try await call(message)
        return (try reply.readValue()?.array ?? []).compactMap { row in
            guard case .structure(let fields) = row, fields.count == 2,
                  let path = fields[0].string, let state = fields[1].string
            else { return nil }
            return UnitFileEntry(path: path, state: state)
        }
    }

    /// Changes resource settings of `unit` at run time (`runtime: true`: until reboot, in
    /// `/run`), applied to the running processes without restarting them.
    public func setProperties(of unit: String, _ changes: [UnitPropertyChange], runtime: Bool = true) async throws {
        let message = try methodCall(member: "SetUnitProperties")
        try message.append(unit)
        try message.append(runtime)
        try message.withContainer("a", "(sv)") { () throws(SystemdError) in
            for change in changes {
                let (name, value) = change.assignment
                try message.withContainer("r", "sv") { () throws(SystemdError) in
                    try message.append(name)
                    try message.withContainer("v", "t") { () throws(SystemdError) in try message.append(value) }
                }
            }
        }
        _ = try await call(message, unit: unit)
    }

    /// Forgets that `unit` failed (and resets its start-limit counter), so it can be started again.
    public func resetFailed(_ unit: String) async throws {
        let message = try methodCall(member: "ResetFailedUnit")
        try message.append(unit)
        _ = try await call(message, unit: unit)
    }

    /// `daemon-reload`: re-reads every unit file. systemd replies once the reload is done.
    public func reload() async throws {
        _ = try await call(try methodCall(member: "Reload"))
    }

    /// A round trip to systemd and back (`org.freedesktop.DBus.Peer.Ping`): the connection
    /// and the bus loop work.
    public func ping() async throws {
        _ = try await call(try methodCall(interface: "org.freedesktop.DBus.Peer", member: "Ping"))
    }

    // MARK: Helpers

    /// The D-Bus object of a unit, derived from its name (systemd loads it on first access).
    static func objectPath(of unit: String) throws(SystemdError) -> String {
        var path: UnsafeMutablePointer<CChar>? = nil
        let result = unit.withCString { sd_bus_path_encode("/org/freedesktop/systemd1/unit", $0, &path) }
        try checked("sd_bus_path_encode", result, unit: unit)
        defer { free(path) }
        return String(cString: path!)
    }

    /// The interface with the type-specific properties (MainPID, ControlGroup, …).
    static func typeInterface(of unit: String) -> String? {
        guard let dot = unit.lastIndex(of: ".") else { return nil }
        return switch unit[unit.index(after: dot)...] {
        case "service": "org.freedesktop.systemd1.Service"
        case "socket": "org.freedesktop.systemd1.Socket"
        case "slice": "org.freedesktop.systemd1.Slice"
        case "scope": "org.freedesktop.systemd1.Scope"
        case "mount": "org.freedesktop.systemd1.Mount"
        case "swap": "org.freedesktop.systemd1.Swap"
        default: nil
        }
    }
}
