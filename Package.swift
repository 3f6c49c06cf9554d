// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "FusionLab",
    products: [
        .library(name: "FusionTensor", targets: ["FusionTensor"]),
        .library(name: "FusionNN", targets: ["FusionNN"]),
        .library(name: "FusionOptim", targets: ["FusionOptim"]),
        .library(name: "FusionModels", targets: ["FusionModels"]),
        .executable(name: "fusionlab", targets: ["fusionlab"]),
        .executable(name: "fusionlab-bench", targets: ["fusionlab-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: - System library shims
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(name: "CSystem"),

        // MARK: - Numeric core
        .target(name: "FusionTensor", dependencies: ["CBLAS", "CSystem"]),
        .target(name: "FusionNN", dependencies: ["FusionTensor"]),
        .target(name: "FusionOptim", dependencies: ["FusionTensor", "FusionNN"]),
        .target(name: "FusionModels", dependencies: ["FusionTensor", "FusionNN"]),

        // MARK: - Executables
        .executableTarget(
            name: "fusionlab",
            dependencies: [
                "FusionTensor", "FusionNN", "FusionOptim", "FusionModels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "fusionlab-bench",
            dependencies: ["FusionTensor", "FusionNN", "FusionOptim", "FusionModels", "CBLAS"],
            path: "Benchmarks/Sources/fusionlab-bench"
        ),

        // MARK: - Tests
        .target(name: "FusionTestSupport", dependencies: ["FusionTensor"], path: "Tests/FusionTestSupport"),
        .testTarget(name: "FusionTensorTests", dependencies: ["FusionTensor", "FusionTestSupport"]),
        .testTarget(
            name: "FusionNNTests",
            dependencies: ["FusionNN", "FusionTensor", "FusionTestSupport"],
            resources: [.copy("Golden")]
        ),
        .testTarget(
            name: "FusionModelsTests",
            dependencies: ["FusionModels", "FusionOptim", "FusionNN", "FusionTensor", "FusionTestSupport"]
        ),
        .testTarget(
            name: "FusionOptimTests",
            dependencies: ["FusionOptim", "FusionNN", "FusionTensor", "FusionTestSupport"],
            resources: [.copy("Golden")]
        ),
    ],
    swiftLanguageModes: [.v5]
)
