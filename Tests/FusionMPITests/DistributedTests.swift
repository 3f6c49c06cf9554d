import Foundation
import FusionTestSupport
import XCTest

/// `mpirun -np 2 fusionlab …` on real Open MPI processes: data-parallel training equals one
/// process, a killed rank ends the job and `--resume` finishes it, and a comparison spread over
/// ranks reports what one process does. Skipped (with the reason) where Open MPI is missing;
/// `scripts/setup.sh` installs it.
final class DistributedTests: XCTestCase, CommandLineTesting {
    nonisolated(unsafe) static var workspace = makeWorkspace("mpi")
    override class func tearDown() { removeWorkspace(); super.tearDown() }

    /// The mpirun binary, or a skip.
    func mpirunPath() throws -> String {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") {
            let path = "\(dir)/mpirun"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw XCTSkip("mpirun is not installed (scripts/setup.sh installs openmpi-bin)")
    }

    /// `mpirun -np ranks fusionlab arguments…` as a process in the workspace (root allowed, as in CI).
    func mpirunProcess(_ ranks: Int, _ arguments: [String]) throws -> (Process, Pipe, Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try mpirunPath())
        process.arguments = ["-np", "\(ranks)", "--oversubscribe", "--bind-to", "none", executable.path] + arguments
        process.currentDirectoryURL = Self.workspace
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"  // containers without cross-memory attach
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        return (process, out, err)
    }

    @discardableResult
    func mpirun(_ ranks: Int, _ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        let (process, out, err) = try mpirunProcess(ranks, arguments)
        let outData = out.fileHandleForReading.readDataToEndOfFile(), errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
    }

    func historyRows(_ run: String) throws -> [[Double]] {
        try String(contentsOfFile: run + "/history.csv", encoding: .utf8).split(separator: "\n").dropFirst()
            .map { $0.split(separator: ",").prefix(6).compactMap { Double($0) } }
    }

    func assertSameHistory(_ a: String, _ b: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let (x, y) = (try historyRows(a), try historyRows(b))
        XCTAssertEqual(x.count, y.count, file: file, line: line)
        for (r, s) in zip(x, y) {
            for (u, v) in zip(r, s) { XCTAssertEqual(u, v, accuracy: 1e-4 * max(1, abs(u)), "\(r) vs \(s)", file: file, line: line) }
        }
    }

    func testDataParallelTrainingOnTwoRanksEqualsOneProcess() throws {
        _ = try mpirunPath()
        let experiment = tinyExperiment("parallel", epochs: 3)
        XCTAssertEqual(try fusionlab(["run", experiment, "--quiet"]).status, 0)
        let single = try XCTUnwrap(runDirectories("parallel").last)
        let result = try mpirun(2, ["run", experiment])
        XCTAssertEqual(result.status, 0, result.err)
        let folders = runDirectories("parallel")
        XCTAssertEqual(folders.count, 2, "one run folder per job, written by rank 0: \(folders)")
        let parallel = try XCTUnwrap(folders.last)
        XCTAssertEqual(result.out.components(separatedBy: "run directory:").count, 2, "one report per job: \(result.out)")
        try assertSameHistory(single, parallel)
        XCTAssertEqual(try json(parallel + "/metrics.json")["accuracy"] as? Double, try json(single + "/metrics.json")["accuracy"] as? Double)
        XCTAssertEqual(try json(parallel + "/manifest.json")["world_size"] as? Int, 2)
        XCTAssertEqual(try json(parallel + "/manifest.json")["status"] as? String, "finished")
        // A global batch smaller than the world is refused, by name.
        let small = try mpirun(2, ["run", experiment, "--set", "training.batch_size=1"])
        XCTAssertTrue(small.status != 0 && small.err.contains("training.batch_size 1 is smaller than the 2 ranks"), small.err)
    }

    func testAKilledRankEndsTheJobAndResumeOnTwoRanksFinishesIt() throws {
        _ = try mpirunPath()
        let experiment = tinyExperiment("killed", epochs: 30)
        let (process, _, _) = try mpirunProcess(2, ["run", experiment, "--quiet"])
        // Wait for two finished epochs, then kill one rank.
        var run: String?
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            if let r = runDirectories("killed").last, let rows = try? historyRows(r), rows.count >= 2 { run = r; break }
            usleep(50_000)
        }
        let folder = try XCTUnwrap(run, "the job wrote no history")
        let ranks = Process()
        ranks.executableURL = URL(fileURLWithPath: "/usr/bin/pgrep")
        ranks.arguments = ["-P", "\(process.processIdentifier)"]
        let pipe = Pipe()
        ranks.standardOutput = pipe
        try ranks.run()
        ranks.waitUntilExit()
        let children = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n").compactMap { Int32($0) }
        let victim = try XCTUnwrap(children.last, "no rank processes under mpirun")
        kill(victim, SIGKILL)
        let killedAt = Date()
        while process.isRunning && Date().timeIntervalSince(killedAt) < 30 { usleep(50_000) }
        XCTAssertFalse(process.isRunning, "the job did not end after a rank was killed")
        if process.isRunning { process.terminate() }
        XCTAssertLessThan(Date().timeIntervalSince(killedAt), 10)
        XCTAssertNotEqual(process.terminationStatus, 0)
        // Listed as interrupted once rank 0's process is gone (mpirun's SIGTERM, or its death).
        let entry = "killed/" + URL(fileURLWithPath: folder).lastPathComponent + "  killed  interrupted"
        var listed = try fusionlab(["runs", "--failed"])
        for _ in 0..<50 where !listed.out.contains(entry) {
            usleep(100_000)
            listed = try fusionlab(["runs", "--failed"])
        }
        XCTAssertTrue(listed.out.contains(entry), listed.out + listed.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/metrics.json"))

        // Resumed on two ranks, it ends as an uninterrupted two-rank run does.
        let resumed = try mpirun(2, ["run", "--resume", folder, "--quiet"])
        XCTAssertEqual(resumed.status, 0, resumed.err)
        XCTAssertEqual(try json(folder + "/manifest.json")["status"] as? String, "finished")
        XCTAssertEqual(try historyRows(folder).count, 30)
        XCTAssertEqual(try mpirun(2, ["run", experiment, "--quiet"]).status, 0)
        let uninterrupted = try XCTUnwrap(runDirectories("killed").last)
        try assertSameHistory(folder, uninterrupted)
    }

    func testCompareAndSweepAcrossTwoRanksReportWhatOneProcessDoes() throws {
        _ = try mpirunPath()
        let experiment = tinyExperiment("spread", epochs: 2, extra: """
        , "sweep": {"axes": [{"key": "training.lr", "values": [0.01, 0.003, 0.001]}]}
        """)
        XCTAssertEqual(try fusionlab(["compare", experiment, "--quiet"]).status, 0)
        let result = try mpirun(2, ["compare", experiment, "--quiet"])
        XCTAssertEqual(result.status, 0, result.err)
        let folders = runDirectories("spread").filter { $0.contains("compare-") }
        XCTAssertEqual(folders.count, 2)
        let tables = try folders.map { folder in
            try String(contentsOfFile: folder + "/comparison.csv", encoding: .utf8).split(separator: "\n")
                .map { $0.split(separator: ",").prefix(4).joined(separator: ",") }
        }
        XCTAssertEqual(tables[0], tables[1])
        XCTAssertEqual(tables[0].count, 6, "\(tables[0])")  // header, concat, late, three unimodal baselines

        XCTAssertEqual(try fusionlab(["sweep", experiment, "--quiet"]).status, 0)
        let sweep = try mpirun(2, ["sweep", experiment])
        XCTAssertEqual(sweep.status, 0, sweep.err)
        XCTAssertEqual(sweep.out.components(separatedBy: "best (on validation): ").count, 2, "one report: \(sweep.out)")
        let sweeps = runDirectories("spread").filter { $0.contains("sweep-") }
        XCTAssertEqual(sweeps.count, 2)
        let rows = try sweeps.map { folder in
            // trial, settings, validation score (the run folders differ)
            try String(contentsOfFile: folder + "/sweep.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",").prefix(3).joined(separator: ",") }
        }
        XCTAssertEqual(rows[0], rows[1])
        XCTAssertEqual(rows[0].count, 4)
        XCTAssertTrue(FileManager.default.fileExists(atPath: sweeps[1] + "/best.json"))
    }
}
