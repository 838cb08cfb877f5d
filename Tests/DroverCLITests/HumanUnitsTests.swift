import DroverCLI
import DroverTOML
import Testing

@Suite struct HumanUnitsTests {
    @Test(arguments: [("30s", 30.0), ("500ms", 0.5), ("5m", 300), ("1h", 3600), ("2d", 172_800), ("1.5s", 1.5), ("12", 12), (" 7s ", 7)])
    func durations(_ text: String, _ seconds: Double) throws {
        #expect(try HumanUnits.seconds(text).get() == seconds)
    }

    @Test(arguments: ["", "soon", "-1s", "1h30m", "5 minutes", "inf", "nan"])
    func notDurations(_ text: String) {
        #expect(throws: UnitProblem.self) { try HumanUnits.seconds(text).get() }
    }

    @Test(arguments: [("512M", UInt64(512) << 20), ("1G", 1 << 30), ("64Ki", 64 << 10), ("2GiB", 2 << 30), ("1.5G", 1_610_612_736), ("4096", 4096)])
    func sizes(_ text: String, _ bytes: UInt64) throws {
        #expect(try HumanUnits.bytes(text).get() == bytes)
    }

    @Test(arguments: ["", "lots", "-1M", "1X", "99999999999T"])
    func notSizes(_ text: String) {
        #expect(throws: UnitProblem.self) { try HumanUnits.bytes(text).get() }
    }

    @Test func percentages() throws {
        #expect(try HumanUnits.percent("50%").get() == 50)
        #expect(throws: UnitProblem.self) { try HumanUnits.percent("50").get() }
        #expect(throws: UnitProblem.self) { try HumanUnits.percent("0%").get() }
    }

    @Test func cpuAmountsAreCheckedBeforeTheyBecomeWholeNumbers() {
        #expect(HumanUnits.cores("50%") == 0.5 && HumanUnits.cores("2") == 2)
        #expect(HumanUnits.cores("1e300%") == nil && HumanUnits.cores("0") == nil && HumanUnits.cores("lots") == nil)
        #expect(HumanUnits.cpuPercent("250%") == 250)
        #expect(HumanUnits.cpuPercent("1e300%") == nil && HumanUnits.cpuPercent("0.1%") == nil && HumanUnits.cpuPercent("50") == nil)
    }

    @Test func tablesAlignTheirColumns() {
        let table = Table(columns: ["HOST", "VERSION"], rows: [["web-1", "1.0"], ["a", "2.0.0"]])
        #expect(table.render() == "HOST   VERSION\nweb-1  1.0\na      2.0.0")
    }
}
