import DroverCore
import Testing

@Suite struct ServiceNameTests {
    @Test(arguments: ["a", "web", "web-api", "a1", "x-1-2", String(repeating: "a", count: 48)])
    func accepts(_ name: String) throws {
        #expect(try ServiceName(name).rawValue == name)
    }

    @Test(arguments: [
        "", "Web", "1web", "-web", "web_api", "web.api", "web api", "web/api", "web@1", "web%i",
        "web\nExecStart=/bin/sh", "wéb", String(repeating: "a", count: 49), "../etc",
    ])
    func rejects(_ name: String) {
        let error = #expect(throws: NameError.self) { try ServiceName(name) }
        #expect(error?.kind == "service name")
        #expect(error?.description.hasPrefix("invalid service name") == true)
    }

    @Test func errorQuotesControlCharactersInsteadOfPrintingThem() {
        let error = #expect(throws: NameError.self) { try ServiceName("a\nb") }
        #expect(error?.description.contains("\"a\\u{a}b\"") == true)
        #expect(error?.description.contains("\n") == false)
    }
}

@Suite struct ReleaseVersionTests {
    @Test(arguments: ["1", "1.2.3", "v2", "2024-01-01", "1.0.0-rc_1", "A", String(repeating: "9", count: 64)])
    func accepts(_ version: String) throws {
        #expect(try ReleaseVersion(version).rawValue == version)
    }

    @Test(arguments: [
        "", ".", "..", ".hidden", "-1", "_1", "1/2", "1@2", "1%i", "1 2", "1\n2", "1\\2", "1:2",
        String(repeating: "9", count: 65),
    ])
    func rejects(_ version: String) {
        let error = #expect(throws: NameError.self) { try ReleaseVersion(version) }
        #expect(error?.kind == "version")
    }
}

@Suite struct UnitNamesTests {
    let web = try! ServiceName("web")
    let webAPI = try! ServiceName("web-api")

    @Test func namesFollowTheScheme() throws {
        let v1 = try ReleaseVersion("1.2.0")
        #expect(UnitNames.template(web, v1) == "drover-web_1.2.0@.service")
        #expect(UnitNames.instance(web, v1, slot: 3) == "drover-web_1.2.0@3.service")
        #expect(UnitNames.socket(web) == "drover-web.socket")
        #expect(UnitNames.instancePattern(web) == "drover-web_*@*.service")
    }

    /// With '-' as the separator, web@api-1 and web-api@1 would share a unit.
    @Test func servicesWithSharedPrefixesNeverShareAUnit() throws {
        let a = UnitNames.template(web, try ReleaseVersion("api-1"))
        let b = UnitNames.template(webAPI, try ReleaseVersion("1"))
        #expect(a != b)
    }

    /// In slice names '-' means nesting: every service's slice must sit directly in drover.slice.
    @Test func slicesAreSiblingsUnderTheDroverSlice() {
        #expect(UnitNames.slice(web) == "drover-web.slice")
        #expect(UnitNames.slice(webAPI) == "drover-web\\x2dapi.slice")
    }

    @Test func parsesWhatItBuilds() throws {
        for (service, version, slot) in [(web, "1.2.0", 1), (webAPI, "api-1", 0), (webAPI, "2_b", 12)] {
            let unit = UnitNames.instance(service, try ReleaseVersion(version), slot: slot)
            let parsed = try #require(UnitNames.parseInstance(unit))
            #expect(parsed.service == service)
            #expect(parsed.version.rawValue == version)
            #expect(parsed.slot == slot)
        }
    }

    @Test(arguments: [
        "drover-web_1@.service", "drover-web_1@x.service", "drover-web_1@-1.service", "drover-web_1@01.service",
        "drover-web@1.service", "web_1@1.service", "drover-web_1@1.socket", "drover-Web_1@1.service",
        "drover-agent.service", "drover-web_1@20001.service", "drover-web_1@9223372036854775807.service",
    ])
    func parseRejectsOtherUnits(_ unit: String) {
        #expect(UnitNames.parseInstance(unit) == nil)
    }

    /// The glob for one service's instances must not match another service's.
    @Test func instancePatternIsSpecificToOneService() throws {
        let other = UnitNames.instance(webAPI, try ReleaseVersion("1"), slot: 1)
        #expect(!globMatches(UnitNames.instancePattern(web), other))
        let own = UnitNames.instance(web, try ReleaseVersion("api-1"), slot: 1)
        #expect(globMatches(UnitNames.instancePattern(web), own))
    }

    /// A minimal fnmatch for `*` only (what systemd's pattern match does for these names).
    private func globMatches(_ pattern: String, _ text: String) -> Bool {
        func match(_ p: ArraySlice<Character>, _ t: ArraySlice<Character>) -> Bool {
            guard let head = p.first else { return t.isEmpty }
            if head == "*" { return match(p.dropFirst(), t) || (!t.isEmpty && match(p, t.dropFirst())) }
            return t.first == head && match(p.dropFirst(), t.dropFirst())
        }
        return match(ArraySlice(pattern), ArraySlice(text))
    }
}
