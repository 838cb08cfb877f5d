/// A command run once in a release's environment, outside its instances: the release command
/// of a deploy, or `drover exec`. Pure: how its words are checked and where its executable is.
public enum OneOffCommand {
    /// From one second to a day: a migration may be long, but nothing runs unbounded.
    public static let timeoutRange = 1...86_400

    /// Refuses what could not be a command line in a unit file: no words, too many, or a word
    /// that is not one line of printable text.
    public static func validate(_ command: [String], field: String) throws(SpecError) {
        guard let first = command.first, !first.isEmpty else {
            throw SpecError(field: field, problem: "is empty: give the command and its arguments, like [\"./web\", \"migrate\"]")
        }
        guard command.count <= ServiceSpec.maxArguments + 1 else {
            throw SpecError(field: field, problem: "has \(command.count) words; at most \(ServiceSpec.maxArguments + 1)")
        }
        for (index, word) in command.enumerated() {
            try ServiceSpec.checkText(word, field: "\(field)[\(index)]")
        }
        _ = try executable(first, releaseDirectory: "/release", field: field)
    }

    /// Where the first word runs from: a path with a `/` that is not absolute (`./web`,
    /// `bin/task`) is inside the release and may not leave it; an absolute path is taken as it
    /// is (`/bin/sh`); a bare name (`env`) is searched by systemd in its own `PATH`.
    public static func executable(_ word: String, releaseDirectory: String, field: String = "command") throws(SpecError) -> String {
        if word.utf8.first == UInt8(ascii: "/") { return word }
        guard word.utf8.contains(UInt8(ascii: "/")) else { return word }
        var relative = Substring(word)
        while relative.hasPrefix("./") { relative = relative.dropFirst(2) }
        try ServiceSpec.checkRelativePath(String(relative), field: field + "[0]")
        return releaseDirectory + "/" + relative
    }
}
