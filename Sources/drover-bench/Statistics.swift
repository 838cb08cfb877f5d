/// Order statistics of a set of timings.
struct Timings {
    private(set) var samples: [Duration] = []

    mutating func add(_ sample: Duration) { samples.append(sample) }

    var median: Duration { percentile(50) }
    var p95: Duration { percentile(95) }
    var min: Duration { samples.min() ?? .zero }
    var max: Duration { samples.max() ?? .zero }

    /// Nearest-rank percentile.
    func percentile(_ p: Int) -> Duration {
        guard !samples.isEmpty else { return .zero }
        let sorted = samples.sorted()
        let rank = Swift.max(1, Int((Double(p) / 100 * Double(sorted.count)).rounded(.up)))
        return sorted[Swift.min(rank, sorted.count) - 1]
    }
}

extension Duration {
    /// Milliseconds with one or two decimals, for tables.
    var milliseconds: String {
        let (seconds, attoseconds) = components
        let ms = Double(seconds) * 1_000 + Double(attoseconds) / 1e15
        return ms < 10 ? String(format2: ms, decimals: 2) : String(format2: ms, decimals: 1)
    }
}

extension String {
    init(format2 value: Double, decimals: Int) {
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var text = String(rounded)
        if let dot = text.firstIndex(of: ".") {
            let have = text.distance(from: dot, to: text.endIndex) - 1
            if have < decimals { text += String(repeating: "0", count: decimals - have) }
        }
        self = text
    }

    func padded(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
