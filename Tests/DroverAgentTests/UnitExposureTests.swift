@testable import DroverAgent
import DroverCore
import Foundation
import Testing

/// The exposure gate reads systemd-analyze's own table; and the tool, run here on rendered
/// units, scores the default sandbox low and a stripped one high.
@Suite struct UnitExposureTests {
    @Test func readsTheScoreAndTheFailedChecksHeaviestFirst() throws {
        let output = """
              NAME                                    DESCRIPTION                                       EXPOSURE
            ✗ RootDirectory=/RootImage=               Service runs within the host's root directory          0.1
            ✓ SupplementaryGroups=                    Service has no supplementary groups
            ✗ PrivateNetwork=                         Service has access to the host's network               0.5
            ✗ User=/DynamicUser=                      Service runs as root user                              0.4

            → Overall exposure level for drover-web_1@i.service: 4.9 OK 🙂
            """
        let exposure = try #require(UnitExposure.parse(output))
        #expect(exposure.score == 4.9)
        #expect(exposure.failed == ["PrivateNetwork=", "User=/DynamicUser=", "RootDirectory=/RootImage="])
        #expect(UnitExposure.parse("no table at all") == nil)
        #expect(UnitExposure.parse("→ Overall exposure level for x.service: 11.0 ?") == nil, "outside the scale")
    }

    @Test func theDefaultSandboxScoresLowAndAStrippedOneHigh() throws {
        try #require(FileManager.default.isExecutableFile(atPath: UnitExposure.executable), "systemd-analyze is installed (Debian's systemd)")
        let directory = NSTemporaryDirectory() + "drover-exposure-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let context = UnitContext(service: try ServiceName("web"), version: try ReleaseVersion("1"), scope: .system,
                                  releaseDirectory: "/var/lib/drover/services/web/releases/1", slotDirectory: "/var/lib/drover/services/web/slots")
        let safe = try UnitRenderer.template(for: ServiceSpec(binary: "web"), in: context)
        let low = try #require(UnitExposure.score(unit: safe, name: "drover-web_1@.service", in: directory))
        var stripped = ServiceSpec(binary: "web")
        for key in ["DynamicUser", "ProtectSystem", "CapabilityBoundingSet", "PrivateUsers", "SystemCallFilter", "NoNewPrivileges",
                    "ProtectHome", "PrivateDevices", "RestrictAddressFamilies", "PrivateTmp"] {
            stripped.sandbox[key] = .some(nil)
        }
        let high = try #require(UnitExposure.score(unit: try UnitRenderer.template(for: stripped, in: context), name: "drover-web_1@.service", in: directory))
        print("exposure (systemd-analyze security --offline): default sandbox \(low.score), stripped \(high.score)")
        #expect(low.score <= 2.0, "\(low)")
        #expect(high.score > 5.0 && high.failed.contains("User=/DynamicUser="), "\(high)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty, "the scored file is removed")
    }
}
