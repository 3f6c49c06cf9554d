import FusionCore
import FusionReports
import FusionConfig
import Foundation
import FusionData
import FusionMPI

/// Whole runs handed to the ranks of an mpirun job (`mpirun -np N fusionlab compare|sweep …`):
/// each rank claims the next job nobody has claimed (an exclusively created file in the shared
/// job folder), so uneven run lengths balance, trains it alone (no batch splitting) and writes
/// its result as JSON beside the claim. After a barrier every rank reads all results back in
/// job order, so the report equals the one-process command's.
package enum JobQueue {
    /// The folder every rank uses: rank 0 makes `make()`'s folder, the others learn its path.
    package static func sharedFolder(_ make: () throws -> String) throws -> String {
        let path = Distributed.rank == 0 ? try make() : ""
        return Distributed.broadcast(path)
    }

    /// Creates `base`, or `base-2`, `base-3`… when a job started in the same second has it.
    package static func newFolder(_ base: String) throws -> String {
        try FileManager.default.createDirectory(atPath: (base as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        var path = base, n = 2
        while mkdir(path, 0o755) != 0 {
            guard errno == EEXIST else { throw ExperimentError("\(path): cannot create the folder (\(String(cString: strerror(errno))))") }
            path = "\(base)-\(n)"; n += 1
        }
        return path
    }

    /// Runs jobs `0..<count` across the ranks; `job(i)` returns job i's result. Returns every
    /// job's result, in job order, on every rank.
    package static func run(count: Int, folder: String, log: (String) -> Void, job: (Int) throws -> [String: Any]) throws -> [[String: Any]] {
        let queue = folder + "/.jobs"
        if Distributed.rank == 0 { try FileManager.default.createDirectory(atPath: queue, withIntermediateDirectories: true) }
        Distributed.barrier()
        let wasParallel = Distributed.dataParallel
        Distributed.dataParallel = false
        defer { Distributed.dataParallel = wasParallel }
        for i in 0..<count where claim(queue + "/\(i).claim") {
            log("rank \(Distributed.rank) of \(Distributed.size): job \(i + 1)/\(count)")
            let result = try job(i)
            let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
            try writeFileAtomically(data, to: queue + "/\(i).json")
        }
        Distributed.barrier()
        return try (0..<count).map { i in
            let path = queue + "/\(i).json"
            guard let data = try? FileIO.read(path), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw ExperimentError("\(path): job \(i)'s result is missing or unreadable (is the folder shared by every rank?)")
            }
            return object.merging(["job_file": path]) { a, _ in a }
        }
    }

    /// Whether this rank created the claim file (and so owns the job).
    static func claim(_ path: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { return false }
        close(fd)
        return true
    }

    /// A run's result as JSON.
    package static func json(_ r: RunResult) throws -> [String: Any] {
        let test = try JSONSerialization.jsonObject(with: try r.test.jsonData())
        return ["directory": r.directory, "test": test, "best_validation": r.bestValidation.isFinite ? r.bestValidation : NSNull(),
                "best_epoch": r.bestEpoch, "parameters": r.parameters, "train_seconds": r.trainSeconds]
    }

    /// A run's result read back (history is not carried: the run folder has it).
    package static func result(_ object: [String: Any]) throws -> RunResult {
        guard let directory = object["directory"] as? String, let test = object["test"] else {
            throw ExperimentError("\(object["job_file"] as? String ?? "a job result"): no run folder or test metrics in the job's result")
        }
        let metrics = try ClassificationMetrics.decode(try JSONSerialization.data(withJSONObject: test), path: directory + " (job result)")
        return RunResult(directory: directory, test: metrics, bestValidation: object["best_validation"] as? Double ?? .nan,
                         bestEpoch: object["best_epoch"] as? Int ?? 0, parameters: object["parameters"] as? Int ?? 0,
                         trainSeconds: object["train_seconds"] as? Double ?? 0, history: [])
    }
}
