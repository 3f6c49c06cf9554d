// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "FusionLab",
    products: [
        .library(name: "FusionTensor", targets: ["FusionTensor"]),
        .library(name: "FusionNN", targets: ["FusionNN"]),
        .library(name: "FusionOptim", targets: ["FusionOptim"]),
        .library(name: "FusionData", targets: ["FusionData"]),
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
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CSndFile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(name: "CSoxr", pkgConfig: "soxr", providers: [.apt(["libsoxr-dev"])]),
        .systemLibrary(name: "CKissFFT", providers: [.apt(["libkissfft-dev"])]),  // its .pc passes -D flags SwiftPM refuses

        // MARK: - Numeric core
        .target(name: "FusionTensor", dependencies: ["CBLAS"]),
        .target(name: "FusionNN", dependencies: ["FusionTensor"]),
        .target(name: "FusionOptim", dependencies: ["FusionTensor", "FusionNN"]),

        // MARK: - Modality front ends
        .target(name: "FusionData", dependencies: ["FusionTensor", "CPNG", "CSndFile", "CSoxr", "CKissFFT"]),

        // MARK: - Executables
        .executableTarget(name: "fusionlab", dependencies: ["FusionTensor", "FusionNN", "FusionOptim"]),
        .executableTarget(
            name: "fusionlab-bench",
            dependencies: ["FusionTensor", "FusionNN", "FusionOptim", "CBLAS"],
            path: "Benchmarks/Sources/fusionlab-bench"
        ),

        // MARK: - Tests
        .testTarget(name: "FusionTensorTests", dependencies: ["FusionTensor"]),
        .testTarget(
            name: "FusionNNTests",
            dependencies: ["FusionNN", "FusionTensor"],
            resources: [.copy("Golden")]
        ),
        .testTarget(name: "FusionOptimTests", dependencies: ["FusionOptim", "FusionNN", "FusionTensor"],
                    resources: [.copy("Golden")]),
        .testTarget(name: "FusionDataTests", dependencies: ["FusionData", "FusionTensor"],
                    resources: [.copy("Golden")]),
    ],
    swiftLanguageModes: [.v5]
)
