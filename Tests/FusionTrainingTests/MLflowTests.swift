import Foundation
import FusionReports
import FusionTestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `--mlflow`: a real `mlflow server` on loopback, a run trained through the binary, and the
/// run read back through MLflow's own Python client (scripts/check_mlflow.py).
final class MLflowTests: XCTestCase, CommandLineTesting {
    nonisolated(unsafe) static var workspace = makeWorkspace("mlflow")
    override class func tearDown() { removeWorkspace(); super.tearDown() }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let tools = root.appendingPathComponent(".build/mlflow-python").path

    /// A TCP port on 127.0.0.1 that nothing listens on now.
    func unusedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw XCTSkip("cannot bind a loopback socket") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    func testRunsAreLoggedToARealMLflowServerAndReadBackByItsClient() throws {
        guard FileManager.default.fileExists(atPath: Self.tools + "/mlflow") else {
            throw XCTSkip("mlflow not found in \(Self.tools) (scripts/fetch-python-tools.sh mlflow mlflow==3.17.2): the MLflow test is skipped")
        }
        // Refused before anything runs: not a server URI, and no server there.
        let experiment = tinyExperiment("tracked")
        let closed = try unusedPort()
        let notHTTP = try fusionlab(["run", experiment, "--mlflow", "mlruns", "--quiet"])
        XCTAssertEqual(notHTTP.status, 1)
        XCTAssertTrue(notHTTP.err.contains("--mlflow: expected the URI of a tracking server"), notHTTP.err)
        let nobody = try fusionlab(["run", experiment, "--mlflow", "http://127.0.0.1:\(closed)", "--quiet"])
        XCTAssertEqual(nobody.status, 1)
        XCTAssertTrue(nobody.err.contains("no tracking server answers"), nobody.err)
        XCTAssertTrue(runDirectories("tracked").isEmpty, "no run folder before the server is known to answer")

        // A real server: SQLite store, artifacts served by the server (mlflow server's default).
        let port = try unusedPort()
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let data = Self.workspace.appendingPathComponent("mlflow").path
        server.arguments = ["python3", "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", "\(port)", "--workers", "1",
                            "--backend-store-uri", "sqlite:///\(data)/db.sqlite", "--artifacts-destination", "\(data)/artifacts"]
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONPATH"] = Self.tools
        server.environment = environment
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let log = FileHandle(forWritingAtPath: "/dev/null")
        server.standardOutput = log
        server.standardError = log
        try server.run()
        defer {
            // uvicorn's workers are children of the server: stop the whole process group's leader first.
            server.terminate()
            server.waitUntilExit()
        }
        let uri = "http://127.0.0.1:\(port)"
        let client = try MLflowClient(uri)
        let deadline = Date().addingTimeInterval(120)
        while (try? client.call("GET", "health")) == nil {
            guard Date() < deadline, server.isRunning else { return XCTFail("mlflow server did not answer on \(uri) within 120 s") }
            Thread.sleep(forTimeInterval: 0.5)
        }

        let result = try fusionlab(["run", experiment, "--mlflow", uri, "--set", "training.lr=0.004"])
        XCTAssertEqual(result.status, 0, result.err)
        let folder = try XCTUnwrap(runDirectories("tracked").first)
        let manifest = try json(folder + "/manifest.json")
        let link = try XCTUnwrap(manifest["mlflow"] as? [String: Any])
        let metrics = try json(folder + "/metrics.json")

        let read = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", Self.root.path + "/scripts/check_mlflow.py", uri, "tracked"],
                                  environment: environment)
        XCTAssertEqual(read.status, 0, read.err)
        let answer = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(read.out.utf8)) as? [String: Any])
        let runs = try XCTUnwrap(answer["runs"] as? [[String: Any]])
        XCTAssertEqual(runs.count, 1)
        let run = try XCTUnwrap(runs.first)
        XCTAssertEqual(run["run_id"] as? String, link["run_id"] as? String, "manifest.json names the MLflow run")
        XCTAssertEqual(run["status"] as? String, "FINISHED")
        XCTAssertEqual(run["run_name"] as? String, URL(fileURLWithPath: folder).lastPathComponent)
        // Every key of the resolved experiment is a parameter, the override included.
        let params = try XCTUnwrap(run["params"] as? [String: String])
        XCTAssertEqual(params["model.fusion.kind"], "concat")
        XCTAssertEqual(params["training.lr"], "0.004")
        XCTAssertEqual(params["training.epochs"], "2")
        let tags = try XCTUnwrap(run["tags"] as? [String: String])
        XCTAssertNotNil(tags["fusionlab.version"])
        XCTAssertTrue(tags["fusionlab.command_line"]?.contains("--mlflow \(uri)") == true, "\(tags)")
        XCTAssertEqual(tags["mlflow.source.name"], "fusionlab")
        // Metrics per step, epoch metrics on the same step axis, and the test metrics as in metrics.json.
        let history = try XCTUnwrap(run["metrics"] as? [String: [[Double]]])
        let steps = try XCTUnwrap(history["train/step_loss"]).map { Int($0[0]) }
        XCTAssertEqual(steps, Array(1...max(steps.count, 1)))
        XCTAssertEqual(try XCTUnwrap(history["val/accuracy"]).map { Int($0[0]) }, [steps.count / 2, steps.count])
        let testAccuracy = try XCTUnwrap(history["test/accuracy"]?.first?[1])
        XCTAssertEqual(testAccuracy, try XCTUnwrap(metrics["accuracy"] as? Double), accuracy: 1e-6)
        XCTAssertTrue(history.keys.contains { $0.hasPrefix("lr/") }, "learning rates, names made MLflow-safe: \(history.keys.sorted())")
        // The run's files as artifacts, the final manifest among them.
        let artifacts = try XCTUnwrap(run["artifacts"] as? [String])
        for file in ["config.resolved.json", "manifest.json", "metrics.json", "history.csv", "predictions.csv", "checkpoints/best.safetensors"] {
            XCTAssertTrue(artifacts.contains(file), "\(file) in \(artifacts)")
        }

        // Ctrl-C while logging: exit 130, the MLflow run KILLED; --resume continues the same
        // MLflow run to FINISHED, and no step is logged twice.
        let long = tinyExperiment("tracked-long", epochs: 60, samples: 200)
        let process = Process()
        process.executableURL = executable
        process.arguments = ["run", long, "--quiet", "--mlflow", uri]
        process.currentDirectoryURL = Self.workspace
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let until = Date().addingTimeInterval(120)
        var interrupted: String?
        while Date() < until {
            if let r = runDirectories("tracked-long").last, FileManager.default.fileExists(atPath: r + "/checkpoints/resume.safetensors") {
                interrupted = r
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let longRun = try XCTUnwrap(interrupted, "no epoch finished in time")
        Thread.sleep(forTimeInterval: 0.3)  // into a later epoch, while points are buffered
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 130, "an interrupt, not a crash")
        func readBack(_ experiment: String) throws -> [String: Any] {
            let read = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", Self.root.path + "/scripts/check_mlflow.py", uri, experiment],
                                      environment: environment)
            XCTAssertEqual(read.status, 0, read.err)
            let answer = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(read.out.utf8)) as? [String: Any])
            return try XCTUnwrap((answer["runs"] as? [[String: Any]])?.first)
        }
        XCTAssertEqual(try readBack("tracked-long")["status"] as? String, "KILLED")
        let resumed = try fusionlab(["run", "--resume", longRun, "--quiet", "--mlflow", uri])
        XCTAssertEqual(resumed.status, 0, resumed.err)
        let again = try readBack("tracked-long")
        XCTAssertEqual(again["run_id"] as? String, (try json(longRun + "/manifest.json")["mlflow"] as? [String: Any])?["run_id"] as? String)
        XCTAssertEqual(again["status"] as? String, "FINISHED")
        let stepsLogged = try XCTUnwrap((again["metrics"] as? [String: [[Double]]])?["train/step_loss"]).map { Int($0[0]) }.sorted()
        XCTAssertEqual(stepsLogged, Array(1...max(stepsLogged.count, 1)), "each step once across the interrupt")
        XCTAssertEqual(stepsLogged.count % 60, 0, "every epoch's steps")
    }
}
