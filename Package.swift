// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "FusionLab",
    products: [
        .library(name: "FusionTensor", targets: ["FusionTensor"]),
        .library(name: "FusionInt8", targets: ["FusionInt8"]),
        .library(name: "FusionNN", targets: ["FusionNN"]),
        .library(name: "FusionMPI", targets: ["FusionMPI"]),
        .library(name: "FusionOptim", targets: ["FusionOptim"]),
        .library(name: "FusionCore", targets: ["FusionCore"]),
        .library(name: "FusionMedia", targets: ["FusionMedia"]),
        .library(name: "FusionData", targets: ["FusionData"]),
        .library(name: "FusionModels", targets: ["FusionModels"]),
        .library(name: "FusionReports", targets: ["FusionReports"]),
        .library(name: "FusionConfig", targets: ["FusionConfig"]),
        .library(name: "FusionTraining", targets: ["FusionTraining"]),
        .library(name: "FusionDeploy", targets: ["FusionDeploy"]),
        .library(name: "FusionExperiments", targets: ["FusionExperiments"]),
        .library(name: "FusionServe", targets: ["FusionServe"]),
        .executable(name: "fusionlab", targets: ["fusionlab"]),
        .executable(name: "fusionlab-bench", targets: ["fusionlab-bench"]),
        .executable(name: "fusionlab-fuzz", targets: ["fusionlab-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        // `fusionlab serve`: HTTP on Hummingbird 2 (its optional swift-configuration support
        // off), metrics in Prometheus's text format.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // MARK: - System library shims
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(name: "CFusionSystem"),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CSndFile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        .systemLibrary(name: "CSoxr", pkgConfig: "soxr", providers: [.apt(["libsoxr-dev"])]),
        .systemLibrary(name: "CAVUtil", pkgConfig: "libavutil", providers: [.apt(["libavutil-dev"])]),
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"])]),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),

        // MARK: - Numeric core
        // Hand-vectorised C kernels, one binary for every x86-64 CPU: AVX-512 / AVX2 variants chosen at start-up.
        .target(name: "CFusionKernels"),
        .target(name: "FusionTensor", dependencies: ["CBLAS", "CFusionSystem", "CFusionKernels"]),
        .target(name: "FusionNN", dependencies: ["FusionTensor"]),
        .target(name: "FusionOptim", dependencies: ["FusionTensor"]),

        // Open MPI: who this process is in an mpirun job, and the collectives
        .target(name: "FusionMPI", dependencies: ["CMPI"]),

        // MARK: - Shared vocabulary: modalities, splits, the batch type
        .target(name: "FusionCore", dependencies: ["FusionTensor"]),

        // MARK: - Modality front ends
        // Decoders and signal front ends: PNG/JPEG, audio files, image transforms, MFCC, augmentation, corruptions.
        .target(name: "FusionMedia", dependencies: ["FusionCore", "FusionTensor", "CPNG", "CTurboJPEG", "CSndFile", "CSoxr", "CAVUtil"]),
        // Dataset folders, importers, feature caches, tokenizers, batches (re-exports FusionMedia).
        .target(name: "FusionData", dependencies: ["FusionMedia", "FusionCore", "FusionTensor"]),

        // MARK: - Models (no codec libraries: inputs arrive as FusionCore batches)
        .target(name: "FusionModels", dependencies: ["FusionCore", "FusionTensor", "FusionNN"]),

        // MARK: - int8 inference
        // Kernels on oneDNN (the library PyTorch's x86 quantized backend uses), the quantized layers
        // swapped in for Linear and Conv2d, calibration, int8 checkpoints and compiled int8 stacks.
        // Float models do not link it.
        .target(name: "FusionInt8", dependencies: ["FusionTensor", "FusionNN", "FusionModels", "CDNNL"]),

        // MARK: - Reports: metrics, comparison tables, notebooks, SVG, TensorBoard
        .target(name: "FusionReports", dependencies: ["FusionCore"]),

        // MARK: - Experiments
        // The experiment format: typed configuration, loader, schema, validation. Knows no trainer.
        .target(name: "FusionConfig", dependencies: ["FusionCore", "FusionTensor", "FusionNN", "FusionData", "FusionModels", "FusionReports"]),
        // Training: runs and their folders, the trainer, data plumbing, transfer, distillation, resume.
        .target(
            name: "FusionTraining",
            dependencies: [
                "FusionConfig", "FusionCore", "FusionTensor", "FusionNN", "FusionInt8", "FusionOptim", "FusionData", "FusionModels", "FusionReports",
                "FusionMPI", .product(name: "Logging", package: "swift-log"),
            ],
            plugins: ["BuildInfo"]
        ),
        // Export and deployment: ONNX, feature export, prediction for serving.
        .target(name: "FusionDeploy", dependencies: ["FusionConfig", "FusionCore", "FusionTraining", "FusionTensor", "FusionNN", "FusionInt8", "FusionData", "FusionModels", "FusionReports"]),
        // The studies above them: compare, sweep, ensemble, robustness, update, compress, notebooks.
        .target(
            name: "FusionExperiments",
            dependencies: [
                "FusionConfig", "FusionCore", "FusionTraining", "FusionDeploy",
                "FusionTensor", "FusionNN", "FusionInt8", "FusionOptim", "FusionData", "FusionModels", "FusionReports", "FusionMPI",
            ]
        ),
        // The inference server (`fusionlab serve`)
        .target(
            name: "FusionServe",
            dependencies: [
                "FusionExperiments", "FusionData",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The version and git commit, built into the binaries.
        .plugin(name: "BuildInfo", capability: .buildTool(), path: "Plugins/BuildInfo"),

        // MARK: - Executables
        .executableTarget(
            name: "fusionlab",
            dependencies: [
                "FusionCore", "FusionTensor", "FusionNN", "FusionOptim", "FusionModels", "FusionData", "FusionExperiments", "FusionMPI", "FusionServe",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "fusionlab-bench",
            dependencies: ["FusionCore", "FusionTensor", "FusionInt8", "FusionNN", "FusionOptim", "FusionModels", "FusionData", "CBLAS", "CFusionKernels"],
            path: "Benchmarks/Sources/fusionlab-bench"
        ),
        // Fuzz harnesses for every reader of untrusted input (scripts/fuzz.sh builds them with
        // libFuzzer and AddressSanitizer; an ordinary build replays inputs).
        .systemLibrary(name: "CFuzzer", path: "Fuzz/Sources/CFuzzer"),
        .executableTarget(
            name: "fusionlab-fuzz",
            dependencies: ["FusionTensor", "FusionNN", "FusionModels", "FusionData", "FusionExperiments", "CFuzzer"],
            path: "Fuzz/Sources/fusionlab-fuzz"
        ),

        // MARK: - Tests
        .target(name: "FusionTestSupport", dependencies: ["FusionTensor"], path: "Tests/FusionTestSupport"),
        // One test target per module; FusionTestSupport holds the shared checks and the
        // command-line test helpers (the end-to-end tests run the built `fusionlab`).
        .testTarget(name: "FusionTensorTests", dependencies: ["FusionTensor", "CFusionKernels", "FusionTestSupport"]),
        .testTarget(name: "FusionCoreTests", dependencies: ["FusionCore", "FusionTensor", "FusionTestSupport"]),
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
        .testTarget(name: "FusionMPITests", dependencies: ["FusionMPI", "FusionTestSupport"]),
        .testTarget(name: "FusionMediaTests", dependencies: ["FusionMedia", "FusionData", "FusionCore", "FusionTensor", "FusionTestSupport"],
                    resources: [.copy("Golden")]),
        .testTarget(name: "FusionDataTests", dependencies: ["FusionData", "FusionTensor", "FusionTestSupport"],
                    resources: [.copy("Golden")]),
        .testTarget(
            name: "FusionModelsTests",
            dependencies: ["FusionModels", "FusionCore", "FusionData", "FusionOptim", "FusionNN", "FusionTensor", "FusionTestSupport"],
            resources: [.copy("Golden")]
        ),
        .testTarget(name: "FusionInt8Tests", dependencies: ["FusionInt8", "FusionCore", "FusionModels", "FusionNN", "FusionTensor", "FusionTestSupport"]),
        .testTarget(name: "FusionReportsTests", dependencies: ["FusionReports", "FusionCore", "FusionTestSupport"], resources: [.copy("Golden")]),
        .testTarget(
            name: "FusionConfigTests",
            dependencies: ["FusionConfig", "FusionModels", "FusionData", "FusionNN", "FusionTensor", "FusionTestSupport"],
            resources: [.copy("Golden")]
        ),
        .testTarget(name: "FusionTrainingTests", dependencies: ["FusionTraining", "FusionConfig", "FusionReports", "FusionData", "FusionCore", "FusionTensor", "FusionTestSupport"]),
        .testTarget(name: "FusionDeployTests", dependencies: ["FusionDeploy", "FusionTestSupport"]),
        .testTarget(name: "FusionExperimentsTests", dependencies: ["FusionExperiments", "FusionReports", "FusionInt8", "FusionNN", "FusionTestSupport"]),
        .testTarget(name: "FusionServeTests", dependencies: ["FusionServe", "FusionTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)
