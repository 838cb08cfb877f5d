import Foundation

/// Reads CPU, memory and pressure of a unit from its cgroup files, on whatever hierarchy the
/// host has. The hierarchy is detected once: a pure v2 host (`/sys/fs/cgroup`), or a hybrid
/// one whose v2 tree is `/sys/fs/cgroup/unified` next to v1 controllers. On a hybrid host
/// systemd reports no memory or CPU for units, so each figure falls back in order:
///
/// - CPU: v2 `cpu.stat` `usage_usec` → v1 `cpuacct.usage` → `utime + stime` of
///   `/proc/<pid>/stat` summed over the cgroup's processes;
/// - memory: v2 `memory.current` → v1 `memory.usage_in_bytes` → VmRSS summed likewise;
/// - pressure: v2 `cpu.pressure` / `memory.pressure` `some avg10`, or none.
public struct CgroupReader: Sendable {
    /// The v2 hierarchy's root, or nil when the host has none.
    public let root: String?
    /// Where v1 controllers are mounted (a hybrid host), or nil.
    public let v1Root: String?

    /// Where each figure comes from on this host, for `GET /v1/health`.
    public var source: String {
        guard let root else {
            return v1Root == nil ? "unavailable: no cgroup hierarchy found" : "cgroup v1 cpuacct and memory, else /proc over cgroup.procs"
        }
        let fm = FileManager.default
        let memory = fm.fileExists(atPath: root + "/memory.stat") || root == "/sys/fs/cgroup"
            ? "cgroup v2 memory.current"
            : "cgroup v1 memory.usage_in_bytes where the unit has a v1 cgroup, else VmRSS summed over cgroup.procs (hybrid hierarchy)"
        let pressure = fm.fileExists(atPath: root + "/cpu.pressure") ? "cgroup v2 PSI (some avg10)" : "unavailable (kernel without PSI)"
        return "cpu: cgroup v2 cpu.stat usage_usec; memory: \(memory); pressure: \(pressure)"
    }

    public init(root: String?, v1Root: String? = nil) {
        self.root = root
        self.v1Root = v1Root
    }

    /// The host's hierarchies.
    public static func detect() -> CgroupReader {
        let fm = FileManager.default
        if fm.fileExists(atPath: "/sys/fs/cgroup/unified/cgroup.procs") {
            return CgroupReader(root: "/sys/fs/cgroup/unified", v1Root: "/sys/fs/cgroup")
        }
        if fm.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") { return CgroupReader(root: "/sys/fs/cgroup") }
        if fm.fileExists(atPath: "/sys/fs/cgroup/memory") { return CgroupReader(root: nil, v1Root: "/sys/fs/cgroup") }
        return CgroupReader(root: nil)
    }

    /// The usage of the cgroup at `controlGroup` (systemd's `ControlGroup` property).
    public func usage(of controlGroup: String) -> CgroupUsage {
        guard !controlGroup.contains("..") else { return CgroupUsage() }
        let directory = root.map { $0 + controlGroup }
        let v1 = { (controller: String, file: String) in v1Root.flatMap { read($0 + "/" + controller + controlGroup + "/" + file) }.flatMap(number) }
        let processes = directory ?? v1Root.map { $0 + "/systemd" + controlGroup }
        return CgroupUsage(
            cpuMicroseconds: directory.flatMap { value(in: $0 + "/cpu.stat", key: "usage_usec") }.flatMap { UInt64($0) }
                ?? v1("cpuacct", "cpuacct.usage").map { $0 / 1000 }
                ?? processes.flatMap(processCPU),
            memoryBytes: directory.flatMap { read($0 + "/memory.current") }.flatMap(number)
                ?? v1("memory", "memory.usage_in_bytes")
                ?? processes.flatMap(residentMemory),
            cpuPressure: directory.flatMap { pressure($0 + "/cpu.pressure") },
            memoryPressure: directory.flatMap { pressure($0 + "/memory.pressure") }
        )
    }

    /// Every process in the cgroup and below, or nil when the cgroup cannot be read.
    private func processes(under directory: String) -> [Substring]? {
        guard let top = read(directory + "/cgroup.procs") else { return nil }
        var pids = top.split(separator: "\n")
        var directories = subdirectories(of: directory)
        while let current = directories.popLast() {
            pids += (read(current + "/cgroup.procs") ?? "").split(separator: "\n")
            directories += subdirectories(of: current)
        }
        return pids
    }

    /// The child cgroups of `directory` (readdir's own file types: no stat per entry).
    private func subdirectories(of directory: String) -> [String] {
        guard let stream = opendir(directory) else { return [] }
        defer { closedir(stream) }
        var result: [String] = []
        while let entry = readdir(stream) {
            guard entry.pointee.d_type == UInt8(DT_DIR) else { continue }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { result.append(directory + "/" + name) }
        }
        return result
    }

    /// Sum of the resident memory of every process in the cgroup and below (`/proc/PID/statm`,
    /// whose second field is the resident size in pages: one short read per process).
    private func residentMemory(of directory: String) -> UInt64? {
        let page = UInt64(max(sysconf(Int32(_SC_PAGESIZE)), 1))
        return processes(under: directory).map { pids in
            pids.reduce(0) { total, pid in
                guard let statm = read("/proc/\(pid)/statm"),
                      let pages = statm.split(separator: " ").dropFirst().first.flatMap({ UInt64($0) })
                else { return total }
                return total.addingReportingOverflow(pages.multipliedReportingOverflow(by: page).partialValue).partialValue
            }
        }
    }

    /// Sum of `utime + stime` of every process in the cgroup and below (exited processes' time
    /// is lost: the last resort).
    private func processCPU(of directory: String) -> UInt64? {
        let ticks = UInt64(max(sysconf(Int32(_SC_CLK_TCK)), 1))
        return processes(under: directory).map { pids in
            pids.reduce(0) { total, pid in
                // Fields after the command (which may hold spaces) start after the last ')'.
                guard let stat = read("/proc/\(pid)/stat"), let end = stat.lastIndex(of: ")") else { return total }
                let fields = stat[stat.index(after: end)...].split(separator: " ")
                guard fields.count > 12, let user = UInt64(fields[11]), let system = UInt64(fields[12]) else { return total }
                return total + (user + system) * 1_000_000 / ticks
            }
        }
    }

    /// `some avg10=1.23 avg60=… ` → 1.23.
    private func pressure(_ path: String) -> Double? {
        guard let line = read(path)?.split(separator: "\n").first(where: { $0.hasPrefix("some") }) else { return nil }
        return line.split(separator: " ").first { $0.hasPrefix("avg10=") }.flatMap { Double($0.dropFirst(6)) }
    }

    private func value(in path: String, key: String) -> String? {
        read(path)?.split(separator: "\n").first { $0.hasPrefix(key + " ") }.map { String($0.dropFirst(key.count + 1)) }
    }

    private func number(_ text: String) -> UInt64? {
        UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// A small file's text (cgroup and /proc files), read with plain POSIX calls: Foundation's
    /// file reading costs more than the read itself at hundreds of instances per request.
    private func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress, $0.count) }
            if count < 0 { return nil }
            if count == 0 { break }
            bytes += buffer[..<count]
            if bytes.count > 1 << 20 { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
