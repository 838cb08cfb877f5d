/// Whether an address is this machine's loopback: `127.0.0.0/8` written as a dotted quad,
/// `::1`, an IPv4-mapped `::ffff:127.x.y.z`, or `localhost`. Plain HTTP is allowed to and from
/// these only, so the test is exact: a host *name* that starts with "127." is not loopback.
public enum LoopbackAddress {
    public static func contains(_ address: String) -> Bool {
        var text = Substring(address)
        if text.hasPrefix("["), text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        if text == "localhost" || text == "::1" { return true }
        if text.hasPrefix("::ffff:") { text = text.dropFirst("::ffff:".count) }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return false }
        let octets = parts.map { part -> Int? in
            guard (1...3).contains(part.utf8.count), part.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
            return Int(part).flatMap { $0 <= 255 ? $0 : nil }
        }
        return octets.allSatisfy { $0 != nil } && octets[0] == 127
    }
}
