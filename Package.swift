// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "drover",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "DroverCore", targets: ["DroverCore"]),
        .library(name: "DroverSystemd", targets: ["DroverSystemd"]),
        .library(name: "DroverClient", targets: ["DroverClient"]),
        .executable(name: "drover-agent", targets: ["drover-agent"]),
        .executable(name: "drover", targets: ["drover"]),
        .executable(name: "drover-bench", targets: ["drover-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        // libsystemd (sd-bus, sd-daemon, sd-journal) as a system library: Debian's libsystemd-dev.
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),

        // libarchive as a system library: Debian's libarchive-dev.
        .systemLibrary(
            name: "CArchive",
            pkgConfig: "libarchive",
            providers: [.apt(["libarchive-dev"])]
        ),

        // The pure core: names, model and planners. No I/O, no systemd, no HTTP.
        .target(name: "DroverCore"),

        // Wire types of the agent API, shared by the agent and its clients (the CLI, tests).
        // openapi.json is compiled in (embedInCode): the agent serves it, with no resource bundle to install.
        .target(name: "DroverAPI", dependencies: ["DroverCore", .product(name: "Crypto", package: "swift-crypto")],
                resources: [.embedInCode("openapi.json")]),

        // The typed client of the agent API, shared by the CLI, the benchmarks and the tests.
        .target(
            name: "DroverClient",
            dependencies: [
                "DroverCore", "DroverAPI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ]
        ),

        // TOML read key by key, every mistake with its file, line and key: the CLI's manifests
        // and inventory, and the agent's configuration file.
        .target(name: "DroverTOML", dependencies: ["DroverCore", .product(name: "TOMLKit", package: "TOMLKit")]),

        // The `drover` CLI as a library: manifests, inventory, commands, output. Tests call it.
        .target(
            name: "DroverCLI",
            dependencies: [
                "DroverCore", "DroverAPI", "DroverClient", "DroverTOML",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .executableTarget(name: "drover", dependencies: ["DroverCLI"]),

        // The per-host agent: HTTP API, state store, release store, instances.
        .target(
            name: "DroverAgent",
            dependencies: [
                "DroverCore", "DroverAPI", "DroverSystemd", "DroverTOML", "CArchive",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "drover-agent",
            dependencies: [
                "DroverAgent",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

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
                "DroverAPI",
                "DroverTestbed",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),

        // Test support: a throwaway systemd user manager per suite (also used by the benchmark).
        .target(
            name: "DroverTestbed",
            dependencies: ["DroverSystemd", "DroverCore", .product(name: "AsyncHTTPClient", package: "async-http-client")],
            path: "Tests/DroverTestbed"
        ),
        // libFuzzer targets over every parser and decoder of outside input (Tests/run.sh fuzz
        // TARGET SECONDS builds it with -sanitize=fuzzer,address); in the ordinary build, a
        // program that replays the committed corpora, which a test runs.
        .executableTarget(
            name: "drover-fuzz",
            dependencies: ["DroverCore", "DroverAPI", "DroverCLI", "DroverAgent", "DroverTestbed"],
            path: "Tests/DroverFuzz",
            exclude: ["Corpus"]
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

        .testTarget(name: "DroverCoreTests", dependencies: ["DroverCore", "DroverTestbed"]),
        .testTarget(name: "DroverCLITests", dependencies: ["DroverCLI", "DroverClient", "DroverCore", "DroverTOML"]),
        .testTarget(
            name: "DroverAgentTests",
            dependencies: [
                "DroverAgent", "DroverAPI", "DroverClient", "DroverSystemd", "DroverTestbed", "drover-fixture", "drover-agent", "drover", "drover-fuzz",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "DroverSystemdTests",
            dependencies: ["DroverSystemd", "DroverTestbed", "drover-fixture"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
