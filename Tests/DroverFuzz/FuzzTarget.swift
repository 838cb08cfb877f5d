/// What the fuzzer attacks: each target takes arbitrary bytes, feeds them to one of the
/// parsers or decoders that read outside input, and checks a property that must hold for
/// every input. A property that fails traps (`require`), which libFuzzer reports as a crash
/// with the input that caused it; an ordinary refusal (a thrown error) is the right answer
/// to bad input and passes.
enum FuzzTarget: String, CaseIterable, Sendable {
    /// The manifest and inventory parsers (TOML read key by key).
    case manifest
    /// The tarball extractor, over a fresh directory: nothing lands outside it.
    case tarball
    /// The unit renderer, read back with the model of systemd's parser: the round trip holds.
    case unit
    /// The service-name, version, unit-name and `listen` parsers.
    case names
    /// The agent's request decoding: the spec and secrets headers, the digest header and
    /// every JSON body it accepts.
    case request

    func run(_ input: [UInt8]) {
        switch self {
        case .manifest: ManifestFuzzing.run(input)
        case .tarball: TarballFuzzing.run(input)
        case .unit: UnitFuzzing.run(input)
        case .names: NameFuzzing.run(input)
        case .request: RequestFuzzing.run(input)
        }
    }
}

/// A property of the target that does not hold: a crash for libFuzzer, with the reason.
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("fuzz property failed: \(message())") }
}

extension Array where Element == UInt8 {
    /// The input as text, as it would arrive in a file or header (invalid UTF-8 repaired).
    var text: String { String(decoding: self, as: UTF8.self) }

    /// The input cut at zero bytes into fields, for targets that take several values.
    var fields: [String] { split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) } }
}
