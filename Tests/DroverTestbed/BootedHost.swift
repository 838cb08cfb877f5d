import Foundation
import Synchronization

/// A throwaway machine booted with systemd as PID 1, with its own network address: the
/// production setting (system scope, journald, `DynamicUser`, PID 1's cgroups) for one test.
///
/// It is `systemd-nspawn --boot` over an overlay of this machine's root (so it runs the same
/// `/usr` and sees the build output under `/work`), in a private mount and network namespace.
/// The overlay's writable layer is a tmpfs that lives and dies with that mount namespace; the
/// network is a veth pair: `gatewayAddress` on this machine's end, `address` inside. Units the
/// image has enabled are not booted (only systemd's own, journald, D-Bus and logind run).
///
/// Everything is inside one cgroup subtree named after the test process, so a crashed test's
/// machines are found and ended by the next boot's sweep: the namespaces, the tmpfs and the
/// veth pair go with their last process.
///
///     let host = try await BootedHost.boot(name: "h1")
///     let token = try await host.run(["cat", "/etc/drover/token"]).output
///     await host.shutdown()
public final class BootedHost: Sendable {
    /// The machine's host name (also its nspawn machine name).
    public let name: String
    /// Its address, on its own interface (`host0`): what the agent listens on.
    public let address: String
    /// This machine's end of the veth pair: where the host's clients come from.
    public let gatewayAddress: String
    /// The temporary directory of this host on the outside (logs; the overlay is mounted in it,
    /// but only inside the host's mount namespace).
    public let root: String
    /// Its cgroup name (a direct child of the cgroup root in every hierarchy).
    public let cgroupName: String

    private let cgroups: CgroupTree
    private let process: ChildProcess
    private let interface: String
    private let isShutDown = Mutex(false)

    private static let counter = Atomic<Int>(0)
    private static let addresses = Mutex(Set<Int>())

    /// Units an image may enable that a test host never needs, besides everything enabled in
    /// `/etc/systemd/system/*.wants` (which is not booted): the console login prompts.
    static let masked = ["console-getty.service", "container-getty@.service", "getty@.service", "systemd-firstboot.service"]

