import DroverAPI
import DroverCore
import Foundation
import Testing

/// The ranges `openapi.json` states are the ones the code enforces where it decodes: the table
/// names each documented number and the constant behind it, so neither can change alone.
@Suite struct OpenAPIRangesTests {
    static func document() -> [String: Any] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/DroverAPI/openapi.json").standardized
        return (try? JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]) ?? [:]
    }

    /// The schema at a path of keys under `components.schemas` (e.g. `Spec.restart.burst`).
    static func property(_ path: String) -> [String: Any]? {
        var node = (document()["components"] as? [String: Any])?["schemas"] as? [String: Any]
        for (index, key) in path.split(separator: ".").enumerated() {
            node = node?[String(key)] as? [String: Any]
            if index < path.split(separator: ".").count - 1, let properties = node?["properties"] as? [String: Any] { node = properties }
        }
        return node
    }

    static func range(_ low: some BinaryInteger, _ high: some BinaryInteger) -> (Double, Double) { (Double(low), Double(high)) }

    static let table: [(String, (Double, Double))] = [
        ("AutoscalePolicy.min", range(AutoscalePolicy.countRange.lowerBound, AutoscalePolicy.countRange.upperBound)),
        ("AutoscalePolicy.max", range(AutoscalePolicy.countRange.lowerBound, AutoscalePolicy.countRange.upperBound)),
        ("AutoscalePolicy.cpu", (Bounds.cpuCores.lowerBound, Bounds.cpuCores.upperBound)),
        ("AutoscalePolicy.memoryBytes", range(Bounds.memoryBytes.lowerBound, Bounds.memoryBytes.upperBound)),
        ("AutoscalePolicy.intervalSeconds", (AutoscalePolicy.intervalSecondsRange.lowerBound, AutoscalePolicy.intervalSecondsRange.upperBound)),
        ("AutoscalePolicy.tolerance", (AutoscalePolicy.toleranceRange.lowerBound, AutoscalePolicy.toleranceRange.upperBound)),
        ("AutoscalePolicy.scaleUpStabilizationSeconds", (Bounds.seconds.lowerBound, Bounds.seconds.upperBound)),
        ("AutoscalePolicy.scaleDownStabilizationSeconds", (Bounds.seconds.lowerBound, Bounds.seconds.upperBound)),
        ("AutoscalePolicy.maxStepUp", range(Bounds.step.lowerBound, Bounds.step.upperBound)),
        ("AutoscalePolicy.maxStepDown", range(Bounds.step.lowerBound, Bounds.step.upperBound)),
        ("Strategy.maxSurge", range(DeploymentStrategy.surgeRange.lowerBound, DeploymentStrategy.surgeRange.upperBound)),
        ("Strategy.maxUnavailable", range(DeploymentStrategy.surgeRange.lowerBound, DeploymentStrategy.surgeRange.upperBound)),
        ("Strategy.minHealthySeconds", (DeploymentStrategy.minHealthySecondsRange.lowerBound, DeploymentStrategy.minHealthySecondsRange.upperBound)),
        ("Strategy.deadlineSeconds", (DeploymentStrategy.deadlineSecondsRange.lowerBound, DeploymentStrategy.deadlineSecondsRange.upperBound)),
        ("DeploymentRequest.instances", range(Bounds.instances.lowerBound, Bounds.instances.upperBound)),
        ("ScaleRequest.instances", range(Bounds.instances.lowerBound, Bounds.instances.upperBound)),
        ("InstanceLimits.cpuPercent", range(Bounds.cpuPercent.lowerBound, Bounds.cpuPercent.upperBound)),
        ("InstanceLimits.memoryBytes", range(Bounds.memoryBytes.lowerBound, Bounds.memoryBytes.upperBound)),
        ("Spec.resources.cpuPercent", range(Bounds.cpuPercent.lowerBound, Bounds.cpuPercent.upperBound)),
        ("Spec.resources.memoryBytes", range(Bounds.memoryBytes.lowerBound, Bounds.memoryBytes.upperBound)),
        ("Spec.resources.serviceCPUPercent", range(Bounds.cpuPercent.lowerBound, Bounds.cpuPercent.upperBound)),
        ("Spec.resources.serviceMemoryBytes", range(Bounds.memoryBytes.lowerBound, Bounds.memoryBytes.upperBound)),
    ]

    @Test(arguments: table.map(\.0))
    func theDocumentStatesTheEnforcedRange(_ path: String) throws {
        let schema = try #require(Self.property(path), "\(path) is documented")
        let expected = try #require(Self.table.first { $0.0 == path }).1
        #expect((schema["minimum"] as? NSNumber)?.doubleValue == expected.0, "\(path) minimum")
        #expect((schema["maximum"] as? NSNumber)?.doubleValue == expected.1, "\(path) maximum")
    }

    @Test func theSpecsLimitsAreDocumented() throws {
        #expect((Self.property("Spec.binary")?["maxLength"] as? Int) == ServiceSpec.maxBinaryBytes)
        #expect((Self.property("Spec.arguments")?["maxItems"] as? Int) == ServiceSpec.maxArguments)
        #expect((Self.property("Spec.environment")?["maxProperties"] as? Int) == ServiceSpec.maxEnvironment)
        #expect(((Self.property("Spec.arguments")?["items"] as? [String: Any])?["maxLength"] as? Int) == ServiceSpec.maxTextBytes)
    }
}
