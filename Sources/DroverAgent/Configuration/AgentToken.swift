import Foundation
import Logging

/// The shared secret of the agent API.
public struct AgentToken: Sendable {
    private let bytes: [UInt8]

    public init(_ token: String) {
        bytes = Array(token.utf8)
    }

    /// Constant-time comparison: the time taken depends on the lengths only.
    func matches(_ candidate: String) -> Bool {
        let candidate = Array(candidate.utf8)
        var difference = UInt8(truncatingIfNeeded: candidate.count ^ bytes.count)
        for index in 0..<bytes.count {
            difference |= bytes[index] ^ (index < candidate.count ? candidate[index] : 0)
        }
        return difference == 0
    }

    /// Reads the token file, or creates it (256 random bits, hex, mode 0600) on first start.
    public static func loadOrCreate(at path: String, logger: Logger) throws -> AgentToken {
        let fm = FileManager.default
        if fm.fileExists(atPath: path) {
            let text = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            guard text.count >= 16 else {
                throw ConfigurationError("the token in \(path) is shorter than 16 characters: use a long random token (or delete the file to have one made)")
            }
            return AgentToken(text)
        }
        var random = SystemRandomNumberGenerator()
        let token = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &random)) }.joined()
        try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
                               attributes: [.posixPermissions: 0o700])
        try AtomicFile.write(Data((token + "\n").utf8), to: path, mode: 0o600)
        logger.notice("created a new API token", metadata: ["file": "\(path)"])
        return AgentToken(token)
    }
}
