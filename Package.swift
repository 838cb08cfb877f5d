// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "drover",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "DroverCore", targets: ["DroverCore"]),
        .library(name: "DroverSystemd", targets: ["DroverSystemd"]),
        .executable(name: "drover-bench", targets: ["drover-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // libsystemd (sd-bus, sd-daemon, sd-journal) as a system library: Debian's libsystemd-dev.
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),

        // The pure core: names, model and planners. No I/O, no systemd, no HTTP.
        .target(name: "DroverCore"),

        // The adapter to systemd: sd-bus Manager client, sd_notify, sd-journal.
        .target(
            name: "DroverSystemd",
            dependencies: [
                "CSystemd",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),

        // Benchmarks: figures, not pass/fail. `swift run -c release drover-bench systemd`.
        .executableTarget(
            name: "drover-bench",
            dependencies: [
                "DroverSystemd",
                "DroverTestbed",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Test support: a throwaway systemd user manager per suite (also used by the benchmark).
        .target(
            name: "DroverTestbed",
            dependencies: ["DroverSystemd"],
            path: "Tests/DroverTestbed"
        ),
        // A small service that speaks sd_notify, used as the unit under test.
        .executableTarget(
            name: "drover-fixture",
            dependencies: [
                "DroverSystemd",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/DroverFixture"
        ),

        .testTarget(name: "DroverCoreTests", dependencies: ["DroverCore"]),
        .testTarget(
            name: "DroverSystemdTests",
            dependencies: ["DroverSystemd", "DroverTestbed", "drover-fixture"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
