/// A checker for names made of a restricted ASCII alphabet, without regular expressions
/// (so it behaves the same everywhere and costs nothing at start-up).
struct NamePattern: Sendable {
    let first: @Sendable (UInt8) -> Bool
    let rest: @Sendable (UInt8) -> Bool
    let maxLength: Int

    func matches(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard let head = bytes.first, bytes.count <= maxLength, first(head) else { return false }
        return bytes.dropFirst().allSatisfy(rest)
    }

    static func isLower(_ c: UInt8) -> Bool { c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z") }
    static func isUpper(_ c: UInt8) -> Bool { c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") }
    static func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
}
