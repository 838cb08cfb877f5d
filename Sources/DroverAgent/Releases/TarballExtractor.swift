import CArchive
import DroverCore
import Foundation

/// Unpacks a `.tar.gz` with libarchive into a fresh directory, refusing anything that could
/// reach outside it: absolute paths, `..`, symlinks that resolve outside (followed through
/// the other links of the tree, not read lexically), hard links through links, device nodes,
/// FIFOs and sockets. Modes keep no set-user-ID, set-group-ID, sticky or group/other write
/// bits. libarchive's own guards (`SECURE_NODOTDOT`, `SECURE_SYMLINKS`) run as well, and the
/// unpacked size and number of entries are capped (a small archive can expand enormously):
/// an entry whose declared size passes the cap is refused before a byte of it is written.
enum TarballExtractor {
    private static let regularFile: UInt32 = 0o100000
    private static let directory: UInt32 = 0o040000
    private static let symbolicLink: UInt32 = 0o120000

    /// Returns the number of files unpacked. A refusal's message names entries as the tarball
    /// does, never the host's paths (libarchive's own messages carry them).
    static func extract(_ archivePath: String, into destination: String, maxBytes: Int64, maxEntries: Int) throws -> Int {
        guard let root = resolvedPath(destination) else {
            throw ReleaseError(.unpackFailed, "cannot resolve the staging directory")
        }
        do {
            return try unpack(archivePath, into: root, maxBytes: maxBytes, maxEntries: maxEntries)
        } catch let error as ReleaseError {
            var message = error.message
            for (path, name) in [(root + "/", ""), (destination + "/", ""), (archivePath, "the upload"), (root, "the release"), (destination, "the release")] {
                message = message.replacingOccurrences(of: path, with: name)
            }
            throw ReleaseError(error.kind, message)
        }
    }

    private static func unpack(_ archivePath: String, into root: String, maxBytes: Int64, maxEntries: Int) throws -> Int {
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
            throw ReleaseError(.invalidTarball, "the artifact is not a readable .tar.gz: \(message(reader))")
        }

