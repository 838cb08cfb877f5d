@testable import DroverAgent
import Foundation
import GRDB
import Testing

/// The store's own time text: the same as GRDB writes (rows of earlier agents read the same),
/// to the millisecond, and no stored text can stop the agent.
@Suite struct StoredTimeTests {
    @Test(arguments: [0.0, 1_765_000_000.123, 1_765_090_799.999, 951_782_400.5, -86_400.25])
    func readsWhatGRDBWritesAndWritesWhatGRDBReads(_ seconds: Double) throws {
        let date = Date(timeIntervalSince1970: seconds)
        let grdbText = try #require(String.fromDatabaseValue(date.databaseValue))
        #expect(StoredTime.text(date) == grdbText)
        #expect(abs(StoredTime.date(grdbText).timeIntervalSince1970 - seconds) < 0.001)
        let back = try #require(Date.fromDatabaseValue(StoredTime.text(date).databaseValue))
        #expect(abs(back.timeIntervalSince1970 - seconds) < 0.001)
    }

    @Test func sqliteTextWithoutFractionsReads() {
        #expect(StoredTime.date("2026-12-07 06:00:00").timeIntervalSince1970 == 1_796_623_200)
        #expect(StoredTime.date("2026-12-07T06:00:00.5Z").timeIntervalSince1970 == 1_796_623_200.5)
    }

    @Test(arguments: ["", "yesterday", "2026-13-07 06:00:00", "2026-12-07", "２０２６-12-07 06:00:00", "2026-12-07 25:00:00"])
    func anythingElseReadsAsTheEpoch(_ text: String) {
        #expect(StoredTime.date(text).timeIntervalSince1970 == 0)
    }
}
