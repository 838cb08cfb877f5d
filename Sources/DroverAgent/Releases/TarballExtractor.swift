import CArchive
import Foundation

/// Unpacks a `.tar.gz` with libarchive into a fresh directory, refusing anything that could
/// reach outside it: absolute paths, `..`, links pointing out, device nodes, FIFOs and
/// sockets, and set-user-ID bits. libarchive's own guards (`SECURE_NODOTDOT`, `SECURE_SYMLINKS`) run as well, and
/// the unpacked size is capped (a small archive can expand enormously).
enum TarballExtractor {
    private static let regularFile: UInt32 = 0o100000
    private static let directory: UInt32 = 0o040000
    private static let symbolicLink: UInt32 = 0o120000

    /// Returns the number of files unpacked.
    static func extract(_ archivePath: String, into destination: String, maxBytes: Int64) throws(ReleaseError) -> Int {
        guard let root = resolvedPath(destination) else {
            throw ReleaseError(.unprocessable, "unpack_failed", "cannot resolve \(destination)")
        }
        let reader = archive_read_new()
        let writer = archive_write_disk_new()
        defer {
            archive_read_free(reader)
            archive_write_free(writer)
        }
        archive_read_support_filter_gzip(reader)
        archive_read_support_format_tar(reader)
        archive_write_disk_set_options(writer, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME
            | ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS)
        guard archive_read_open_filename(reader, archivePath, 64 * 1024) == ARCHIVE_OK else {
            throw ReleaseError(.unprocessable, "invalid_tarball", "the artifact is not a readable .tar.gz: \(message(reader))")
        }

        var files = 0
        var unpacked: Int64 = 0
        while true {
            var entry: OpaquePointer? = nil
            let status = archive_read_next_header(reader, &entry)
            if status == ARCHIVE_EOF { break }
            guard status >= ARCHIVE_WARN, let entry else {
                throw ReleaseError(.unprocessable, "invalid_tarball", "the tarball is damaged: \(message(reader))")
            }
            guard let rawName = archive_entry_pathname(entry).map({ String(cString: $0) }) else {
                throw ReleaseError(.unprocessable, "unsafe_tarball", "the tarball has an entry without a readable name")
            }
            let name = try safeRelativePath(rawName, what: "entry")
            if name.isEmpty { continue }  // "./" itself

            let type = UInt32(archive_entry_filetype(entry))
            if let hardlink = archive_entry_hardlink(entry).map({ String(cString: $0) }) {
                let target = try safeRelativePath(hardlink, what: "hard link target of \(rawName)")
                archive_entry_set_hardlink(entry, root + "/" + target)
            } else if type == symbolicLink {
                let target = archive_entry_symlink(entry).map { String(cString: $0) } ?? ""
                guard !target.hasPrefix("/"), staysInside(link: name, target: target) else {
                    throw ReleaseError(.unprocessable, "unsafe_tarball", "symlink \(rawName) -> \(target) points outside the release")
                }
            } else if type != regularFile && type != directory {
                throw ReleaseError(.unprocessable, "unsafe_tarball", "\(rawName) is a device, FIFO or socket: a release may hold only files, directories and symlinks")
            }
            archive_entry_set_pathname(entry, root + "/" + name)
            // The agent unpacks as root: keep rwx bits only, never set-user-ID, set-group-ID or
            // sticky, so no release can leave a setuid-root file on the host.
            archive_entry_set_perm(entry, archive_entry_perm(entry) & 0o777)

            guard archive_write_header(writer, entry) >= ARCHIVE_WARN else {
                throw ReleaseError(.unprocessable, "unsafe_tarball", "cannot unpack \(rawName): \(message(writer))")
            }
            if type == regularFile { files += 1 }
            var block: UnsafeRawPointer? = nil
            var size = 0
            var offset: la_int64_t = 0
            while true {
                let read = archive_read_data_block(reader, &block, &size, &offset)
                if read == ARCHIVE_EOF { break }
                guard read >= ARCHIVE_WARN else {
                    throw ReleaseError(.unprocessable, "invalid_tarball", "the tarball is damaged at \(rawName): \(message(reader))")
                }
                unpacked += Int64(size)
                guard unpacked <= maxBytes else {
                    throw ReleaseError(.tooLarge, "too_large", "the tarball unpacks to more than \(maxBytes) bytes (max_unpacked_bytes)")
                }
                guard archive_write_data_block(writer, block, size, offset) >= ARCHIVE_WARN else {
                    throw ReleaseError(.unprocessable, "unpack_failed", "cannot write \(rawName): \(message(writer))")
                }
            }
            guard archive_write_finish_entry(writer) >= ARCHIVE_WARN else {
                throw ReleaseError(.unprocessable, "unpack_failed", "cannot finish \(rawName): \(message(writer))")
            }
        }
        return files
    }

    /// A relative path without `.` and `..` components (leading `./` removed); throws otherwise.
    static func safeRelativePath(_ path: String, what: String) throws(ReleaseError) -> String {
        guard !path.hasPrefix("/") else {
            throw ReleaseError(.unprocessable, "unsafe_tarball", "\(what) \(path) is an absolute path: a release may only hold relative paths")
        }
        var components: [Substring] = []
        for component in path.split(separator: "/") where component != "." {
            guard component != ".." else {
                throw ReleaseError(.unprocessable, "unsafe_tarball", "\(what) \(path) contains '..': a release may not reach outside itself")
            }
            components.append(component)
        }
        return components.joined(separator: "/")
    }

    /// Whether a relative symlink at `link` resolves to a place inside the release.
    static func staysInside(link: String, target: String) -> Bool {
        var depth = link.split(separator: "/").count - 1
        for component in target.split(separator: "/") {
            switch component {
            case ".": continue
            case "..": depth -= 1
            default: depth += 1
            }
            if depth < 0 { return false }
        }
        return true
    }

    private static func message(_ archive: OpaquePointer?) -> String {
        archive_error_string(archive).map { String(cString: $0) } ?? "unknown libarchive error"
    }
}
