import Foundation

// Built two ways. With `-D FUZZING -sanitize=fuzzer,address` (`Tests/run.sh fuzz`), libFuzzer
// supplies `main` and calls `LLVMFuzzerTestOneInput`; DROVER_FUZZ_TARGET names the target.
// In the ordinary build it is a program that replays every committed input of every target
// once (`drover-fuzz replay DIR`), so the corpora and every crash ever found are a
// regression test of the plain test run.
#if FUZZING
nonisolated(unsafe) private var selected: FuzzTarget?

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    if selected == nil {
        let name = ProcessInfo.processInfo.environment["DROVER_FUZZ_TARGET"] ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            fatalError("DROVER_FUZZ_TARGET must be one of \(FuzzTarget.allCases.map(\.rawValue)); got '\(name)'")
        }
        selected = target
    }
    selected!.run(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
    return 0
}

/// SwiftPM links an executable's entry point as `<module>_main` (and points `main` at it), so
/// libFuzzer's own `main` is not the one that runs: this one hands over to libFuzzer's
/// driver, found at run time (Swift does not see libFuzzer's header).
@_cdecl("drover_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    typealias Callback = @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    typealias Driver = @convention(c) (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>, Callback) -> Int32
    guard let symbol = dlsym(nil, "LLVMFuzzerRunDriver") else {
        fatalError("libFuzzer's LLVMFuzzerRunDriver is missing: build with -sanitize=fuzzer (Tests/run.sh fuzz)")
    }
    var (count, vector) = (argc, argv)
    return unsafeBitCast(symbol, to: Driver.self)(&count, &vector) { data, size in fuzzOneInput(data, size) }
}
#else
@main
enum Replay {
    static func main() throws {
        let arguments = CommandLine.arguments.dropFirst()
        guard arguments.first == "replay", arguments.count == 2, let directory = arguments.last else {
            FileHandle.standardError.write(Data("usage: drover-fuzz replay CORPUS-DIR (one directory per target inside)\n".utf8))
            exit(2)
        }
        for target in FuzzTarget.allCases {
            let folder = directory + "/" + target.rawValue
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder).sorted()) ?? []
            for name in names {
                guard let data = FileManager.default.contents(atPath: folder + "/" + name) else { continue }
                target.run(Array(data))
            }
            print("\(target.rawValue): \(names.count) inputs replayed")
        }
        TarballFuzzing.removeScratch()
    }
}
#endif
