@testable import DroverAgent
import Foundation

/// Any bytes as an uploaded tarball (tar, or tar.gz), unpacked into a fresh release
/// directory beside a sibling and with the working directory inside a third: whether it is
/// unpacked or refused, nothing is written outside the release, and what is inside holds
/// only files, directories and symlinks that resolve inside it, with no set-ID bits.
enum TarballFuzzing {
    /// One scratch directory per process, emptied after every input (removed by `removeScratch`).
    static let scratchPath = NSTemporaryDirectory() + "drover-fuzz-tarball-\(getpid())"
    static let scratch: String = {
        try? FileManager.default.removeItem(atPath: scratchPath)
        try! FileManager.default.createDirectory(atPath: scratchPath, withIntermediateDirectories: true)
        return scratchPath
    }()

    static func removeScratch() { try? FileManager.default.removeItem(atPath: scratchPath) }

    static func run(_ input: [UInt8]) {
        let fm = FileManager.default
        let artifact = scratch + "/upload", release = scratch + "/release", sibling = scratch + "/sibling", cwd = scratch + "/cwd"
        for directory in [release, sibling, cwd] { try! fm.createDirectory(atPath: directory, withIntermediateDirectories: false) }
        defer {
            for name in (try? fm.contentsOfDirectory(atPath: scratch)) ?? [] { try? fm.removeItem(atPath: scratch + "/" + name) }
        }
        require(fm.createFile(atPath: artifact, contents: Data(input)), "cannot write the upload")
        let previous = fm.currentDirectoryPath
        require(fm.changeCurrentDirectoryPath(cwd), "cannot enter \(cwd)")
        defer { _ = fm.changeCurrentDirectoryPath(previous) }

        do {
            _ = try TarballExtractor.extract(artifact, into: release, maxBytes: 1 << 20, maxEntries: 64)
        } catch let error as ReleaseError {
            require(!error.message.contains(scratch), "a refusal names a host path: \(error.message)")
        } catch {
            require(false, "a refusal that is not a ReleaseError: \(error)")
        }

        let outside = Set((try? fm.contentsOfDirectory(atPath: scratch)) ?? [])
        require(outside == ["upload", "release", "sibling", "cwd"], "written beside the release: \(outside.sorted())")
        require(((try? fm.contentsOfDirectory(atPath: sibling)) ?? []).isEmpty, "written into a sibling directory")
        require(((try? fm.contentsOfDirectory(atPath: cwd)) ?? []).isEmpty, "written into the working directory")
        let root = URL(fileURLWithPath: release).resolvingSymlinksInPath().path
        for relative in fm.subpaths(atPath: release) ?? [] {
            let path = release + "/" + relative
            var status = stat()
            require(lstat(path, &status) == 0, "cannot lstat \(relative)")
            let kind = status.st_mode & S_IFMT
            require(kind == S_IFREG || kind == S_IFDIR || kind == S_IFLNK, "\(relative) is neither file, directory nor symlink")
            require(status.st_mode & (S_ISUID | S_ISGID) == 0, "\(relative) keeps a set-ID bit")
            if kind == S_IFLNK, let resolved = realpath(path, nil) {
                let target = String(cString: resolved)
                free(resolved)
                require(target == root || target.hasPrefix(root + "/"), "symlink \(relative) resolves outside the release: \(target)")
            }
        }
    }
}
