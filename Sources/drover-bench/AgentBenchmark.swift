import ArgumentParser
import AsyncHTTPClient
import Crypto
import DroverAPI
import DroverCore
import DroverTestbed
import Foundation
import NIOCore

/// The agent under load: upload throughput of a large artifact compared with copying the same
/// file, and the agent's memory when idle and after many releases.
struct AgentBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Upload throughput vs cp, and agent RSS idle and after many releases."
    )

    @Option(help: "Size of the large artifact, in MB.")
    var megabytes = 200

    @Option(help: "Uploads (and copies) of the large artifact measured.")
    var rounds = 3

    @Option(help: "Small releases uploaded before the second RSS reading.")
    var releases = 100

    func validate() throws {
        guard megabytes > 0, rounds > 0, releases > 0 else { throw ValidationError("--megabytes, --rounds and --releases must be positive") }
        guard getuid() == 0 else { throw ValidationError("the benchmark boots a throwaway systemd: run it as root") }
    }

    func run() async throws {
        try await BenchAgent.with { agent in try await measure(agent) }
    }

    private func measure(_ agent: BenchAgent) async throws {
        let idleRSS = rss(of: agent.process.pid)

        // A large artifact of random bytes (incompressible, like a real binary).
        let work = agent.work
        let artifact = work + "/artifact.bin"
        let digest = try writeRandomFile(artifact, megabytes: megabytes)
        let clock = ContinuousClock()
        var upload: [Duration] = [], copy: [Duration] = [], copySync: [Duration] = []
        for round in 1...rounds {
            upload.append(try await clock.measure {
                try await uploadFile(artifact, digest: digest, to: agent.base + "/v1/services/bench/releases/big-\(round)", token: agent.token)
            })
            copy.append(try await clock.measure { try await run("/bin/cp", [artifact, work + "/copy-\(round)"]) })
            copySync.append(try await clock.measure {
                try await run("/bin/cp", [artifact, work + "/copy-sync-\(round)"])
                try await run("/bin/sync", [work + "/copy-sync-\(round)"])
            })
        }
        let rate = { (duration: Duration) -> Double in Double(megabytes) / duration.seconds }

        // Many small releases, then the agent's memory again.
        let small = Data("#!/bin/sh\nexec sleep infinity\n".utf8)
        for index in 1...releases {
            try await agent.upload(small, service: "many", version: "v\(index)")
        }
        let loadedRSS = rss(of: agent.process.pid)

        print("drover-bench agent — \(ProcessInfo.processInfo.activeProcessorCount) CPUs, release build, throwaway systemd user manager\n")
        print("Upload of a \(megabytes) MB artifact (\(rounds) rounds; median)")
        print("  drover-agent PUT (stream, SHA-256, fsync, rename, unit, daemon-reload)   \(format(rate(median(upload)))) MB/s  \(median(upload).milliseconds) ms")
        print("  cp                                                                       \(format(rate(median(copy)))) MB/s  \(median(copy).milliseconds) ms")
        print("  cp + sync (durable, as the agent is)                                     \(format(rate(median(copySync)))) MB/s  \(median(copySync).milliseconds) ms")
        print("  upload / cp: \(format(median(upload).seconds / median(copy).seconds))x the time;"
              + " upload / (cp + sync): \(format(median(upload).seconds / median(copySync).seconds))x\n")
        print("Agent resident memory (VmRSS)")
        print("  idle after start              \(idleRSS / 1024) MiB")
        print("  after \(releases) more releases     \(loadedRSS / 1024) MiB")
    }

    private func uploadFile(_ path: String, digest: [UInt8], to url: String, token: String) async throws {
        var request = HTTPClientRequest(url: url)
        request.method = .PUT
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Content-Digest", value: "sha-256=:\(Data(digest).base64EncodedString()):")
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        request.body = .stream(FileChunks(path: path), length: .known(Int64(size)))
        let response = try await HTTPClient.shared.execute(request, timeout: .minutes(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        guard response.status == .created else { throw ValidationError("upload failed: \(response.status) \(String(buffer: body))") }
    }

    private func writeRandomFile(_ path: String, megabytes: Int) throws -> [UInt8] {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        var hasher = SHA256()
        var generator = SystemRandomNumberGenerator()
        var words = [UInt64](repeating: 0, count: 1 << 17)  // 1 MiB
        for _ in 0..<megabytes {
            for index in words.indices { words[index] = generator.next() }
            let chunk = words.withUnsafeBytes { Data($0) }
            hasher.update(data: chunk)
            try handle.write(contentsOf: chunk)
        }
        return Array(hasher.finalize())
    }

    private func run(_ executable: String, _ arguments: [String]) async throws {
        let status = await (try ChildProcess.spawn(executable, arguments)).wait()
        guard status == 0 else { throw ValidationError("\(executable) exited with \(status)") }
    }

    private func rss(of pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    private func median(_ values: [Duration]) -> Duration { values.sorted()[values.count / 2] }
    private func format(_ value: Double) -> String { String(format2: value, decimals: 1) }
}

/// A file read in 1 MiB chunks, as an upload body.
struct FileChunks: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let path: String

    struct AsyncIterator: AsyncIteratorProtocol {
        let handle: FileHandle?
        mutating func next() async throws -> ByteBuffer? {
            guard let data = try handle?.read(upToCount: 1 << 20), !data.isEmpty else {
                try? handle?.close()
                return nil
            }
            return ByteBuffer(bytes: data)
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(handle: FileHandle(forReadingAtPath: path)) }
}
