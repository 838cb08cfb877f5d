import DroverTestbed
import Foundation

/// Builds `.tar.gz` files with exactly the entries a test needs, hostile ones included
/// (Python's tarfile writes what it is told: `../x`, absolute paths, device nodes).
enum Tarball {
    enum Entry {
        case file(String, Data, executable: Bool = false, mode: Int? = nil)
        case directory(String, mode: Int = 0o755)
        case symlink(String, target: String)
        case hardlink(String, target: String)
        case characterDevice(String)
    }

    static func make(_ entries: [Entry]) async throws -> Data {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("drover-tar-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var lines: [String] = []
        for (index, entry) in entries.enumerated() {
            switch entry {
            case .file(let name, let data, let executable, let mode):
                let source = directory.appendingPathComponent("content-\(index)")
                try data.write(to: source)
                lines.append("add_file(\(pythonString(name)), \(pythonString(source.path)), \(mode ?? (executable ? 0o755 : 0o644)))")
            case .directory(let name, let mode):
                lines.append("add_special(\(pythonString(name)), tarfile.DIRTYPE, mode=\(mode))")
            case .symlink(let name, let target):
                lines.append("add_special(\(pythonString(name)), tarfile.SYMTYPE, linkname=\(pythonString(target)))")
            case .hardlink(let name, let target):
                lines.append("add_special(\(pythonString(name)), tarfile.LNKTYPE, linkname=\(pythonString(target)))")
            case .characterDevice(let name):
                lines.append("add_special(\(pythonString(name)), tarfile.CHRTYPE)")
            }
        }
        let output = directory.appendingPathComponent("out.tar.gz").path
        let script = """
            import tarfile
            tar = tarfile.open(\(pythonString(output)), "w:gz")
            def add_file(name, source, mode):
                info = tar.gettarinfo(source, arcname=name)
                info.name = name  # gettarinfo strips a leading '/': keep exactly what the test asked for
                info.mode = mode
                with open(source, "rb") as f:
                    tar.addfile(info, f)
            def add_special(name, kind, linkname="", mode=0o755):
                info = tarfile.TarInfo(name)
                info.type = kind
                info.linkname = linkname
                info.mode = mode
                tar.addfile(info)
            \(lines.joined(separator: "\n"))
            tar.close()
            """
        let child = try ChildProcess.spawn("/usr/bin/env", ["python3", "-c", script], output: directory.appendingPathComponent("log").path)
        let status = await child.wait()
        guard status == 0 else {
            throw AgentTestError("python3 could not build the tarball: \((try? String(contentsOfFile: directory.appendingPathComponent("log").path, encoding: .utf8)) ?? "")")
        }
        return try Data(contentsOf: URL(fileURLWithPath: output))
    }

    private static func pythonString(_ value: String) -> String {
        "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