        var files = 0, entries = 0
        var unpacked: Int64 = 0
        var links: [String] = []
        while true {
            var entry: OpaquePointer? = nil
            let status = archive_read_next_header(reader, &entry)
            if status == ARCHIVE_EOF { break }
            guard status >= ARCHIVE_WARN, let entry else {
                throw ReleaseError(.invalidTarball, "the tarball is damaged: \(message(reader))")
            }
            guard let rawName = archive_entry_pathname(entry).map({ String(cString: $0) }) else {
                throw ReleaseError(.unsafeTarball, "the tarball has an entry without a readable name")
            }
            let name = try safeRelativePath(rawName, what: "entry")
            if name.isEmpty { continue }  // "./" itself
            entries += 1
            guard entries <= maxEntries else {
                throw ReleaseError(.tooManyEntries, "the tarball has more than \(maxEntries) entries (max_unpacked_entries)")
            }

            let type = UInt32(archive_entry_filetype(entry))
            if let hardlink = archive_entry_hardlink(entry).map({ String(cString: $0) }) {
                let target = try safeRelativePath(hardlink, what: "hard link target of \(rawName)")
                try checkHardLinkTarget(target, root: root, entry: rawName)
                archive_entry_set_hardlink(entry, root + "/" + target)
            } else if type == symbolicLink {
                let target = archive_entry_symlink(entry).map { String(cString: $0) } ?? ""
                guard !target.hasPrefix("/"), staysInside(link: name, target: target) else {
                    throw ReleaseError(.unsafeTarball, "symlink \(rawName) -> \(target) points outside the release")
                }
                links.append(name)
            } else if type != regularFile && type != directory {
                throw ReleaseError(.unsafeTarball, "\(rawName) is a device, FIFO or socket: a release may hold only files, directories and symlinks")
            }
            archive_entry_set_pathname(entry, root + "/" + name)
            // The agent unpacks as root: no set-user-ID, set-group-ID or sticky bit, so no
            // release can leave a setuid-root file on the host; and no group or other write
            // bit, so no other local user can rewrite a service's files.
            archive_entry_set_perm(entry, archive_entry_perm(entry) & 0o755)
            // Refuse an entry that says it is larger than what is left, before writing any of it.
            if archive_entry_size_is_set(entry) != 0, archive_entry_size(entry) > maxBytes - unpacked {
                throw tooLarge(maxBytes)
            }

            guard archive_write_header(writer, entry) >= ARCHIVE_WARN else {
                let errno = archive_errno(writer)
                if errno == ENOSPC || errno == EDQUOT { throw POSIXFailure("unpacking", errno: errno) }
                throw ReleaseError(.unsafeTarball, "cannot unpack \(rawName): \(message(writer))")
            }
            if type == regularFile { files += 1 }
            var block: UnsafeRawPointer? = nil
            var size = 0
            var offset: la_int64_t = 0
            while true {
                let read = archive_read_data_block(reader, &block, &size, &offset)
                if read == ARCHIVE_EOF { break }
                guard read >= ARCHIVE_WARN else {
                    throw ReleaseError(.invalidTarball, "the tarball is damaged at \(rawName): \(message(reader))")
                }
                unpacked += Int64(size)
                guard unpacked <= maxBytes else { throw tooLarge(maxBytes) }
                guard archive_write_data_block(writer, block, size, offset) >= ARCHIVE_WARN else {
                    throw writeFailure(writer, "cannot write \(rawName)")
                }
            }
            guard archive_write_finish_entry(writer) >= ARCHIVE_WARN else {
                throw writeFailure(writer, "cannot finish \(rawName)")
            }
        }
        // Links are judged on the tree as written, each followed through the others.
        for link in links {
            let target = readLink(root + "/" + link)
            guard let target else { continue }  // replaced by a later entry
            if let why = SymlinkResolver.escape(link: link, target: target, lookup: { node(root + "/" + $0) }) {
                throw ReleaseError(.unsafeTarball, "symlink \(link) -> \(target) resolves outside the release: \(why)")
            }
        }
        return files
    }

    private static func tooLarge(_ maxBytes: Int64) -> ReleaseError {
        ReleaseError(.tooLarge, "the tarball unpacks to more than \(maxBytes) bytes (max_unpacked_bytes)")
    }

    /// A full disk is the host's problem (507), anything else the tarball's (422).
    private static func writeFailure(_ writer: OpaquePointer?, _ what: String) -> any Error {
        let errno = archive_errno(writer)
        if errno == ENOSPC || errno == EDQUOT { return POSIXFailure("unpacking", errno: errno) }
        return ReleaseError(.unpackFailed, "\(what): \(message(writer))")
    }

    /// A hard link may only name a regular file already unpacked, reached through real
    /// directories: never through a symlink, which could lead the link out of the release.
    private static func checkHardLinkTarget(_ target: String, root: String, entry: String) throws(ReleaseError) {
        var path = root
        let components = target.split(separator: "/")
        for (index, component) in components.enumerated() {
            path += "/" + component
            let expected: SymlinkResolver.Node = index == components.count - 1 ? .file : .directory
            guard node(path) == expected else {
                throw ReleaseError(.unsafeTarball, "hard link \(entry) -> \(target) must name a file unpacked before it, through directories only")
            }
        }
    }

    /// What is at `path`, without following a final link.
    private static func node(_ path: String) -> SymlinkResolver.Node {
        var info = stat()
        guard lstat(path, &info) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: return .directory
        case S_IFLNK: return readLink(path).map { .symlink(target: $0) } ?? .missing
        default: return .file
        }
    }

    private static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A relative path without `.` and `..` components (leading `./` removed), short enough
    /// for the filesystem under the release; throws otherwise.
    static func safeRelativePath(_ path: String, what: String) throws(ReleaseError) -> String {
        guard path.utf8.count <= 2048, path.utf8.split(separator: UInt8(ascii: "/")).allSatisfy({ $0.count <= 255 }) else {
            throw ReleaseError(.unsafeTarball, "\(what) \(path.prefix(80))… is too long: at most 2048 bytes, 255 per component")
        }
        guard !path.hasPrefix("/") else {
            throw ReleaseError(.unsafeTarball, "\(what) \(path) is an absolute path: a release may only hold relative paths")
        }
        var components: [Substring] = []
        for component in path.split(separator: "/") where component != "." {
            guard component != ".." else {
                throw ReleaseError(.unsafeTarball, "\(what) \(path) contains '..': a release may not reach outside itself")
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
