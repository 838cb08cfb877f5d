import CSystemd
import Foundation
import Synchronization

/// One sd-bus connection served by a thread of its own, which is also the serial executor of
/// the actor that owns the connection (`SystemdClient`).
///
/// sd-bus is not thread-safe. Making its event loop the actor's executor means every actor
/// method, every reply callback and every signal handler runs on this one thread, one after
/// another: no locks around sd-bus, and many concurrent calls from Swift tasks pipeline over
/// one socket (each waits for its own reply without blocking the others).
///
/// The thread alternates between running queued actor jobs, dispatching whatever the bus has
/// received (`sd_bus_process`), and sleeping in `poll` on the bus socket and an eventfd that
/// `enqueue` writes to.
final class BusLoop: SerialExecutor, @unchecked Sendable {
    // @unchecked: `bus`, `busOpen` and `onDisconnect` are only touched on the loop thread
    // (by the owning actor, or by the loop itself); `state` is behind a Mutex; the rest is immutable.

    private struct State {
        var jobs: [UnownedJob] = []
        var stopping = false
    }

    private let state = Mutex(State())
    private let wakeFD: Int32
    private let threadID = Mutex<pthread_t?>(nil)

    /// The connection. Nil once closed.
    private(set) var bus: OpaquePointer?
    /// Called on the loop thread once, when the connection is closed by either side.
    var onDisconnect: (() -> Void)?

    /// Takes ownership of a started bus and starts serving it.
    init(bus: OpaquePointer, name: String) throws(SystemdError) {
        let fd = eventfd(0, Int32(EFD_CLOEXEC | EFD_NONBLOCK))
        guard fd >= 0 else {
            throw SystemdError(.busFailure, message: "eventfd failed: \(errnoDescription(errno))")
        }
        self.wakeFD = fd
        self.bus = bus
        let thread = Thread { [self] in self.run() }
        thread.name = name
        thread.start()
    }

    // MARK: SerialExecutor

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        state.withLock { $0.jobs.append(unowned) }
        wake()
    }

    func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    /// Lets `assumeIsolated` work in sd-bus callbacks, which run on this thread outside any job.
    func checkIsolated() {
        precondition(isLoopThread, "not on the sd-bus loop thread")
    }

    var isLoopThread: Bool {
        threadID.withLock { id in id.map { pthread_equal($0, pthread_self()) != 0 } ?? false }
    }

    // MARK: Life cycle

    /// Ends the thread after the jobs already queued. Called when the owning actor goes away.
    func stop() {
        state.withLock { $0.stopping = true }
        wake()
    }

    /// Closes the connection; pending calls fail with "connection terminated". Loop thread only.
    func closeBus() {
        guard let bus else { return }
        sd_bus_flush(bus)
        sd_bus_close(bus)
        // In the closing state sd-bus answers every pending call with an error, one per process call.
        while sd_bus_process(bus, nil) > 0 {}
        sd_bus_unref(bus)
        self.bus = nil
        let handler = onDisconnect
        onDisconnect = nil
        handler?()
    }

    // MARK: The loop

    private func run() {
        threadID.withLock { $0 = pthread_self() }
        while true {
            let (jobs, stopping) = state.withLock { state in
                defer { state.jobs.removeAll(keepingCapacity: true) }
                return (state.jobs, state.stopping)
            }
            for job in jobs {
                job.runSynchronously(on: asUnownedSerialExecutor())
            }
            if stopping && jobs.isEmpty { break }
            dispatchReceived()
            if !jobs.isEmpty || state.withLock({ !$0.jobs.isEmpty }) { continue }
            sleepUntilWork()
        }
        closeBus()
        close(wakeFD)
    }

    /// Runs sd-bus callbacks for everything received, until it has nothing left.
    private func dispatchReceived() {
        guard let bus else { return }
        while true {
            let result = sd_bus_process(bus, nil)
            if result > 0 { continue }
            if result < 0 || sd_bus_is_open(bus) <= 0 { closeBus() }
            return
        }
    }

    private func sleepUntilWork() {
        var fds = [pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        var timeout: Int32 = -1
        if let bus {
            let busFD = sd_bus_get_fd(bus)
            let events = sd_bus_get_events(bus)
            if busFD >= 0, events >= 0 {
                fds.append(pollfd(fd: busFD, events: Int16(events), revents: 0))
            }
            var until: UInt64 = 0
            if sd_bus_get_timeout(bus, &until) >= 0, until != UInt64.max {
                timeout = Self.millisecondsUntil(monotonicMicroseconds: until)
            }
        }
        _ = poll(&fds, nfds_t(fds.count), timeout)
        if fds[0].revents & Int16(POLLIN) != 0 {
            var counter: eventfd_t = 0
            _ = eventfd_read(wakeFD, &counter)
        }
    }

    private func wake() {
        _ = eventfd_write(wakeFD, 1)
    }

    private static func millisecondsUntil(monotonicMicroseconds until: UInt64) -> Int32 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let nowMicroseconds = UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
        guard until > nowMicroseconds else { return 0 }
        return Int32(clamping: (until - nowMicroseconds + 999) / 1_000)
    }
}
