import Foundation
import Synchronization

/// Where every command writes, injected so tests read what a command printed. Knows whether
/// stdout is a terminal (live progress and colour there, plain lines when piped) and whether
/// colour is wanted (`NO_COLOR`, `CLICOLOR=0`, `TERM=dumb` turn it off). Data goes to stdout;
/// progress and diagnostics to stderr, so `drover status --json | jq` stays clean.
public final class Terminal: Sendable {
    public let isTTY: Bool
    public let colors: Bool
    private let write: @Sendable (_ toError: Bool, _ text: String) -> Void
    private let lock = Mutex(())

    public init(isTTY: Bool, colors: Bool, write: @escaping @Sendable (_ toError: Bool, _ text: String) -> Void) {
        self.isTTY = isTTY
        self.colors = colors
        self.write = write
    }

    /// The process's own stdout and stderr.
    public static func standard(environment: [String: String] = ProcessInfo.processInfo.environment) -> Terminal {
        // Progress goes to stderr: it is live when stderr is a terminal, whatever stdout is.
        let tty = isatty(STDERR_FILENO) == 1 && environment["TERM"] != "dumb"
        let noColor = environment["NO_COLOR"].map { !$0.isEmpty } ?? false
        let colors = tty && isatty(STDOUT_FILENO) == 1 && !noColor && environment["CLICOLOR"] != "0"
        return Terminal(isTTY: tty, colors: colors) { toError, text in
            (toError ? FileHandle.standardError : FileHandle.standardOutput).write(Data(text.utf8))
        }
    }

    /// A line of data (stdout).
    public func print(_ line: String) { lock.withLock { _ in write(false, line + "\n") } }
    /// A line of progress or diagnostics (stderr).
    public func note(_ line: String) { lock.withLock { _ in write(true, line + "\n") } }
    /// Data for stdout as it is, with no newline added (a command's output as it streams).
    func raw(_ text: String) { lock.withLock { _ in write(false, text) } }
    /// Text for stderr as it is (terminal control sequences included).
    func noteRaw(_ text: String) { lock.withLock { _ in write(true, text) } }

    public enum Style: String { case red = "31", green = "32", yellow = "33", bold = "1", dim = "2" }

    public func styled(_ text: String, _ style: Style) -> String {
        colors ? "\u{1B}[\(style.rawValue)m\(text)\u{1B}[0m" : text
    }
}
