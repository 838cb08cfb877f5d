import DroverCore
import Testing

/// Links are followed through the tree, as the kernel would, not read lexically.
@Suite struct SymlinkResolverTests {
    /// A tree: path → node; what is not listed is missing.
    func escape(_ link: String, _ target: String, in tree: [String: SymlinkResolver.Node]) -> String? {
        var tree = tree
        tree[link] = .symlink(target: target)
        return SymlinkResolver.escape(link: link, target: target) { tree[$0] ?? .missing }
    }

    @Test func theReportedChainEscapes() {
        // d/e/u -> ../.. is the root itself; d/e/esc -> u/../../tmp/X then climbs above it.
        let tree: [String: SymlinkResolver.Node] = ["d": .directory, "d/e": .directory, "d/e/u": .symlink(target: "../..")]
        #expect(escape("d/e/esc", "u/../../tmp/X", in: tree) != nil)
        #expect(escape("d/e/esc", "u/../tmp/X", in: tree) != nil)
        #expect(escape("d/e/ok", "u/bin/web", in: tree) == nil)
    }

    @Test func linksInsideStayInside() {
        let tree: [String: SymlinkResolver.Node] = ["bin": .directory, "bin/web": .file, "lib": .directory, "cur": .symlink(target: "lib")]
        #expect(escape("bin/current", "../lib", in: tree) == nil)
        #expect(escape("web", "bin/web", in: tree) == nil)
        #expect(escape("bin/self", ".", in: tree) == nil)
        #expect(escape("x", "cur/../bin/web", in: tree) == nil)
        #expect(escape("dangling", "nothing/here", in: tree) == nil)
    }

    @Test func linksOutAreRefused() {
        let tree: [String: SymlinkResolver.Node] = ["a": .directory, "abs": .symlink(target: "/etc"), "up": .symlink(target: "a/../..")]
        #expect(escape("out", "..", in: tree) != nil)
        #expect(escape("a/out", "../../etc", in: tree) != nil)
        #expect(escape("root", "/", in: tree) != nil)
        #expect(escape("via", "abs/passwd", in: tree) != nil, "through a link to an absolute path")
        #expect(escape("via2", "up/x", in: tree) != nil, "through a link that climbs out")
        #expect(escape("missing", "nothing/../..", in: tree) != nil)
    }

    @Test func loopsEndWithARefusal() {
        let tree: [String: SymlinkResolver.Node] = ["a": .symlink(target: "b"), "b": .symlink(target: "a")]
        #expect(escape("c", "a/x", in: tree)?.contains("links") == true)
    }
}
