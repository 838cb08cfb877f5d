import Foundation

/// Writes that are all or nothing: a temporary file in the same directory, fsync, rename over
/// the target, fsync the directory. A crash leaves the old content or the new, never half.
enum AtomicFile {
    static func write(_ data: Data, to path: String, mode: mode_t = 0o644) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = directory + "/.\((path as NSString).lastPathComponent).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw POSIXFailure("open \(temporary)") }
        do {
            try data.withUnsafeBytes { buffer in try writeAll(fd, buffer, path: temporary) }
            guard fchmod(fd, mode) == 0, fsync(fd) == 0 else { throw POSIXFailure("fsync \(temporary)") }
            close(fd)
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        guard rename(temporary, path) == 0 else {
            let failure = POSIXFailure("rename \(temporary) to \(path)")
            unlink(temporary)
            throw failure
        }
        try syncDirectory(directory)
    }

    /// Writes every byte of `buffer`, retrying short writes.
    static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < buffer.count {
            let written = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw POSIXFailure("write \(path)")
            }
            offset += written
        }
    }

    /// fsync of a directory makes a rename or a new entry in it durable.
    static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw POSIXFailure("open \(path)") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw POSIXFailure("fsync \(path)") }
    }
}

/// A failed system call, with the call, its subject and the errno text.
/// A failed system call: what was being done (with its path, for the log) and `errno`.
struct POSIXFailure: Error, CustomStringConvertible {
    let what: String
    let code: Int32
    init(_ what: String, errno code: Int32 = errno) {
        self.what = what
        self.code = code
    }
    /// The call alone ("open", "fsync", …), without paths: what an API answer may say.
    var operation: String { String(what.prefix { $0 != " " }) }
    var description: String { "\(what): \(String(cString: strerror(code)))" }
}
