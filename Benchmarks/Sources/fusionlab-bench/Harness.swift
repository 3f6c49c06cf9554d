import Foundation
import FusionTensor

/// One measured number, printed as a JSON line with the keys every FusionLab benchmark shares.
struct Measurement {
    let workload: String
    let threads: Int
    let metric: String
    let value: Double

    var json: String {
        let object: [String: Any] = ["workload": workload, "system": "fusionlab", "threads": threads, "metric": metric, "value": value,
                                     "machine": ["cpu": machineCPU, "kernels": KernelISA.current, "openblas": BLASCore.name]]
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

/// The CPU's model name (/proc/cpuinfo), recorded with every measurement.
let machineCPU: String = {
    guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
          let colon = line.firstIndex(of: ":") else { return "unknown" }
    return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
}()

/// Settings every workload receives.
struct BenchOptions {
    var threads = 1
    var json = false
    /// Input paths given on the command line (`--dir`, `--corpus`, `--vocab`), by flag.
    var paths: [String: String] = [:]
}

/// Seconds since an arbitrary origin, monotonic.
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Mean seconds per call of `body` over `iterations` calls, after one untimed call.
func secondsPerCall(_ iterations: Int, _ body: () -> Void) -> Double {
    body()
    let start = now()
    for _ in 0..<iterations { body() }
    return (now() - start) / Double(iterations)
}

/// The middle of `values` (the upper middle for an even count): how the benchmarks that time
/// alternating rounds report them.
func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

/// The process's peak resident set size in MiB.
func peakRSSMiB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}
