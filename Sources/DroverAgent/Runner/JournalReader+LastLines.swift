import DroverSystemd
import NIOPosix

extension JournalReader {
    /// A failure with the last lines the unit wrote, so the reason says why. The journal is
    /// read on the I/O thread pool: opening it blocks, and failures come in bursts.
    func withLastLines(_ failure: String, of unit: String) async -> String {
        let lines = ((try? await NIOThreadPool.singleton.runIfActive { try self.entries(of: unit, last: 5) }) ?? [])
            .map(\.message).filter { !$0.isEmpty }
        return lines.isEmpty ? failure : "\(failure); last lines: \(lines.joined(separator: " | "))"
    }
}
