extension Duration {
    /// The duration in seconds, as a `Double` (for JSON and messages).
    public var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// A duration of `seconds`, to the millisecond, clamped to 0…`Bounds.seconds`: whatever
    /// the number (negative, huge, NaN), making the duration cannot trap.
    public static func seconds(clamping seconds: Double) -> Duration {
        guard seconds.isFinite, seconds > 0 else { return .zero }
        let milliseconds = (Swift.min(seconds, Bounds.seconds.upperBound) * 1000).rounded()
        return .milliseconds(Int64(milliseconds))
    }
}

extension Int {
    /// `self + other`, stopping at `Int.max`/`Int.min` instead of trapping.
    public func addingSaturated(_ other: Int) -> Int {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : sum
    }

    /// `self - other`, stopping at `Int.max`/`Int.min` instead of trapping.
    public func subtractingSaturated(_ other: Int) -> Int {
        let (difference, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other > 0 ? .min : .max) : difference
    }

    /// The whole number `value` rounds up to, clamped to `range`; NaN gives `fallback`.
    public init(roundingUp value: Double, clampedTo range: ClosedRange<Int>, fallback: Int) {
        guard !value.isNaN else { self = fallback; return }
        let rounded = value.rounded(.up)
        if rounded <= Double(range.lowerBound) { self = range.lowerBound }
        else if rounded >= Double(range.upperBound) { self = range.upperBound }
        else { self = Int(rounded) }
    }
}
