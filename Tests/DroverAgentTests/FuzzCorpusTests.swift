import DroverTestbed
import Foundation
import Testing

/// Every committed fuzz input (the starting corpora, and each crash the fuzzer ever found,
/// kept as a regression) goes once through its target in the ordinary build: a parser that
/// traps on one of them again fails this test, without the fuzzer's toolchain.
@Suite struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("DroverFuzz/Corpus").path

    @Test func everyCommittedInputPassesItsTarget() async throws {
        let directory = try makeTestbedDirectory("fuzz-replay")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let output = directory + "/output"
        let replay = try ChildProcess.spawn(builtExecutable("drover-fuzz"), ["replay", Self.corpus], output: output)
        let status = await replay.wait()
        let printed = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(status == 0, "a committed input broke its target:\n\(printed.suffix(2_000))")
        for target in ["manifest", "tarball", "unit", "names", "request"] {
            let count = printed.split(separator: "\n").first { $0.hasPrefix(target + ":") }
                .flatMap { Int($0.split(separator: " ")[1]) } ?? 0
            #expect(count >= 5, "\(target) replayed \(count) inputs: \(printed)")
        }
    }
}