    /// Boots a host and returns once it reached `multi-user.target` (`systemctl
    /// is-system-running --wait` says running or degraded). `sharing` directories of this
    /// machine are bind-mounted read-only at the same paths (e.g. the build output: the
    /// overlay's view of this machine's files is taken at boot and may miss later changes).
    public static func boot(name: String, sharing directories: [String] = [], timeout: Duration = .seconds(60)) async throws -> BootedHost {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-nspawn") else {
            throw TestbedError("systemd-nspawn is missing: install the Debian package systemd-container (Tests/install-dependencies.sh does)")
        }
        ThrowawayUserManager.removeStaleManagers()
        let ownPID = getpid()
        let cgroupName = "\(ThrowawayUserManager.namePrefix)\(ownPID)-host\(counter.add(1, ordering: .relaxed).newValue)"
        let root = try ThrowawayUserManager.makeTemporaryDirectory(prefix: cgroupName)
        let subnet = try claimSubnet()
        do {
            return try await boot(name: name, sharing: directories, cgroupName: cgroupName, root: root, subnet: subnet, timeout: timeout)
        } catch {
            _ = addresses.withLock { $0.remove(subnet) }
            try? FileManager.default.removeItem(atPath: root)
            throw error
        }
    }

    private static func boot(
        name: String, sharing directories: [String], cgroupName: String, root: String, subnet: Int, timeout: Duration
    ) async throws -> BootedHost {
        if let bad = directories.first(where: { !$0.hasPrefix("/") || $0.contains(":") || $0.contains("\n") }) {
            throw TestbedError("cannot share \(bad) with a booted host: give an absolute path without ':'")
        }
        try FileManager.default.createDirectory(atPath: root + "/fs", withIntermediateDirectories: true)
        try (masked.joined(separator: "\n") + "\n").write(toFile: root + "/masked", atomically: true, encoding: .utf8)
        try directories.map { $0 + "\n" }.joined().write(toFile: root + "/shared", atomically: true, encoding: .utf8)
        let cgroups = try CgroupTree.named(cgroupName)
        try cgroups.create()

        // Inside the namespaces: join the cgroups, build the overlay, wait for the network, boot.
        // Paths come in as arguments, never spliced in. Exit 133 from nspawn is a reboot.
        let script = """
            set -e
            root="$1"; name="$2"; shift 2
            for procs in "$@"; do echo $$ > "$procs"; done
            touch "$root/namespaces-ready"
            mount -t tmpfs -o mode=0755 drover-testbed "$root/fs"
            mkdir "$root/fs/upper" "$root/fs/work" "$root/fs/root"
            mount -t overlay overlay -o lowerdir=/,upperdir="$root/fs/upper",workdir="$root/fs/work" "$root/fs/root"
            machine="$root/fs/root"
            # A machine ID of its own (an empty one would be a first boot, and systemd would
            # enable every unit by preset, undoing what is disabled below).
            tr -d - < /proc/sys/kernel/random/uuid > "$machine/etc/machine-id"
            echo "$name" > "$machine/etc/hostname"
            find "$machine/etc/systemd/system" -path '*.wants/*' -type l -delete
            while read -r unit; do ln -sf /dev/null "$machine/etc/systemd/system/$unit"; done < "$root/masked"
            shared=()
            while read -r directory; do shared+=("--bind-ro=$directory"); done < "$root/shared"
            while [ ! -e "$root/network-ready" ]; do sleep 0.02; done
            while true; do
                status=0
                systemd-nspawn --quiet --register=no --keep-unit --console=passive -D "$machine" -M "$name" "${shared[@]}" \\
                    --boot systemd.firstboot=off --unit=multi-user.target || status=$?
                [ "$status" -eq 133 ] || exit "$status"
            done
            """
        let process: ChildProcess
        do {
            process = try ChildProcess.spawn(
                "/usr/bin/unshare",
                ["--mount", "--net", "--propagation", "private", "/bin/bash", "-c", script, "drover-testbed", root, name]
                    + cgroups.procsFiles,
                environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"],
                output: root + "/host.log"
            )
        } catch {
            try? cgroups.remove()
            throw TestbedError("cannot start a booted host: \(error)")
        }
        let host = BootedHost(
            name: name, subnet: subnet, root: root, cgroupName: cgroupName, cgroups: cgroups, process: process,
            interface: "dtb\(getpid())n\(subnet)"
        )
        do {
            try await host.connectNetwork()
            try await host.waitUntilBooted(timeout: timeout)
        } catch {
            await host.shutdown()
            throw error
        }
        return host
    }

    private init(name: String, subnet: Int, root: String, cgroupName: String, cgroups: CgroupTree, process: ChildProcess, interface: String) {
        self.name = name
        self.address = "10.213.\(subnet).2"
        self.gatewayAddress = "10.213.\(subnet).1"
        self.subnet = subnet
        self.root = root
        self.cgroupName = cgroupName
        self.cgroups = cgroups
        self.process = process
        self.interface = interface
    }

    private let subnet: Int

    /// The veth pair: this machine's end gets `.1`, the host's `host0` gets `.2` and a default
    /// route through `.1`. Made once; it lives as long as the host's network namespace.
    private func connectNetwork() async throws {
        let pid = String(process.pid), process = self.process, marker = root + "/namespaces-ready"
        // The peer must land in the host's network namespace, which exists once the script runs.
        guard await waitUntil(timeout: .seconds(10), { !process.isRunning || FileManager.default.fileExists(atPath: marker) }),
              process.isRunning
        else { throw TestbedError("host \(name) did not start its namespaces; its output:\n\(log)") }
        try await Self.command("/usr/sbin/ip", ["link", "add", interface, "type", "veth", "peer", "name", "host0", "netns", pid])
        try await Self.command("/usr/sbin/ip", ["addr", "add", gatewayAddress + "/24", "dev", interface])
        try await Self.command("/usr/sbin/ip", ["link", "set", interface, "up"])
        let inside = "ip link set lo up && ip addr add \(address)/24 dev host0 && ip link set host0 up && ip route add default via \(gatewayAddress)"
        try await Self.command("/usr/bin/nsenter", ["-t", pid, "-n", "/bin/sh", "-c", inside])
        _ = FileManager.default.createFile(atPath: root + "/network-ready", contents: nil)
    }

    /// PID of the machine's systemd (PID 1 inside), nil between a shutdown and the next boot.
    public var leaderPID: Int32? {
        guard let nspawn = Self.children(of: process.pid).first else { return nil }
        return Self.children(of: nspawn).first
    }

    /// Waits until the machine's systemd reached its default target.
    public func waitUntilBooted(timeout: Duration = .seconds(60)) async throws {
        let process = self.process
        var state = ""
        let booted = await waitUntil(timeout: timeout, interval: .milliseconds(100)) {
            guard process.isRunning else { return true }
            guard leaderPID != nil,
                  let result = try? await run(["systemctl", "is-system-running", "--wait"], timeout: .seconds(30))
            else { return false }
            state = result.output.trimmingCharacters(in: .whitespacesAndNewlines)
            return state == "running" || state == "degraded"
        }
        guard booted, process.isRunning else {
            throw TestbedError("host \(name) did not boot within \(timeout) (state: \(state.isEmpty ? "unknown" : state)); its console:\n\(log)")
        }
    }

    /// Reboots the machine (`systemctl reboot` inside) and waits until it is up again. Its
    /// disk (the overlay) and its network stay; its processes, `/run` and `/tmp` do not.
    public func reboot(timeout: Duration = .seconds(60)) async throws {
        let before = leaderPID
        _ = try? await run(["systemctl", "reboot"])
        let restarted = await waitUntil(timeout: timeout, interval: .milliseconds(100)) {
            if let now = leaderPID, now != before { return true }
            return false
        }
        guard restarted else { throw TestbedError("host \(name) did not come back from a reboot within \(timeout); its console:\n\(log)") }
        try await waitUntilBooted(timeout: timeout)
    }

    /// Cuts the host off the network on this machine's side: its link goes down, and its
    /// address is marked unreachable here, so a connection fails at once with "no route to
    /// host", as for a powered-off machine on the LAN. (Without that route, packets for the
    /// address would leave by this machine's default route, where something else answers.)
    public func disconnect() async throws {
        try await Self.command("/usr/sbin/ip", ["route", "add", "unreachable", address + "/32"])
        try await Self.command("/usr/sbin/ip", ["link", "set", interface, "down"])
    }

    /// Undoes `disconnect()`.
    public func reconnect() async throws {
        try await Self.command("/usr/sbin/ip", ["link", "set", interface, "up"])
        try await Self.command("/usr/sbin/ip", ["route", "del", "unreachable", address + "/32"])
    }

    /// Drops, on the host's side, every packet it would send to this machine, as a firewall
    /// would: connections to it get no answer at all (the link stays up, nothing is refused).
    public func dropPackets() async throws {
        _ = try await runChecked(["ip", "route", "add", "blackhole", gatewayAddress + "/32"])
    }

    /// Undoes `dropPackets()`.
    public func stopDroppingPackets() async throws {
        _ = try await runChecked(["ip", "route", "del", "blackhole", gatewayAddress + "/32"])
    }

    /// Runs a command inside the machine (all its namespaces, as root).
    public func run(_ command: [String], timeout: Duration = .seconds(120)) async throws -> (status: Int32, output: String) {
        guard let leader = leaderPID else { throw TestbedError("host \(name) is not running") }
        let outputFile = root + "/run-\(UUID().uuidString.prefix(8)).out"
        defer { unlink(outputFile) }
        let child = try ChildProcess.spawn(
            "/usr/bin/nsenter", ["-t", String(leader), "-a"] + command,
            environment: ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"],
            output: outputFile
        )
        // Woken by the child's exit, or by the deadline, which kills it.
        let deadline = Task {
            try await Task.sleep(for: timeout)
            kill(child.pid, SIGKILL)
        }
        let status = await child.wait()
        deadline.cancel()
        if await deadline.result.isSuccess {
            throw TestbedError("'\(command.joined(separator: " "))' on \(name) did not finish within \(timeout)")
        }
        return (status, (try? String(contentsOfFile: outputFile, encoding: .utf8)) ?? "")
    }

    /// Like `run`, but a non-zero exit is an error that shows what the command printed.
    @discardableResult
    public func runChecked(_ command: [String], timeout: Duration = .seconds(120)) async throws -> String {
        let result = try await run(command, timeout: timeout)
        guard result.status == 0 else {
            throw TestbedError("'\(command.joined(separator: " "))' on \(name) exited \(result.status):\n\(result.output)")
        }
        return result.output
    }

    /// What the machine printed on its console (boot messages).
    public var log: String {
        let text = (try? String(contentsOfFile: root + "/host.log", encoding: .utf8)) ?? ""
        return String(text.suffix(4000))
    }

    /// Powers the machine off (SIGTERM to nspawn: a clean shutdown of its units), then kills
    /// whatever is left in its cgroups and removes them and its directory. Safe to call twice.
    public func shutdown() async {
        let first = isShutDown.withLock { done in defer { done = true }; return !done }
        guard first else { return }
        let process = self.process
        if process.isRunning {
            if let nspawn = Self.children(of: process.pid).first { kill(nspawn, SIGTERM) } else { kill(process.pid, SIGKILL) }
            if await !waitUntil(timeout: .seconds(30), { !process.isRunning }) {
                FileHandle.standardError.write(Data("drover-testbed: host \(name) did not power off within 30 s; killing it\n".utf8))
                cgroups.killAll()
                await waitUntil(timeout: .seconds(10)) { !process.isRunning }
            }
        }
        let cgroups = self.cgroups
        if cgroups.isPopulated {
            cgroups.killAll()
            await waitUntil(timeout: .seconds(10)) { !cgroups.isPopulated }
        }
        do {
            try cgroups.remove()
        } catch {
            FileHandle.standardError.write(Data("drover-testbed: \(error)\n".utf8))
        }
        // The veth pair went with the host's network namespace; this only covers a slow kernel.
        _ = try? await Self.command("/usr/sbin/ip", ["link", "del", interface], quiet: true)
        // A test that ended between disconnect() and reconnect() leaves its route.
        _ = try? await Self.command("/usr/sbin/ip", ["route", "del", "unreachable", address + "/32"], quiet: true)
        _ = Self.addresses.withLock { $0.remove(subnet) }
        try? FileManager.default.removeItem(atPath: root)
    }

    // MARK: Helpers

    /// A /24 under 10.213.0.0/16 that no interface of this machine uses yet.
    private static func claimSubnet() throws -> Int {
        let used = (try? String(contentsOfFile: "/proc/net/fib_trie", encoding: .utf8)) ?? ""
        return try addresses.withLock { claimed in
            for candidate in 1...250 where !claimed.contains(candidate) && !used.contains("10.213.\(candidate).1\n") {
                claimed.insert(candidate)
                return candidate
            }
            throw TestbedError("no free subnet under 10.213.0.0/16 for a booted host")
        }
    }

    static func children(of pid: Int32) -> [Int32] {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return text.split(separator: " ").compactMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    @discardableResult
    static func command(_ executable: String, _ arguments: [String], quiet: Bool = false) async throws -> Int32 {
        let output = NSTemporaryDirectory() + "\(ThrowawayUserManager.namePrefix)\(getpid())-command-\(UUID().uuidString.prefix(8))"
        defer { unlink(output) }
        let child = try ChildProcess.spawn(executable, arguments, environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], output: output)
        let status = await child.wait()
        if status != 0 && !quiet {
            let printed = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            throw TestbedError("\(executable) \(arguments.joined(separator: " ")) exited \(status): \(printed)")
        }
        return status
    }
}

private extension Result {
    var isSuccess: Bool { if case .success = self { true } else { false } }
}
