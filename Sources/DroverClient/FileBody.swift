import Crypto
import Foundation
import NIOCore

/// A file read in chunks as it is sent, so an upload never holds the artifact in memory.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String
    var chunkSize = 256 * 1024

    struct AsyncIterator: AsyncIteratorProtocol {
        let handle: FileHandle
        let chunkSize: Int

        mutating func next() async throws -> ByteBuffer? {
            guard let data = try handle.read(upToCount: chunkSize), !data.isEmpty else {
                try? handle.close()
                return nil
            }
            return ByteBuffer(bytes: data)
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        // The file was opened and hashed just before; failing to open it now ends the body,
        // and the agent refuses the short upload ("truncated").
        AsyncIterator(handle: FileHandle(forReadingAtPath: path) ?? FileHandle(fileDescriptor: -1), chunkSize: chunkSize)
    }
}

/// An artifact's SHA-256 and size: read once, then used for its version, to see whether a
/// host holds it, and for every host's upload.
public struct ArtifactDigest: Sendable, Equatable {
    public let sha256: [UInt8]
    public let size: Int64
    /// Hex, as the agent reports a release's (`ReleaseInfo.sha256`).
    public var hex: String { sha256.map { String(format: "%02x", $0) }.joined() }

    /// Reads the file in chunks.
    public init(ofFile path: String) throws {
        (sha256, size) = try DroverClient.sha256(ofFile: path)
    }
}

/// The SHA-256 and size of a file, read in chunks.
func sha256(ofFile path: String) throws -> (digest: [UInt8], size: Int64) {
    guard let handle = FileHandle(forReadingAtPath: path) else {
        throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
    }
    defer { try? handle.close() }
    var hasher = SHA256()
    var size: Int64 = 0
    while let data = try handle.read(upToCount: 1 << 20), !data.isEmpty {
        hasher.update(data: data)
        size += Int64(data.count)
    }
    return (Array(hasher.finalize()), size)
}
