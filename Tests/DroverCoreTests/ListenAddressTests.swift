import DroverCore
import Foundation
import Testing

/// `listen` is accepted only in forms systemd binds as written.
@Suite struct ListenAddressTests {
    @Test(arguments: [
        "8080", "0.0.0.0:8080", "127.0.0.1:1", "255.255.255.255:65535", "[::]:8080", "[::1]:80", "[fe80::1:2]:443",
        "[2001:db8::8a2e:370:7334]:9000", "[::ffff:192.0.2.1]:80", "[1:2:3:4:5:6:7:8]:80", "[1:2:3:4:5:6:7::]:80",
    ])
    func accepted(_ value: String) {
        #expect(ListenAddress.problem(in: value) == nil)
        #expect(throws: Never.self) { try ServiceSpec(binary: "web", listen: value).validate() }
    }

    @Test(arguments: [
        "localhost:18081", "0.0.0.0:018082", "a:b:c:80", "0.0.0.0:0", "0.0.0.0:65536", "0.0.0.0:", ":8080", "",
        "0.0.0.0:80 ", " 8080", "1.2.3:80", "1.2.3.4.5:80", "01.2.3.4:80", "256.0.0.1:80", "[::]8080", "[::]", "::1:80",
        "[1::2::3]:80", "[12345::]:80", "[::1%lo]:80", "eth0:80", "0x1f90", "0.0.0.0:8\u{0301}0", "٣٠٠٠", "/run/web.sock",
        "[1:2:3:4:5:6:7:8:9]:80", "[:1::]:80",
    ])
    func refused(_ value: String) {
        #expect(ListenAddress.problem(in: value) != nil)
        #expect(throws: SpecError.self) { try ServiceSpec(binary: "web", listen: value).validate() }
    }

    /// The IP parsing agrees with the C library's `inet_pton`, which systemd uses.
    @Test func agreesWithInetPton() {
        var random = SystemRandomNumberGenerator()
        let pieces = ["", "0", "1", "ff", "FFFF", "12345", "1.2.3.4", "256.1.1.1", "::", ":", "g", "01"]
        for _ in 0..<5_000 {
            let text = (0..<Int.random(in: 1...9, using: &random)).map { _ in pieces.randomElement(using: &random)! }
                .joined(separator: Bool.random(using: &random) ? ":" : ".")
            var v4 = in_addr(), v6 = in6_addr()
            let ours4 = ListenAddress.problem(in: text + ":80") == nil && !text.contains(":")
            let theirs4 = inet_pton(AF_INET, text, &v4) == 1
            #expect(ours4 == theirs4, "IPv4 \(text)")
            let ours6 = ListenAddress.problem(in: "[\(text)]:80") == nil
            let theirs6 = inet_pton(AF_INET6, text, &v6) == 1
            #expect(ours6 == theirs6, "IPv6 \(text)")
        }
    }
}
