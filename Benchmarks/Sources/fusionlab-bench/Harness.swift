import Foundation

/// One measured number, printed as a JSON line with the keys every FusionLab benchmark shares.
struct Measurement {
    let workload: String
    let threads: Int
    let metric: String
    let value: Double

    var json: String {
        let object: [String: Any] = ["workload": workload, "system": "fusionlab", "threads": threads, "metric": metric, "value": value]
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}

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

/// The process's peak resident set size in MiB.
func peakRSSMiB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}
