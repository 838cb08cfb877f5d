/// Seeded generation of strings that stress escaping: quotes, backslashes, `%`, `$`, `;`,
/// white space, combining marks (U+0301) and prepended marks (U+0600) that fuse with the
/// character next to them into one `Character`, zero-width joiners, non-BMP scalars, and now
/// and then a control character or noncharacter that validation must refuse.
public struct HostileText: RandomNumberGenerator {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// SplitMix64: small, fast, and the same sequence for the same seed on every machine.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public static let tricky: [Unicode.Scalar] = [
        "\"", "\\", "%", "$", "{", "}", ";", "'", "=", "#", " ", " ", "a", "Z", "0", "/", "-", "i", "n",
        "\u{0301}", "\u{0600}", "\u{200D}", "\u{FE0F}", "\u{00E9}", "\u{4E2D}", "\u{1F600}", "\u{10FFFD}", "\u{1D11E}",
    ]
    /// Refused by validation: each makes the whole value invalid.
    public static let refused: [Unicode.Scalar] = ["\n", "\r", "\t", "\u{7F}", "\u{1B}"]
        + [0xFFFE, 0xFDD0, 0x1FFFF].map { Unicode.Scalar(UInt32($0))! }

    /// A string of up to `maxLength` scalars; `refusedChance` is the chance (in 1/1000) that it
    /// carries a refused scalar.
    public mutating func string(maxLength: Int = 12, refusedChance: Int = 0) -> String {
        var scalars = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 0...maxLength, using: &self) {
            scalars.append(Self.tricky.randomElement(using: &self)!)
        }
        if Int.random(in: 0..<1000, using: &self) < refusedChance {
            let at = scalars.index(scalars.startIndex, offsetBy: Int.random(in: 0...scalars.count, using: &self))
            scalars.insert(Self.refused.randomElement(using: &self)!, at: at)
        }
        return String(scalars)
    }

    /// A string that always holds at least one fused mark next to a quote, backslash or `%`.
    public mutating func fused() -> String {
        let core: [Unicode.Scalar] = ["\"", "\\", "%"]
        let c = core.randomElement(using: &self)!
        return Bool.random(using: &self) ? string(maxLength: 4) + String(c) + "\u{0301}" + string(maxLength: 4)
                                         : string(maxLength: 4) + "\u{0600}" + String(c) + string(maxLength: 4)
    }
}
