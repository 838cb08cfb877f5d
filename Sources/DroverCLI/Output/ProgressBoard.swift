import Foundation
import Synchronization

/// Live progress on a terminal: one line per host in flight ("host-1  2 of 4 instances of
/// 3fa2… healthy  5.1s"), redrawn in place below the log lines, on stderr. When stderr is not a
/// terminal there is no board: the log lines alone say what happens, one per line.
final class ProgressBoard: Sendable {
    private let terminal: Terminal
    private let state = Mutex(State())

    private struct State {
        var rows: [(host: String, text: String)] = []
        var drawn = 0
    }

    init(terminal: Terminal) {
        self.terminal = terminal
    }

    var isLive: Bool { terminal.isTTY }

    /// Sets (or adds) a host's line and redraws.
    func update(_ host: String, _ text: String) {
        guard isLive else { return }
        state.withLock { state in
            if let index = state.rows.firstIndex(where: { $0.host == host }) { state.rows[index].text = text } else { state.rows.append((host, text)) }
            redraw(&state, above: nil)
        }
    }

    /// A log line, printed above the board.
    func log(_ line: String) {
        guard isLive else { terminal.note(line); return }
        state.withLock { redraw(&$0, above: line) }
    }

    /// Removes the board, leaving the log lines.
    func finish() {
        guard isLive else { return }
        state.withLock { state in
            state.rows = []
            redraw(&state, above: nil)
        }
    }

    private func redraw(_ state: inout State, above line: String?) {
        // Up over the old board, clear to the end of the screen, then lines and board again.
        var text = state.drawn > 0 ? "\u{1B}[\(state.drawn)F\u{1B}[J" : ""
        if let line { text += line + "\n" }
        let width = state.rows.map(\.host.count).max() ?? 0
        for row in state.rows { text += terminal.styled(row.host.padding(toLength: width), .bold) + "  " + row.text + "\n" }
        state.drawn = state.rows.count
        terminal.noteRaw(text)
    }
}
