import DroverTestbed
import Foundation

/// A client in another process that sends `GET /` to a service in a loop until told to stop,
/// and counts what it got back by the `version=` in each answer: the proof that a shared
/// socket refused or reset nothing while instances came and went behind it.
struct TrafficClient {
    static let script = """
        import http.client, json, os, sys, time
        host, port, stop, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
        ok, failed, refused, versions, errors, sequence = 0, 0, 0, {}, [], []
        deadline = time.time() + 150
        while not os.path.exists(stop) and time.time() < deadline:
            try:
                connection = http.client.HTTPConnection(host, port, timeout=10)
                connection.request("GET", "/")
                response = connection.getresponse()
                body = response.read().decode()
                connection.close()
                if response.status == 200:
                    ok += 1
                    version = body.split("version=")[1].split()[0]
                    versions[version] = versions.get(version, 0) + 1
                    if not sequence or sequence[-1] != version:
                        sequence.append(version)
                else:
                    failed += 1
                    errors.append("HTTP %d" % response.status)
            except Exception as error:
                failed += 1
                if isinstance(error, ConnectionRefusedError):
                    refused += 1
                errors.append(repr(error))
            if ok % 25 == 1:
                with open(out + ".progress", "w") as f:
                    json.dump(versions, f)
        with open(out, "w") as f:
            json.dump({"ok": ok, "failed": failed, "refused": refused, "versions": versions, "errors": errors[:10], "sequence": sequence}, f)
        """

    struct Result: Decodable {
        let ok: Int
        let failed: Int
        /// Failures that were refused connections: the socket was not listening.
        let refused: Int
        let versions: [String: Int]
        let errors: [String]
        let sequence: [String]
    }

    let work: String
    let process: ChildProcess

    /// Starts the loop against `host:port`; its files live in `work` (made here).
    static func start(host: String = "127.0.0.1", port: Int, work: String) throws -> TrafficClient {
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let process = try ChildProcess.spawn("/usr/bin/python3", ["-c", script, host, "\(port)", work + "/stop", work + "/result"],
                                             output: work + "/log")
        return TrafficClient(work: work, process: process)
    }

    /// Answers so far, by version (written every 25 answers).
    func progress() -> [String: Int] {
        (try? JSONDecoder().decode([String: Int].self, from: Data(contentsOf: URL(fileURLWithPath: work + "/result.progress")))) ?? [:]
    }

    /// Tells the loop to stop, waits for it, and reads what it saw.
    func finish() async throws -> Result {
        _ = FileManager.default.createFile(atPath: work + "/stop", contents: nil)
        let status = await process.wait()
        guard status == 0 else { throw TestbedError("the traffic client exited with \(status): \((try? String(contentsOfFile: work + "/log", encoding: .utf8)) ?? "")") }
        return try JSONDecoder().decode(Result.self, from: Data(contentsOf: URL(fileURLWithPath: work + "/result")))
    }
}
