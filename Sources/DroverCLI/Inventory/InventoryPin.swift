import DroverCore
import DroverTOML
import Foundation

/// Writes a host's `tls_fingerprint` into the inventory file, keeping every other line, comment
/// and blank as it was: `drover hosts trust` edits what the operator wrote, it does not
/// rewrite it. The edit is checked by parsing the result before it replaces the file.
enum InventoryPin {
    static func write(_ fingerprint: CertificateFingerprint, for host: String, in path: String) throws(InputError) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw InputError(file: path, line: nil, key: nil, problem: "cannot read the inventory to write the pin of \(host)")
        }
        var lines = text.components(separatedBy: "\n")
        let header = lines.firstIndex { isHeader($0, of: host) }
        guard let header else {
            throw InputError(file: path, line: nil, key: "hosts.\(host)", problem:
                "no [hosts.\(host)] line to write under: add tls_fingerprint = \"\(fingerprint)\" to host '\(host)' by hand")
        }
        var end = header + 1
        while end < lines.count, !lines[end].trimmingSpaces.hasPrefix("[") { end += 1 }
        let entry = "tls_fingerprint = \"\(fingerprint)\""
        if let existing = (header + 1..<end).first(where: { lines[$0].trimmingSpaces.hasPrefix("tls_fingerprint") }) {
            lines[existing] = entry
        } else {
            var last = header
            for index in header + 1..<end where !lines[index].trimmingSpaces.isEmpty && !lines[index].trimmingSpaces.hasPrefix("#") {
                last = index
            }
            lines.insert(entry, at: last + 1)
        }
        let updated = lines.joined(separator: "\n")
        let inventory = try Inventory.parse(updated, file: path)
        guard inventory.hosts.first(where: { $0.name == host })?.transport == .pinned(fingerprint) else {
            throw InputError(file: path, line: nil, key: "hosts.\(host)", problem:
                "could not place the pin of \(host) in this file's layout: add tls_fingerprint = \"\(fingerprint)\" to host '\(host)' by hand")
        }
        let temporary = path + ".drover-\(getpid()).tmp"
        do {
            let mode = (try? FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? 0o644
            try Data(updated.utf8).write(to: URL(fileURLWithPath: temporary))
            chmod(temporary, mode_t(mode))
            guard rename(temporary, path) == 0 else { throw CocoaError(.fileWriteUnknown) }
        } catch {
            unlink(temporary)
            throw InputError(file: path, line: nil, key: nil, problem: "cannot write the inventory (\(error.localizedDescription)): add tls_fingerprint = \"\(fingerprint)\" to host '\(host)' by hand")
        }
    }

    /// `[hosts.NAME]` or `[hosts."NAME"]`, spaces and a comment allowed.
    private static func isHeader(_ line: String, of host: String) -> Bool {
        var text = line.trimmingSpaces
        if let comment = text.firstIndex(of: "#") { text = String(text[..<comment]).trimmingSpaces }
        guard text.hasPrefix("["), text.hasSuffix("]"), !text.hasPrefix("[[") else { return false }
        let inside = text.dropFirst().dropLast().split(separator: ".", maxSplits: 1).map { String($0).trimmingSpaces }
        guard inside.count == 2, inside[0] == "hosts" else { return false }
        return inside[1] == host || inside[1] == "\"\(host)\"" || inside[1] == "'\(host)'"
    }
}
