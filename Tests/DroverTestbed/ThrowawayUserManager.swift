import DroverSystemd
import Foundation
import Synchronization

/// A real systemd user manager that exists for one test suite (or one benchmark run).
///
/// It runs in a private mount namespace (where `/run` is a directory of its own, so systemd
/// believes it was booted and journald has somewhere to write), in a cgroup subtree of its
/// own, with its own runtime, home and unit directories under one temporary directory.
/// Several run side by side without seeing each other. `shutdown()` stops it, kills anything
/// left in its cgroups, removes them and the directory: nothing survives it.
///
///     let manager = try await ThrowawayUserManager.boot()
///     let systemd = try await SystemdClient.connect(to: manager.busAddress)
///     try manager.installUnit("hello.service", contents: "...")
public final class ThrowawayUserManager: Sendable {
    /// The temporary directory holding everything of this manager.
    public let root: String
    /// `XDG_RUNTIME_DIR` of the manager: its private socket and the session bus live here.
    public let runtimeDirectory: String
    /// Where unit files go (`$XDG_CONFIG_HOME/systemd/user`).
    public let unitDirectory: String
    /// The journal files written by this manager's journald, when booted with one.
    public let journalDirectory: String?
    /// The manager's PID (PID of `systemd --user`).
    public let pid: Int32
    /// Its cgroup name (a direct child of the cgroup root in every hierarchy).
    public let cgroupName: String

    private let cgroups: CgroupTree
    /// Processes the test started outside the manager (an agent under test), kept here so
    /// that `shutdown()` (or the stale sweep, if the test process dies) ends them too.
    private let adopted: CgroupTree
    private let hasAdopted = Mutex(false)
    private let process: ChildProcess
    private let isShutDown = Mutex(false)

    /// systemd's private socket: a direct connection, no bus daemon needed.
    public var busAddress: BusAddress { .systemdPrivate(runtimeDirectory: runtimeDirectory) }

    /// The user's session bus (a dbus-daemon the manager socket-activates on first use).
    public var sessionBusAddress: BusAddress { .session(environment: ["XDG_RUNTIME_DIR": runtimeDirectory])! }

