/// Decides whether a symbolic link inside a release resolves to a place inside it, following
/// the links it passes through the way the kernel would, not lexically: `d/u -> ..` makes
/// `d/esc -> u/../x` leave the tree although its text never climbs above it. Pure: the tree
/// is read through `lookup`, so the rules are tested without a filesystem.
public enum SymlinkResolver {
    /// What is at a path relative to the release root.
    public enum Node: Sendable, Equatable {
        case directory, file, missing
        case symlink(target: String)
    }

    /// How many links one resolution may pass through (the kernel's limit is 40).
    public static let maxHops = 40

    /// Why the link at `link` (relative to the root, its parent directories real ones) with
    /// text `target` does not stay inside the root, or nil if it stays inside.
    public static func escape(link: String, target: String, lookup: (String) -> Node) -> String? {
        var resolved = link.split(separator: "/").dropLast().map(String.init)
        var pending = target.split(separator: "/").map(String.init).reversed() as [String]
        if target.hasPrefix("/") { return "its target is an absolute path" }
        var hops = 0
        while let component = pending.popLast() {
            switch component {
            case ".":
                continue
            case "..":
                guard resolved.popLast() != nil else { return "it climbs above the release" }
            default:
                resolved.append(component)
                guard case .symlink(let next) = lookup(resolved.joined(separator: "/")) else { continue }
                hops += 1
                guard hops <= maxHops else { return "it passes through more than \(maxHops) links" }
                guard !next.hasPrefix("/") else { return "it passes through \(resolved.joined(separator: "/")) -> \(next), an absolute path" }
                resolved.removeLast()
                pending += next.split(separator: "/").map(String.init).reversed()
            }
        }
        return nil
    }
}
