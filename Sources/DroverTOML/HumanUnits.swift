import DroverCore

/// The human units manifests are written in: durations (`"30s"`, `"500ms"`, `"5m"`, `"1h"`,
/// or a bare number of seconds), byte sizes (`"512M"`, `"1G"`, `"64Ki"`, powers of 1024 as in
/// systemd, or a bare number of bytes) and percentages (`"50%"`). Pure; every result is
/// range-checked by the caller.
public enum HumanUnits {
    /// Seconds in a duration, or nil with what was wrong.
    public static func seconds(_ text: String) -> Result<Double, UnitProblem> {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3_600), ("d", 86_400)]
        let trimmed = text.trimmingSpaces
        for (suffix, factor) in units where trimmed.hasSuffix(suffix) {
            // "ms" is tried before "s" and "m", so "500ms" is never read as 500 minutes.
            let number = String(trimmed.dropLast(suffix.count)).trimmingSpaces
            guard let value = Double(number), value.isFinite, value >= 0 else { break }
            return .success(value * factor)
        }
        if let value = Double(trimmed), value.isFinite, value >= 0 { return .success(value) }
        return .failure(UnitProblem("\"\(text)\" is not a duration: write it like \"30s\", \"500ms\", \"5m\" or \"1h\""))
    }

    /// Bytes in a size, or nil with what was wrong.
    public static func bytes(_ text: String) -> Result<UInt64, UnitProblem> {
        var number = text.trimmingSpaces
        if number.hasSuffix("B") { number.removeLast() }
        if number.hasSuffix("i") { number.removeLast() }
        let factors: [Character: Double] = ["K": 1024, "M": 1024 * 1024, "G": 1024 * 1024 * 1024, "T": 1024 * 1024 * 1024 * 1024]
        var factor: Double = 1
        if let last = number.last, let f = factors[Character(last.uppercased())] {
            factor = f
            number.removeLast()
        }
        guard let value = Double(number.trimmingSpaces), value.isFinite, value >= 0, value * factor < 1.8e19 else {
            return .failure(UnitProblem("\"\(text)\" is not a size: write it like \"512M\", \"1G\" or a number of bytes"))
        }
        return .success(UInt64((value * factor).rounded()))
    }

    /// A percentage (`"50%"`), as a number (50).
    public static func percent(_ text: String) -> Result<Double, UnitProblem> {
        let trimmed = text.trimmingSpaces
        guard trimmed.hasSuffix("%"), let value = Double(String(trimmed.dropLast()).trimmingSpaces), value.isFinite, value > 0 else {
            return .failure(UnitProblem("\"\(text)\" is not a percentage: write it like \"50%\""))
        }
        return .success(value)
    }
}

extension HumanUnits {
    /// A CPU amount in cores: a bare number (`0.5`) or a share of one CPU (`"50%"`), within
    /// `Bounds.cpuCores`; nil otherwise. Shared by manifests and `drover autoscale --cpu`.
    public static func cores(_ text: String) -> Double? {
        let cores: Double
        if case .success(let percent) = percent(text) { cores = percent / 100 } else if let number = Double(text.trimmingSpaces) { cores = number } else { return nil }
        return Bounds.cpuCores.contains(cores) ? cores : nil
    }

    /// A `CPUQuota=` share (`"50%"`, `"200%"`) as whole percent within `Bounds.cpuPercent`;
    /// nil otherwise. The range is checked on the number read, before it becomes an `Int`.
    public static func cpuPercent(_ text: String) -> Int? {
        guard case .success(let percent) = percent(text) else { return nil }
        let rounded = percent.rounded()
        guard rounded >= Double(Bounds.cpuPercent.lowerBound), rounded <= Double(Bounds.cpuPercent.upperBound) else { return nil }
        return Int(rounded)
    }
}

/// Why a value in human units could not be read.
public struct UnitProblem: Error, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
}

extension String {
    public var trimmingSpaces: String {
        var scalars = unicodeScalars[...]
        while let first = scalars.first, first == " " || first == "\t" { scalars = scalars.dropFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars = scalars.dropLast() }
        return String(String.UnicodeScalarView(scalars))
    }
}

extension HumanUnits {
    /// A byte count as people read it: `512M`, `1.5G`, `900B` (powers of 1024).
    public static func describe(bytes value: UInt64) -> String {
        let units = ["B", "K", "M", "G", "T"]
        var size = Double(value), unit = 0
        while size >= 1024, unit < units.count - 1 { size /= 1024; unit += 1 }
        guard unit > 0 else { return "\(value)B" }
        if size >= 10 { return "\(Int(size.rounded()))\(units[unit])" }
        let tenths = Int((size * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)\(units[unit])"
    }
}
