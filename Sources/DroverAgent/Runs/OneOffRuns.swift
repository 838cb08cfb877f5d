import DroverAPI
import DroverCore
import DroverSystemd
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// One-off runs of a release: its release command before a rollout, or `drover exec`. Each is
/// a unit of its own rendered beside the release's template (`UnitRenderer.oneOff`), so it has
/// exactly the instances' files, environment, secrets, limits and sandbox. Its output comes
/// back through a FIFO that systemd opens as its stdout and stderr, so every byte arrives, in
/// order, and the end of the output is known (EOF) without asking the journal.
///
/// A run stops when its client goes away or asks (`DELETE …/runs/{id}`), and at its time limit
/// (`RuntimeMaxSec=`). Its unit and FIFO are removed once it has ended.
final class OneOffRuns: Sendable {
    let context: AgentContext
    /// The unit of each run under way, by id, for `stop`.
    private let running = Mutex<[String: (service: ServiceName, unit: String)]>([:])
    /// Runs asked to stop (`DELETE`, or their client went away): they end as "stopped".
    private let stopping = Mutex<Set<String>>([])

    init(context: AgentContext) {
        self.context = context
    }

    /// A run checked and ready: nothing has changed on the host yet.
    struct Prepared: Sendable {
        let id: String
        let service: ServiceName
        let release: StateStore.ReleaseRecord
        let command: [String]
        let timeoutSeconds: Int
        let isReleaseCommand: Bool
        /// Set when a release command already succeeded here: nothing runs.
        let skipReason: String?
        var unit: String { UnitNames.oneOffRun(service, release.version, id: id) }
    }

    /// Checks a request: every refusal happens here, before the answer starts.
    func prepare(_ service: ServiceName, _ request: RunRequest) async throws -> Prepared {
        guard let record = try await context.store.service(service) else {
            throw ServiceError(.unknownService, "no service \(service) on this host")
        }
        guard let version = request.version ?? record.currentVersion else {
            throw RunError(.noRelease, "\(service) has no current release to run in: deploy one first")
        }
        guard let release = try await context.store.release(service, version) else {
            throw ServiceError(.unknownRelease, "\(service) has no release \(version): upload it first")
        }
        let command: [String], timeout: Int, skip: String?
        if request.releaseCommand == true {
            guard request.command == nil else {
                throw RunError(.invalidCommand, "give either a command or releaseCommand, not both")
            }
            guard let phase = release.spec.release else {
                throw RunError(.noReleaseCommand, "release \(version) of \(service) has no release command (the manifest's [release] command)")
            }
            command = phase.command
            timeout = request.timeoutSeconds ?? phase.timeoutSeconds
            skip = release.releaseCommandAt.flatMap { ranAt in
                request.force == true ? nil : "the release command of \(version) already succeeded here at \(ISO8601DateFormatter().string(from: ranAt))"
            }
        } else {
            guard let given = request.command else {
                throw RunError(.invalidCommand, "give the command to run, like {\"command\": [\"./web\", \"console\"]}")
            }
            command = given
            timeout = request.timeoutSeconds ?? RunRequest.defaultTimeoutSeconds
            skip = nil
        }
        do throws(SpecError) {
            try OneOffCommand.validate(command, field: "command")
        } catch {
            throw RunError(.invalidCommand, error.description)
        }
        let id = (0..<6).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        return Prepared(id: id, service: service, release: release, command: command, timeoutSeconds: timeout,
                        isReleaseCommand: request.releaseCommand == true, skipReason: skip)
    }

