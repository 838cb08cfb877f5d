import Foundation

/// The cgroup directories that hold one throwaway manager and everything it starts: one in
/// each hierarchy systemd uses on this host (v2 alone, or the hybrid layout's unified tree
/// plus the `name=systemd` v1 tree).
struct CgroupTree: Sendable {
    /// Where processes are moved in, and where `cgroup.kill` and `cgroup.events` live.
    let unified: String
    /// Further directories in other hierarchies (the v1 `name=systemd` tree on hybrid hosts).
    let others: [String]

    var all: [String] { [unified] + others }

    /// The cgroup roots of this host: (unified v2 root, v1 name=systemd root or nil).
    static func roots() throws -> (unified: String, systemdV1: String?) {
        let fm = FileManager.default
        if fm.fileExists(atPath: "/sys/fs/cgroup/unified/cgroup.procs") {
            return ("/sys/fs/cgroup/unified", fm.fileExists(atPath: "/sys/fs/cgroup/systemd/cgroup.procs") ? "/sys/fs/cgroup/systemd" : nil)
        }
        if fm.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") {
            return ("/sys/fs/cgroup", nil)
        }
        throw TestbedError("no cgroup v2 hierarchy found under /sys/fs/cgroup: a throwaway systemd needs one")
    }

    static func named(_ name: String) throws -> CgroupTree {
        let roots = try roots()
        return CgroupTree(unified: roots.unified + "/" + name, others: roots.systemdV1.map { [$0 + "/" + name] } ?? [])
    }

    func create() throws {
        for directory in all {
            guard mkdir(directory, 0o755) == 0 else {
                throw TestbedError("cannot create cgroup \(directory): \(String(cString: strerror(errno))) (run as root)")
            }
        }
    }

    /// The `cgroup.procs` files a process writes its PID into to join every hierarchy.
    var procsFiles: [String] { all.map { $0 + "/cgroup.procs" } }

    /// True while any process is left anywhere in the tree.
    var isPopulated: Bool {
        guard let events = try? String(contentsOfFile: unified + "/cgroup.events", encoding: .utf8) else { return false }
        return events.contains("populated 1")
    }

    /// SIGKILLs every process in the tree (`cgroup.kill`, or one by one on older kernels).
    func killAll() {
        if FileManager.default.fileExists(atPath: unified + "/cgroup.kill") {
            try? "1".write(toFile: unified + "/cgroup.kill", atomically: false, encoding: .utf8)
            return
        }
        for directory in Self.directories(under: unified) {
            let pids = (try? String(contentsOfFile: directory + "/cgroup.procs", encoding: .utf8)) ?? ""
            for pid in pids.split(separator: "\n").compactMap({ Int32($0) }) { kill(pid, SIGKILL) }
        }
    }

    /// Removes every directory of the tree, deepest first. Fails if processes are left.
    func remove() throws {
        for root in all {
            for directory in Self.directories(under: root).reversed() where rmdir(directory) != 0 && errno != ENOENT {
                throw TestbedError("cannot remove cgroup \(directory): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// `root` and every cgroup below it, parents before children.
    static func directories(under root: String) -> [String] {
        guard FileManager.default.fileExists(atPath: root) else { return [] }
        var result = [root]
        var index = 0
        while index < result.count {
            let children = (try? FileManager.default.contentsOfDirectory(atPath: result[index])) ?? []
            for child in children.sorted() {
                var isDirectory: ObjCBool = false
                let path = result[index] + "/" + child
                if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
                    result.append(path)
                }
            }
            index += 1
        }
        return result
    }
}
