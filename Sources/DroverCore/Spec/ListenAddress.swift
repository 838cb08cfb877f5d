/// The `listen` value of a spec, checked the way systemd parses `ListenStream=` so that what
/// the agent accepts, systemd binds: `PORT` (every address), `A.B.C.D:PORT` or
/// `[IPv6]:PORT`. Host names (`localhost:80`) and interface names are refused, as systemd
/// would refuse or misread them; ports are decimal without leading zeros (systemd reads
/// `010` as octal and refuses `018`), 1…65535.
public enum ListenAddress {
    /// Why `value` is not a listen address, or nil if it is one.
    public static func problem(in value: String) -> String? {
        let bytes = Array(value.utf8)
        if !bytes.contains(UInt8(ascii: ":")) {
            return isPort(bytes[...]) ? nil : "is neither PORT nor ADDR:PORT"
        }
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")), close + 1 < bytes.count, bytes[close + 1] == UInt8(ascii: ":") else {
                return "an IPv6 address is written [ADDR]:PORT"
            }
            guard isIPv6(bytes[1..<close]) else { return "\(String(decoding: bytes[1..<close], as: UTF8.self)) is not an IPv6 address" }
            return isPort(bytes[(close + 2)...]) ? nil : "the port must be a decimal number from 1 to 65535 without leading zeros"
        }
        let colon = bytes.firstIndex(of: UInt8(ascii: ":"))!
        guard isIPv4(bytes[..<colon]) else {
            return "\(String(decoding: bytes[..<colon], as: UTF8.self)) is not an IPv4 address (host names are not resolved; write [ADDR]:PORT for IPv6)"
        }
        return isPort(bytes[(colon + 1)...]) ? nil : "the port must be a decimal number from 1 to 65535 without leading zeros"
    }

    static func isPort(_ bytes: ArraySlice<UInt8>) -> Bool {
        guard let value = decimal(bytes, maxDigits: 5) else { return false }
        return (1...65_535).contains(value)
    }

    /// Four decimal octets 0…255 without leading zeros, as `inet_pton(AF_INET)` takes them.
    static func isIPv4(_ bytes: ArraySlice<UInt8>) -> Bool {
        let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in decimal(part, maxDigits: 3).map { $0 <= 255 } ?? false }
    }

    /// Eight groups of 1–4 hex digits, one `::` standing for one or more zero groups, and an
    /// optional IPv4 tail, as `inet_pton(AF_INET6)` takes them (no zone index).
    static func isIPv6(_ bytes: ArraySlice<UInt8>) -> Bool {
        let text = Array(bytes)
        var head = text[...], tail: ArraySlice<UInt8> = []
        var compressed = false
        if let range = firstDoubleColon(text) {
            compressed = true
            head = text[..<range]
            tail = text[(range + 2)...]
            if firstDoubleColon(Array(tail)) != nil { return false }
        }
        func groups(_ part: ArraySlice<UInt8>, allowIPv4: Bool) -> Int? {
            if part.isEmpty { return 0 }
            var count = 0
            let pieces = part.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if allowIPv4, index == pieces.count - 1, piece.contains(UInt8(ascii: ".")) {
                    guard isIPv4(piece) else { return nil }
                    count += 2
                } else {
                    guard (1...4).contains(piece.count), piece.allSatisfy(isHexDigit) else { return nil }
                    count += 1
                }
            }
            return count
        }
        guard let before = groups(head, allowIPv4: !compressed), let after = groups(tail, allowIPv4: true) else { return false }
        return compressed ? before + after <= 7 : before == 8
    }

    private static func firstDoubleColon(_ text: [UInt8]) -> Int? {
        guard text.count >= 2 else { return nil }
        return (0..<(text.count - 1)).first { text[$0] == UInt8(ascii: ":") && text[$0 + 1] == UInt8(ascii: ":") }
    }

    private static func isHexDigit(_ c: UInt8) -> Bool {
        NamePattern.isDigit(c) || (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "f")) || (c >= UInt8(ascii: "A") && c <= UInt8(ascii: "F"))
    }

    /// A decimal number of at most `maxDigits` digits with no leading zero ("0" itself is fine).
    private static func decimal(_ bytes: ArraySlice<UInt8>, maxDigits: Int) -> Int? {
        guard (1...maxDigits).contains(bytes.count), bytes.allSatisfy(NamePattern.isDigit) else { return nil }
        if bytes.count > 1, bytes.first == UInt8(ascii: "0") { return nil }
        return bytes.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
    }
}
