import Foundation

/// Reads CPU, memory and pressure of a unit from its cgroup files, on whatever hierarchy the
/// host has. Detected once: a pure v2 host (`/sys/fs/cgroup`), or a hybrid one whose v2 tree is
/// `/sys/fs/cgroup/unified` (where systemd reports no memory or CPU for units: `cpu.stat` there
/// works, and memory is summed from `/proc/<pid>/status` over the cgroup's processes).
public struct CgroupReader: Sendable {
    /// The v2 hierarchy's root, or nil when the host has none.
    public let root: String?

    /// How memory is measured here, for `GET /v1/health`.
    public var memorySource: String {
        guard let root else { return "unavailable" }
        return FileManager.default.fileExists(atPath: root + "/memory.stat") || root == "/sys/fs/cgroup"
            ? "cgroup v2 memory.current" : "sum of VmRSS over cgroup.procs (hybrid hierarchy)"
    }

    public init(root: String?) {
        self.root = root
    }

    /// The host's v2 hierarchy.
    public static func detect() -> CgroupReader {
        let fm = FileManager.default
        if fm.fileExists(atPath: "/sys/fs/cgroup/unified/cgroup.procs") { return CgroupReader(root: "/sys/fs/cgroup/unified") }
        if fm.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") { return CgroupReader(root: "/sys/fs/cgroup") }
        return CgroupReader(root: nil)
    }

    /// The usage of the cgroup at `controlGroup` (systemd's `ControlGroup` property).
    public func usage(of controlGroup: String) -> CgroupUsage {
        guard let root, !controlGroup.contains("..") else { return CgroupUsage() }
        let directory = root + controlGroup
        return CgroupUsage(
            cpuMicroseconds: value(in: directory + "/cpu.stat", key: "usage_usec").flatMap { UInt64($0) },
            memoryBytes: read(directory + "/memory.current").flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                ?? residentMemory(of: directory),
            cpuPressure: pressure(directory + "/cpu.pressure"),
            memoryPressure: pressure(directory + "/memory.pressure")
        )
    }

    /// Sum of VmRSS of every process in the cgroup and below.
    private func residentMemory(of directory: String) -> UInt64? {
        var total: UInt64 = 0
        var found = false
        var directories = [directory]
        while let current = directories.popLast() {
            for pid in (read(current + "/cgroup.procs") ?? "").split(separator: "\n") {
                guard let status = read("/proc/\(pid)/status"),
                      let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
                      let kilobytes = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap({ UInt64($0) })
                else { continue }
                total += kilobytes * 1024
                found = true
            }
            let children = (try? FileManager.default.contentsOfDirectory(atPath: current)) ?? []
            for child in children {
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: current + "/" + child, isDirectory: &isDirectory), isDirectory.boolValue {
                    directories.append(current + "/" + child)
                }
            }
        }
        return found ? total : (read(directory + "/cgroup.procs") != nil ? 0 : nil)
    }

    /// `some avg10=1.23 avg60=… ` → 1.23.
    private func pressure(_ path: String) -> Double? {
        guard let line = read(path)?.split(separator: "\n").first(where: { $0.hasPrefix("some") }) else { return nil }
        return line.split(separator: " ").first { $0.hasPrefix("avg10=") }.flatMap { Double($0.dropFirst(6)) }
    }

    private func value(in path: String, key: String) -> String? {
        read(path)?.split(separator: "\n").first { $0.hasPrefix(key + " ") }.map { String($0.dropFirst(key.count + 1)) }
    }

    private func read(_ path: String) -> String? {
        try? String(contentsOfFile: path, encoding: .utf8)
    }
}
