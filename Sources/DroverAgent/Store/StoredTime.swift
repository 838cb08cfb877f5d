import Foundation
import GRDB

/// Times as the store keeps them: UTC text, `yyyy-MM-dd HH:mm:ss.SSS` — GRDB's own format, so
/// rows written by earlier agents read the same. Formatted and parsed here with the C
/// library: GRDB would go through Foundation's `DateFormatter` and `Calendar`, which load ICU
/// (megabytes of resident memory) into the agent for the first event it records.
enum StoredTime {
    static var now: String { text(Date()) }

    static func text(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970
        guard seconds.isFinite, abs(seconds) < 1e12 else { return "1970-01-01 00:00:00.000" }
        // To the nearest millisecond, as GRDB writes it.
        let total = Int64((seconds * 1000).rounded())
        let wholeSeconds = total >= 0 ? total / 1000 : (total - 999) / 1000
        var whole = time_t(wholeSeconds)
        let millis = Int(total - wholeSeconds * 1000)
        var parts = tm()
        gmtime_r(&whole, &parts)
        func digits(_ value: Int32, _ count: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, count - text.count)) + text
        }
        return "\(digits(parts.tm_year + 1900, 4))-\(digits(parts.tm_mon + 1, 2))-\(digits(parts.tm_mday, 2)) "
            + "\(digits(parts.tm_hour, 2)):\(digits(parts.tm_min, 2)):\(digits(parts.tm_sec, 2)).\(digits(Int32(millis), 3))"
    }

    /// The time of a stored text (`yyyy-MM-dd HH:mm:ss`, optionally `.SSS`, `T` for the space,
    /// and `Z`); a text that is none of these reads as the epoch rather than stopping the agent.
    static func date(_ text: String?) -> Date {
        guard let text else { return Date(timeIntervalSince1970: 0) }
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int32? {
            guard range.upperBound <= bytes.count else { return nil }
            var value: Int32 = 0
            for byte in bytes[range] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int32(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else {
            return Date(timeIntervalSince1970: 0)
        }
        // Milliseconds: up to three digits after a point (more are ignored).
        var millis: Double = 0
        if bytes.count > 20, bytes[19] == UInt8(ascii: ".") {
            var scale = 100.0
            for byte in bytes[20...].prefix(3) {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { break }
                millis += Double(byte - UInt8(ascii: "0")) * scale
                scale /= 10
            }
        }
        var parts = tm()
        parts.tm_year = year - 1900
        parts.tm_mon = month - 1
        parts.tm_mday = day
        parts.tm_hour = hour
        parts.tm_min = minute
        parts.tm_sec = second
        return Date(timeIntervalSince1970: Double(timegm(&parts)) + millis / 1000)
    }
}

extension Row {
    /// A time column, read as `StoredTime` text.
    func time(_ column: String) -> Date { StoredTime.date(self[column] as String?) }
}