    /// Runs a prepared run to its end, its updates in order. Ending the stream early (the
    /// client went away) stops the run on the host.
    func run(_ prepared: Prepared) -> AsyncThrowingStream<RunUpdate, any Error> {
        let (stream, continuation) = AsyncThrowingStream<RunUpdate, any Error>.makeStream()
        // An unstructured task inherits the request's task-locals: events name its token.
        let task = Task {
            do {
                try await self.execute(prepared) { continuation.yield($0) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Ends what one-off runs of an earlier agent left (it stopped mid-run): their units are
    /// stopped and their unit files and FIFOs removed. No client waits for them any more.
    static func sweep(_ context: AgentContext) async {
        let (units, runs) = (context.units.directory, context.files.runsDirectory)
        let leftovers = (try? await blockingIO {
            ((try? FileManager.default.contentsOfDirectory(atPath: units)) ?? []).filter { $0.hasPrefix(UnitNames.prefix) && $0.contains(".run-") && $0.hasSuffix(".service") }
        }) ?? []
        for unit in leftovers {
            context.logger.notice("stopping a one-off run an earlier agent left", metadata: ["unit": "\(unit)"])
            try? await context.systemd.stopUnit(unit)
            try? await context.systemd.resetFailed(unit)
        }
        _ = try? await blockingIO {
            for unit in leftovers { unlink(units + "/" + unit) }
            for fifo in (try? FileManager.default.contentsOfDirectory(atPath: runs)) ?? [] { unlink(runs + "/" + fifo) }
        }
    }

    /// Stops the run `id` of `service`; false when no such run is under way.
    func stop(_ service: ServiceName, id: String) async -> Bool {
        guard let run = running.withLock({ $0[id] }), run.service == service else { return false }
        stopping.withLock { _ = $0.insert(id) }
        try? await context.systemd.stopUnit(run.unit)
        return true
    }

    private func execute(_ prepared: Prepared, emit: @escaping @Sendable (RunUpdate) -> Void) async throws {
        let (store, service, version, unit, id) = (context.store, prepared.service, prepared.release.version, prepared.unit, prepared.id)
        if let skip = prepared.skipReason {
            emit(RunUpdate(kind: .skipped, id: id, unit: unit, version: version, message: skip))
            return
        }
        let what = prepared.isReleaseCommand ? "release command" : "run"
        let commandLine = prepared.command.joined(separator: " ")
        let outputPath = context.files.runsDirectory + "/\(id).out"
        let unitPath = context.units.directory + "/" + unit
        let text = try UnitRenderer.oneOff(
            for: prepared.release.spec,
            in: context.units.context(for: service, version: version),
            run: .init(id: id, command: prepared.command, port: try FreePort.find(), timeoutSeconds: prepared.timeoutSeconds, outputPath: outputPath))
        let systemd = context.systemd
        // Subscribed before the start, so the end of the run cannot be missed.
        let changes = systemd.unitChanges()
        let fifo = try await blockingIO { () throws -> (read: Int32, write: Int32) in
            try FileManager.default.createDirectory(atPath: (outputPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            unlink(outputPath)
            guard mkfifo(outputPath, 0o600) == 0 else { throw POSIXFailure("mkfifo \(outputPath)") }
            let read = open(outputPath, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
            guard read >= 0 else { throw POSIXFailure("open \(outputPath)") }
            // Held until the unit has started: the output cannot end before its writer opened it.
            let write = open(outputPath, O_WRONLY | O_NONBLOCK | O_CLOEXEC)
            guard write >= 0 else { close(read); throw POSIXFailure("open \(outputPath)") }
            try AtomicFile.write(Data(text.utf8), to: unitPath)
            return (read, write)
        }
        running.withLock { $0[id] = (service, unit) }
        let logger = context.logger
        defer {
            running.withLock { $0[id] = nil }
            // Whatever happened (a client gone, an error), the run ends and leaves nothing behind.
            Task.detached {
                try? await systemd.stopUnit(unit)
                try? await systemd.resetFailed(unit)
                _ = try? await blockingIO {
                    unlink(unitPath)
                    unlink(outputPath)
                }
            }
        }
        try await store.record("\(prepared.isReleaseCommand ? "release.command" : "run").started", service: service,
                               "\(what) \(id) of \(service) \(version): \(commandLine)")
        emit(RunUpdate(kind: .started, id: id, unit: unit, version: version))
        logger.info("one-off run started", metadata: ["service": "\(service)", "unit": "\(unit)"])

        // The run goes on to its end in a task of its own: a client that goes away (the
        // request's task cancelled) stops the unit, and the run still ends as any other does,
        // its output read to EOF, its end recorded and its files removed.
        let whole = Task { try await self.follow(prepared, fifo: fifo, changes: changes, emit: emit) }
        try await withTaskCancellationHandler {
            try await whole.value
        } onCancel: {
            self.stopping.withLock { _ = $0.insert(id) }
            Task.detached { try? await systemd.stopUnit(unit) }
        }
    }

    private func follow(_ prepared: Prepared, fifo: (read: Int32, write: Int32), changes: AsyncStream<UnitChange>,
                        emit: @escaping @Sendable (RunUpdate) -> Void) async throws {
        let (store, service, version, unit, id, systemd) = (context.store, prepared.service, prepared.release.version, prepared.unit, prepared.id, context.systemd)
        let what = prepared.isReleaseCommand ? "release command" : "run"
        let (ended, tail): (RunUpdate, [String]) = try await withThrowingTaskGroup(of: [String].self) { group in
            group.addTask {
                try await Self.readOutput(fd: fifo.read) { emit(RunUpdate(kind: .output, text: $0)) }
            }
            var startFailure: String?
            do {
                try await systemd.startUnit(unit)
            } catch {
                startFailure = "\(error)"
            }
            close(fifo.write)
            // EOF: the command and everything it started are gone.
            let tail = try await group.next() ?? []
            let status = try await Self.finalStatus(of: unit, systemd: systemd, changes: changes)
            var ended = Self.finished(id: id, status: status, startFailure: startFailure)
            if self.stopping.withLock({ $0.remove(id) }) != nil, ended.result != "exit-code" || ended.exitStatus == 0 {
                // systemd counts a stop's SIGTERM as a clean end; for the run it is not one.
                (ended.result, ended.exitStatus, ended.message) = ("stopped", nil, "stopped before it ended (asked to, or its client went away)")
            }
            return (ended, tail)
        }
        let lastLines = tail.suffix(5).map { $0.trimmingCharacters(in: .newlines) }.joined(separator: " | ")
        let outcome = ended.message ?? ""
        if ended.succeeded {
            if prepared.isReleaseCommand { try await store.releaseCommandSucceeded(service, version, at: Date()) }
            try await store.record("\(prepared.isReleaseCommand ? "release.command" : "run").succeeded", service: service,
                                   "\(what) \(id) of \(service) \(version): \(outcome)")
        } else {
            try await store.record("\(prepared.isReleaseCommand ? "release.command" : "run").failed", service: service,
                                   "\(what) \(id) of \(service) \(version): \(outcome)" + (lastLines.isEmpty ? "" : "; last lines: \(lastLines)"))
        }
        emit(ended)
    }

    /// The run's output, line by line as it comes (a partial last line at the end; very long
    /// lines in pieces of 16 KiB), until every writer has closed the FIFO; returns the last lines.
    private static func readOutput(fd: Int32, _ emit: @escaping @Sendable (String) -> Void) async throws -> [String] {
        let channel = try await NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .takingOwnershipOfDescriptor(input: fd) { channel in
                channel.eventLoop.makeCompletedFuture { try NIOAsyncChannel<ByteBuffer, Never>(wrappingChannelSynchronously: channel) }
            }
        return try await channel.executeThenClose { inbound in
            var pending: [UInt8] = []
            var tail: [String] = []
            func line(_ text: String) {
                emit(text)
                tail.append(text)
                if tail.count > 20 { tail.removeFirst() }
            }
            for try await buffer in inbound {
                pending += buffer.readableBytesView
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) ?? (pending.count >= 16_384 ? 16_383 : nil) {
                    line(String(decoding: pending[...newline], as: UTF8.self))
                    pending.removeSubrange(...newline)
                }
            }
            if !pending.isEmpty { line(String(decoding: pending, as: UTF8.self)) }
            return tail
        }
    }

    /// Waits until the unit has ended (it stays loaded: `RemainAfterExit=`), at most a minute
    /// after its output ended.
    private static func finalStatus(of unit: String, systemd: any UnitControl, changes: AsyncStream<UnitChange>) async throws -> UnitStatus {
        try await withDeadline(.seconds(60)) {
            var status = try await systemd.status(of: unit)
            var iterator = changes.makeAsyncIterator()
            while !(status.subState == "exited" || status.activeState == "failed" || status.activeState == "inactive") || status.jobID != 0 {
                repeat {
                    guard let change = await iterator.next() else { throw CancellationError() }
                    if change.unit == unit { break }
                } while true
                status = try await systemd.status(of: unit)
            }
            return status
        }
    }

    private static func finished(id: String, status: UnitStatus, startFailure: String?) -> RunUpdate {
        let result = status.result ?? "unknown"
        var update = RunUpdate(kind: .finished, id: id, result: result)
        switch status.execMainCode {
        case .exited?: update.exitStatus = status.execMainStatus
        case .killed?, .dumped?: update.signal = status.execMainStatus.map(Self.signalName)
        default: break
        }
        if result == "success", update.exitStatus == nil, update.signal == nil { update.exitStatus = 0 }
        // Stopped (a client gone, DELETE …/runs/{id}): systemd calls a SIGTERM on stop a success.
        if let signal = update.signal {
            update.result = result == "success" ? "signal" : result
            update.message = result == "timeout" ? "stopped at its time limit" : "killed by \(signal)"
            return update
        }
        update.message = switch result {
        case "success": "exited with status 0"
        case "exit-code": "exited with status \(update.exitStatus.map(String.init) ?? "?")"
        case "timeout": "stopped at its time limit"
        case "signal", "core-dump": "killed by \(update.signal ?? "a signal")"
        case "resources": "could not start: \(startFailure ?? "systemd could not set it up (see the host's journal)")"
        default: "ended with result \(result)" + (startFailure.map { ": \($0)" } ?? "")
        }
        return update
    }

    private static func signalName(_ number: Int32) -> String {
        let names: [Int32: String] = [1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 6: "SIGABRT", 9: "SIGKILL", 11: "SIGSEGV", 13: "SIGPIPE", 15: "SIGTERM"]
        return names[number] ?? "signal \(number)"
    }
}

/// A TCP port no one listens on now, from the kernel's ephemeral range: a one-off run's
/// `PORT`, so it never collides with an instance's slot.
enum FreePort {
    static func find() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXFailure("socket") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw POSIXFailure("bind") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        guard withUnsafeMutablePointer(to: &address, {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }) == 0 else { throw POSIXFailure("getsockname") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
