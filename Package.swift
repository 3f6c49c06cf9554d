// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "FusionLab",
    products: [
        .library(name: "FusionTensor", targets: ["FusionTensor"]),
        .library(name: "FusionNN", targets: ["FusionNN"]),
        .library(name: "FusionOptim", targets: ["FusionOptim"]),
        .executable(name: "fusionlab", targets: ["fusionlab"]),
        .executable(name: "fusionlab-bench", targets: ["fusionlab-bench"]),
    ],
    targets: [
        // MARK: - System library shims
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),

        // MARK: - Numeric core
        .target(name: "FusionTensor", dependencies: ["CBLAS"]),
        .target(name: "FusionNN", dependencies: ["FusionTensor"]),
        .target(name: "FusionOptim", dependencies: ["FusionTensor", "FusionNN"]),

        // MARK: - Executables
        .executableTarget(name: "fusionlab", dependencies: ["FusionTensor", "FusionNN", "FusionOptim"]),
        .executableTarget(
            name: "fusionlab-bench",
            dependencies: ["FusionTensor", "FusionNN", "FusionOptim", "CBLAS"],
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
            name: "FusionOptimTests",
            dependencies: ["FusionOptim", "FusionNN", "FusionTensor", "FusionTestSupport"],
            resources: [.copy("Golden")]
        ),
    ],
    swiftLanguageModes: [.v5]
)