    /// What `systemctl --user` needs to reach this manager.
    public var systemctlEnvironment: [String: String] {
        ["XDG_RUNTIME_DIR": runtimeDirectory, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"]
    }

    private static let counter = Atomic<Int>(0)
    static let namePrefix = "drover-testbed-"
    static let journaldUnit = "drover-testbed-journald.service"

    /// Boots a manager and returns once it answers (and, with `journal`, once its journald listens).
    public static func boot(journal: Bool = true, timeout: Duration = .seconds(20)) async throws -> ThrowawayUserManager {
        removeStaleManagers()
        let ownPID = getpid()
        let name = "\(namePrefix)\(ownPID)-\(counter.add(1, ordering: .relaxed).newValue)"
        let root = try makeTemporaryDirectory(prefix: name)
        do {
            return try await boot(name: name, root: root, journal: journal, timeout: timeout)
        } catch {
            try? FileManager.default.removeItem(atPath: root)
            throw error
        }
    }

    private static func boot(name: String, root: String, journal: Bool, timeout: Duration) async throws -> ThrowawayUserManager {
        let fm = FileManager.default
        let runtime = root + "/run", units = root + "/config/systemd/user", runFS = root + "/runfs"
        for directory in [runtime, root + "/home", units, runFS + "/systemd/system", runFS + "/log/journal"] {
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        chmod(runtime, 0o700)
        if journal { try installJournald(root: root, unitDirectory: units) }

        let cgroups = try CgroupTree.named(name)
        try cgroups.create()

        // Inside the namespace: join the cgroups, give /run (and journald.conf) private
        // replacements, then become the manager. Paths come in as arguments, never spliced in.
        let script = """
            set -e
            root="$1"; shift
            for procs in "$@"; do echo $$ > "$procs"; done
            mount --bind "$root/runfs" /run
            if [ -f "$root/journald.conf" ]; then mount --bind "$root/journald.conf" /etc/systemd/journald.conf; fi
            export XDG_RUNTIME_DIR="$root/run" HOME="$root/home" XDG_CONFIG_HOME="$root/config"
            exec /lib/systemd/systemd --user
            """
        let process: ChildProcess
        do {
            // A clean environment: the manager must not inherit ours (bus addresses, XDG dirs).
            process = try ChildProcess.spawn(
                "/usr/bin/unshare",
                ["--mount", "--propagation", "private", "/bin/bash", "-c", script, "drover-testbed", root]
                    + cgroups.procsFiles,
                environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"],
                output: root + "/manager.log"
            )
        } catch {
            try? cgroups.remove()
            throw TestbedError("cannot start a systemd user manager: \(error)")
        }

        let manager = ThrowawayUserManager(
            root: root, runtimeDirectory: runtime, unitDirectory: units,
            journalDirectory: journal ? runFS + "/log/journal" : nil,
            pid: process.pid, cgroupName: name, cgroups: cgroups, process: process
        )
        let readyFiles = [runtime + "/systemd/private"] + (journal ? [runFS + "/systemd/journal/stdout"] : [])
        // A socket file exists from bind(), a moment before listen(): wait until they accept.
        let ready = await waitUntil(timeout: timeout) {
            !process.isRunning || readyFiles.allSatisfy(acceptsConnections)
        }
        guard ready, process.isRunning else {
            let output = manager.log
            await manager.shutdown()
            throw TestbedError("systemd --user did not come up within \(timeout)\(ready ? " (it exited)" : ""); its output:\n\(output)")
        }
        return manager
    }

    private init(
        root: String, runtimeDirectory: String, unitDirectory: String, journalDirectory: String?,
        pid: Int32, cgroupName: String, cgroups: CgroupTree, process: ChildProcess
    ) {
        self.root = root
        self.runtimeDirectory = runtimeDirectory
        self.unitDirectory = unitDirectory
        self.journalDirectory = journalDirectory
        self.pid = pid
        self.cgroupName = cgroupName
        self.cgroups = cgroups
        self.adopted = (try? CgroupTree.named(cgroupName + "-adopted")) ?? cgroups
        self.process = process
    }

    /// Moves `pid` into this manager's keeping: it is SIGKILLed at `shutdown()` if still there.
    public func adopt(_ pid: Int32) throws {
        try hasAdopted.withLock { created in
            if !created {
                try adopted.create()
                created = true
            }
            for procs in adopted.procsFiles {
                try "\(pid)".write(toFile: procs, atomically: false, encoding: .utf8)
            }
        }
    }

    /// What the manager printed (its own log; units log to the journal).
    public var log: String {
        (try? String(contentsOfFile: root + "/manager.log", encoding: .utf8)) ?? ""
    }

    /// Writes a unit file into the manager's unit directory (call `reload()` on a client after).
    public func installUnit(_ name: String, contents: String) throws {
        try contents.write(toFile: unitDirectory + "/" + name, atomically: true, encoding: .utf8)
    }

    /// Stops the manager (SIGTERM, as at logout: it stops its units first), kills whatever is
    /// left in its cgroups, removes them and its directory. Safe to call more than once.
    public func shutdown() async {
        let first = isShutDown.withLock { done in defer { done = true }; return !done }
        guard first else { return }
        let process = self.process
        if process.isRunning {
            kill(pid, SIGTERM)
            if await !waitUntil(timeout: .seconds(15), { !process.isRunning }) {
                FileHandle.standardError.write(Data(
                    "drover-testbed: \(cgroupName) did not exit within 15 s of SIGTERM (proc says running: \(isProcessRunning(pid))); killing it. Its log:\n\(log)\n".utf8
                ))
                cgroups.killAll()
                await waitUntil(timeout: .seconds(5)) { !process.isRunning }
            }
        }
        if hasAdopted.withLock({ $0 }) {
            let adopted = self.adopted
            adopted.killAll()
            await waitUntil(timeout: .seconds(5)) { !adopted.isPopulated }
            try? adopted.remove()
        }
        let cgroups = self.cgroups
        if cgroups.isPopulated {
            cgroups.killAll()
            await waitUntil(timeout: .seconds(5)) { !cgroups.isPopulated }
        }
        do {
            try cgroups.remove()
        } catch {
            FileHandle.standardError.write(Data("drover-testbed: \(error)\n".utf8))
        }
        try? FileManager.default.removeItem(atPath: root)
    }

    // MARK: Helpers

    /// journald runs as a unit of the manager, inside its namespace, writing volatile files to
    /// the private /run — never to the host's journal.
    private static func installJournald(root: String, unitDirectory: String) throws {
        let conf = """
            [Journal]
            Storage=volatile
            ReadKMsg=no
            ForwardToSyslog=no
            ForwardToKMsg=no
            ForwardToConsole=no
            ForwardToWall=no

            """
        try conf.write(toFile: root + "/journald.conf", atomically: true, encoding: .utf8)
        let unit = """
            # Generated by the Drover test bed: this manager's own journald.
            [Unit]
            Description=Journal of a throwaway test manager

            [Service]
            Type=notify
            ExecStart=/lib/systemd/systemd-journald

            """
        try unit.write(toFile: unitDirectory + "/" + journaldUnit, atomically: true, encoding: .utf8)
        let wants = unitDirectory + "/default.target.wants"
        try FileManager.default.createDirectory(atPath: wants, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: wants + "/" + journaldUnit, withDestinationPath: "../" + journaldUnit)
    }

    static func makeTemporaryDirectory(prefix: String) throws -> String {
        let temporary = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(prefix + "-XXXXXX")
        var template = Array(temporary.path.utf8CString)
        guard let made = mkdtemp(&template) else {
            throw TestbedError("cannot create a temporary directory: \(String(cString: strerror(errno)))")
        }
        return String(cString: made)
    }

    /// Cleans up after test processes that died without shutting their managers down: any
    /// test-bed cgroup or directory whose owning test process (the PID in its name) is gone.
    static func removeStaleManagers() {
        func staleOwner(_ name: String) -> Bool {
            guard name.hasPrefix(namePrefix),
                  let owner = name.dropFirst(namePrefix.count).split(separator: "-").first.flatMap({ Int32($0) }),
                  owner != getpid()
            else { return false }
            return kill(owner, 0) != 0 && errno == ESRCH
        }
        let fm = FileManager.default
        if let roots = try? CgroupTree.roots(), let names = try? fm.contentsOfDirectory(atPath: roots.unified) {
            for name in names where staleOwner(name) {
                guard let tree = try? CgroupTree.named(name) else { continue }
                tree.killAll()
                for _ in 0..<100 where tree.isPopulated { usleep(20_000) }
                try? tree.remove()
            }
        }
        let temporary = URL(fileURLWithPath: NSTemporaryDirectory())
        for name in (try? fm.contentsOfDirectory(atPath: temporary.path)) ?? [] where staleOwner(name) {
            try? fm.removeItem(at: temporary.appendingPathComponent(name))
        }
    }
}
