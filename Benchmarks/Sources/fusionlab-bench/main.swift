import Foundation
import FusionTensor

// fusionlab-bench <workload> [--threads N] [--json]
// The FusionLab side of the side-by-side benchmarks; Benchmarks/run.sh runs it beside the peers.

let workloads: [String: (BenchOptions) -> [Measurement]] = [
    "train-reference": trainReference,
    "gemm-efficiency": gemmEfficiency,
    "conv-gemm": convGEMMBenchmark,
    "fusion-cost": fusionCost,
    "gru": recurrentBenchmark,
    "png-decode": pngDecodeBenchmark,
    "mfcc": mfccBenchmark,
    "wordpiece": wordpieceBenchmark,
    "feature-cache": featureCacheBenchmark,
    "int8-layers": int8Layers,
    "depthwise": depthwiseBenchmark,
    "efficientnet": efficientNetBenchmark,
]

@MainActor func usage() -> String {
    "usage: fusionlab-bench <workload> [--threads N] [--json] [--dir DIR] [--corpus FILE --vocab FILE]\nworkloads: \(workloads.keys.sorted().joined(separator: ", "))"
}

var arguments = Array(CommandLine.arguments.dropFirst())
var options = BenchOptions()
var selected: [String] = []
while !arguments.isEmpty {
    let arg = arguments.removeFirst()
    switch arg {
    case "--json": options.json = true
    case "--dir", "--corpus", "--vocab":
        guard let value = arguments.first else {
            FileHandle.standardError.write(Data("\(arg) expects a path\n\(usage())\n".utf8))
            exit(2)
        }
        arguments.removeFirst()
        options.paths[arg] = value
    case "--threads":
        guard let value = arguments.first.flatMap({ Int($0) }), value >= 1 else {
            FileHandle.standardError.write(Data("--threads expects a positive integer\n\(usage())\n".utf8))
            exit(2)
        }
        arguments.removeFirst()
        options.threads = value
    case "-h", "--help":
        print(usage())
        exit(0)
    default:
        guard workloads[arg] != nil else {
            FileHandle.standardError.write(Data("unknown workload \"\(arg)\"\n\(usage())\n".utf8))
            exit(2)
        }
        selected.append(arg)
    }
}
if selected.isEmpty {
    FileHandle.standardError.write(Data("\(usage())\n".utf8))
    exit(2)
}
BLASCore.restartWithBetterCoreIfNeeded()
Threading.setThreads(options.threads)
if !options.json { print("machine: \(machineCPU), kernels \(KernelISA.current), OpenBLAS \(BLASCore.name)") }
for name in selected {
    guard let run = workloads[name] else { continue }
    for m in run(options) {
        print(options.json ? m.json : "\(m.workload)  threads=\(m.threads)  \(m.metric) = \(String(format: "%.2f", m.value))")
    }
}
