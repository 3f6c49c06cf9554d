import Foundation
import FusionData
import FusionReports
import FusionTensor
import FusionTestSupport
import FusionTraining
import XCTest

/// `fusionlab run` on tiny generated datasets: run folders, status, resume, threads, caches,
/// divergence, distillation.
final class RunTests: XCTestCase, CommandLineTesting {
    nonisolated(unsafe) static var workspace = makeWorkspace("run")
    override class func tearDown() { removeWorkspace(); super.tearDown() }

    func testAugmentationWithTheSameSeedGivesTheSameLosses() throws {
        // Augmented batches are copied out of live tensors: the same seed gives the same losses, finite.
        var losses: [[String]] = []
        for _ in 0..<2 {
            let result = try fusionlab(["run", tinyExperiment("augment"), "--quiet", "--set", "preprocessing.image.augment.flip=0.5",
                                        "--set", "preprocessing.image.augment.noise=0.1", "--set", "preprocessing.audio.time_masks=1",
                                        "--set", "preprocessing.audio.max_time_width=2"])
            XCTAssertEqual(result.status, 0, result.err)
            let run = try XCTUnwrap(runDirectories("augment").last)
            let rows = try String(contentsOfFile: "\(run)/history.csv", encoding: .utf8).split(separator: "\n").dropFirst()
            losses.append(rows.map { String($0.split(separator: ",")[1]) })
        }
        XCTAssertEqual(losses[0], losses[1])
        XCTAssertTrue(losses[0].allSatisfy { Double($0).map { $0.isFinite && $0 < 10 } ?? false }, "\(losses[0])")
    }

    func testRunsRecordTheirStatusAndTransferTakesTheLatestFinishedRun() throws {
        let experiment = tinyExperiment("pre")
        XCTAssertEqual(try fusionlab(["run", experiment, "--quiet"]).status, 0)
        let finished = try XCTUnwrap(runDirectories("pre").last)
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: finished + "/manifest.json"))) as? [String: Any]
        XCTAssertEqual(manifest?["status"] as? String, "finished")
        // A newer run that was killed mid-training: a best checkpoint, no metrics, a dead process.
        let killed = (finished as NSString).deletingLastPathComponent + "/99999999-999999-killed"
        try FileManager.default.copyItem(atPath: finished, toPath: killed)
        try FileManager.default.removeItem(atPath: killed + "/metrics.json")
        var stale = manifest ?? [:]
        (stale["status"], stale["pid"]) = ("running", 999_999_999)
        try JSONSerialization.data(withJSONObject: stale).write(to: URL(fileURLWithPath: killed + "/manifest.json"))
        let checkpoint = try Transfer.resolveCheckpoint(Self.workspace.appendingPathComponent(experiment).path,
                                                        runsRoot: Self.workspace.appendingPathComponent("runs").path)
        XCTAssertEqual(checkpoint, finished + "/checkpoints/best.safetensors", "the killed run is never picked")
        // Commands that read a run's final model refuse the killed one, naming its status.
        for command in [["evaluate", killed], ["predict", killed, "--text", "a photo"], ["export", "onnx", killed, "-o", "killed.onnx"]] {
            let refused = try fusionlab(command)
            XCTAssertTrue(refused.status != 0 && refused.err.contains("not finished"), "\(command): \(refused.err)")
        }
        let listed = try fusionlab(["runs", "--failed"])
        XCTAssertTrue(listed.out.split(separator: "\n").contains { $0.contains("99999999-999999-killed") && $0.hasSuffix("interrupted  ") }, listed.out)
        XCTAssertFalse(listed.out.contains(finished), listed.out)
        let removed = try fusionlab(["runs", "--remove-failed"])
        XCTAssertTrue(removed.out.contains("removed"), removed.out)
        XCTAssertFalse(FileManager.default.fileExists(atPath: killed))
        XCTAssertTrue(FileManager.default.fileExists(atPath: finished))
    }

    func testCtrlCDuringTrainingRecordsAnInterruptedRunThatResumes() throws {
        let experiment = tinyExperiment("interrupt", epochs: 400, samples: 200)
        let process = Process()
        process.executableURL = executable
        process.arguments = ["run", experiment, "--quiet"]
        process.currentDirectoryURL = Self.workspace
        process.standardOutput = FileHandle.nullDevice
        let stderr = Pipe()
        process.standardError = stderr
        try process.run()
        // Wait for the first finished epoch (its checkpoint), then press Ctrl-C.
        let deadline = Date().addingTimeInterval(120)
        var run: String?
        while Date() < deadline {
            if let r = runDirectories("interrupt").last, FileManager.default.fileExists(atPath: r + "/checkpoints/resume.safetensors") { run = r; break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        let folder = try XCTUnwrap(run, "no epoch finished in time")
        kill(process.processIdentifier, SIGINT)
        let said = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 128 + SIGINT)
        // It says where it stopped and the command that continues it.
        XCTAssertTrue(said.contains("interrupted at epoch ") && said.contains("resume with: fusionlab run --resume ") && said.contains(URL(fileURLWithPath: folder).lastPathComponent), said)
        let manifest = try XCTUnwrap(RunManifest.read(folder + "/manifest.json"))
        XCTAssertEqual(manifest.status, .interrupted)
        XCTAssertEqual(manifest.error, "interrupted by SIGINT")
        XCTAssertNotNil(manifest.ended)
        XCTAssertEqual(try RunDirectory.open(folder).status, .interrupted)
        // The interrupted run is listed with --failed and refused as a final model.
        XCTAssertTrue(try fusionlab(["runs", "--failed"]).out.split(separator: "\n")
            .contains { $0.contains(URL(fileURLWithPath: folder).lastPathComponent) && $0.contains("  interrupted") })
        XCTAssertTrue(try fusionlab(["evaluate", folder]).err.contains("the run is interrupted, not finished"))
        try FileManager.default.removeItem(atPath: folder)
    }

    func testManifestsReadTypedAndOldOnesStillRead() throws {
        // A manifest of an older run: unknown keys and an unknown status, no machine.
        let path = Self.workspace.appendingPathComponent("old-manifest.json").path
        try Data(#"{"experiment": "x", "seed": 3, "status": "paused", "samples": {"train": 5}, "something_new": [1, 2]}"#.utf8)
            .write(to: URL(fileURLWithPath: path))
        let old = try XCTUnwrap(RunManifest.read(path))
        XCTAssertEqual(old.experiment, "x")
        XCTAssertEqual(old.seed, 3)
        XCTAssertNil(old.status)
        XCTAssertEqual(old.samples, ["train": 5])
        // Written and read back: the same manifest, under the documented snake_case keys.
        var m = old
        (m.status, m.worldSize, m.distilledFrom) = (.finished, 2, ["a"])
        m.compression = .init(kind: "prune", source: "runs/x/1", method: "channels", sparsity: 0.5, finetuneEpochs: 2,
                              layers: ["encoders.image.layers.b0_dw": "32 → 16"])
        m.allreduce = .init(seconds: 0.5, steps: 4, bytesPerStep: 128, worldSize: 2)
        try m.write(to: path)
        XCTAssertEqual(RunManifest.read(path), m)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for key in ["\"world_size\" : 2", "\"distilled_from\"", "\"finetune_epochs\"", "\"bytes_per_step\"", "\"encoders.image.layers.b0_dw\""] {
            XCTAssertTrue(text.contains(key), "\(key) not in \(text)")
        }
    }

    func testNamesNeverBecomePathsAndDatasetsAreNotOverwritten() throws {
        let escaping = write("escape.json", #"{"name": "..", "training": {"epochs": 1}}"#)
        let result = try fusionlab(["validate", escaping])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.err.contains("name"), result.err)
        XCTAssertFalse(safeFileName("../../../../x/escaped").contains("/"))
        XCTAssertFalse(safeFileName("../../../../x/escaped").contains(".."))
        let folder = Self.workspace.appendingPathComponent("gen").path
        XCTAssertEqual(try fusionlab(["generate-dataset", folder, "--samples", "20"]).status, 0)
        let again = try fusionlab(["generate-dataset", folder, "--samples", "20"])
        XCTAssertNotEqual(again.status, 0, "an existing dataset is not overwritten")
        XCTAssertTrue(again.err.contains("--force"), again.err)
        XCTAssertEqual(try fusionlab(["generate-dataset", folder, "--samples", "20", "--force"]).status, 0)
        XCTAssertNotEqual(try fusionlab(["generate-dataset", folder + "2", "--samples", "99999999999999"]).status, 0)
    }

    func testOneAndTwoThreadsGiveTheSamePredictions() throws {
        var predictions: [String] = []
        for threads in [1, 2] {
            let result = try fusionlab(["run", tinyExperiment("threads-\(threads)"), "--quiet", "--set", "training.threads=\(threads)",
                                        "--set", "model.image.batch_norm=true", "--set", "model.audio.preset=bigru"])
            XCTAssertEqual(result.status, 0, result.err)
            let run = try XCTUnwrap(runDirectories("threads-\(threads)").last)
            predictions.append(try String(contentsOfFile: run + "/predictions.csv", encoding: .utf8))
        }
        XCTAssertEqual(predictions[0], predictions[1], "probabilities to six decimals do not depend on the thread count")
    }

    func testTheFeatureCacheGoesWhereItIsTold() throws {
        let cache = Self.workspace.appendingPathComponent("elsewhere-cache").path
        let result = try fusionlab(["run", tinyExperiment("cached"), "--quiet", "--set", "training.epochs=1", "--set", "dataset.cache_dir=\(cache)"])
        XCTAssertEqual(result.status, 0, result.err)
        let files = (try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []
        XCTAssertTrue(files.contains { $0.hasSuffix(".flcache") }, "\(files)")
    }

    func testDivergenceStopsWithTheEpochAndStepOrSkipsBatches() throws {
        let diverging = try fusionlab(["run", tinyExperiment("diverge"), "--quiet", "--set", "training.lr=1e30"])
        XCTAssertNotEqual(diverging.status, 0, "a diverged run exits non-zero")
        XCTAssertTrue(diverging.err.contains("training diverged at epoch 1, step"), diverging.err)
        XCTAssertFalse(runDirectories("diverge").contains { FileManager.default.fileExists(atPath: $0 + "/metrics.json") },
                       "no finished result for a diverged run")
        let skipping = try fusionlab(["run", tinyExperiment("skip"), "--set", "training.lr=1e30", "--set", "training.non_finite=skip"])
        XCTAssertTrue((skipping.out + skipping.err).contains("with a non-finite loss or gradient"), skipping.err)
    }

    func testRunWritesEveryFileOfTheRunDirectory() throws {
        let result = try fusionlab(["run", tinyExperiment("tiny"), "--quiet", "--set", "training.lr=0.004"])
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertTrue(result.out.contains("test accuracy"), result.out)
        XCTAssertEqual(result.err, "", "--quiet prints only errors")
        let run = try XCTUnwrap(runDirectories("tiny").last)
        for file in ["config.resolved.json", "manifest.json", "history.csv", "metrics.json", "predictions.csv", "vocab.txt",
                     "checkpoints/best.safetensors", "checkpoints/last.safetensors", "checkpoints/resume.safetensors"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: "\(run)/\(file)"), "missing \(file)")
        }
        let history = try String(contentsOfFile: "\(run)/history.csv", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(history.count, 3, "header and two epochs")
        // The machine columns: samples/s, CPU use, peak memory, data loading against compute.
        let header = history[0].split(separator: ",").map(String.init)
        for column in ["samples_per_second", "cpu_percent", "peak_rss_mib", "data_seconds", "compute_seconds"] {
            let i = try XCTUnwrap(header.firstIndex(of: column), column)
            let values = history.dropFirst().compactMap { Double($0.split(separator: ",")[i]) }
            XCTAssertEqual(values.count, 2, column)
            XCTAssertTrue(values.allSatisfy { $0.isFinite && $0 >= 0 }, "\(column): \(values)")
        }

        let metrics = try ClassificationMetrics.decode(try Data(contentsOf: URL(fileURLWithPath: "\(run)/metrics.json")))
        XCTAssertEqual(metrics.classNames, DefaultDataset.labels)
        XCTAssertEqual(metrics.confusionMatrix.count, DefaultDataset.labels.count)
        let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(run)/metrics.json"))) as? [String: Any]
        let selection = try XCTUnwrap(report?["selection"] as? [String: Any], "metrics.json names how the best epoch was chosen")
        XCTAssertEqual(selection["metric"] as? String, "accuracy")
        XCTAssertEqual(selection["split"] as? String, "val")
        XCTAssertTrue([1, 2].contains(selection["epoch"] as? Int ?? 0))
        XCTAssertEqual(report?["evaluated_split"] as? String, "test")
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(run)/manifest.json"))) as? [String: Any]
        XCTAssertEqual(manifest?["threads"] as? Int, 1)
        XCTAssertNotNil(manifest?["dataset_hash"])
        // The code that ran it is the binary's own (version and commit built in), beside the command line.
        let version = try fusionlab(["--version"]).out.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(version.hasPrefix("FusionLab \(BuildInfo.version) (commit \(BuildInfo.commit))"), version)
        XCTAssertEqual(manifest?["code_version"] as? String, "\(BuildInfo.version) (\(BuildInfo.commit))")
        XCTAssertEqual((manifest?["command_line"] as? [String])?.dropFirst().first, "run")
        XCTAssertEqual(manifest?["overrides"] as? [String], ["training.lr=0.004"])
        // In the run folder itself: `tensorboard --logdir runs` names the run by its folder, not ".../events".
        let events = TensorBoardWriter.files(in: run)
        XCTAssertEqual(events.count, 1)
        let scalars = try TensorBoardWriter.readScalars(path: events[0])
        // Also the per-step loss, each group's actual learning rate, the machine and the test metrics.
        let steps = scalars.filter { $0.tag == "train/step_loss" }.map(\.step)
        XCTAssertEqual(steps, Array(1...max(steps.count, 1)), "one training loss per step, numbered across epochs")
        XCTAssertEqual(steps.count % 2, 0, "the same number of steps in both epochs")
        // TensorBoard itself reads the file: the scalars, and the resolved experiment as text.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let tools = root.appendingPathComponent(".build/tensorboard-python").path
        if FileManager.default.fileExists(atPath: tools + "/tensorboard") {
            var env = ProcessInfo.processInfo.environment
            env["PYTHONPATH"] = tools
            let read = try runProcess(URL(fileURLWithPath: "/usr/bin/env"), ["python3", root.path + "/scripts/check_tensorboard.py", run],
                                      environment: env)
            XCTAssertEqual(read.status, 0, read.err)
            XCTAssertTrue(read.out.contains("text config at step 0: '```json"), read.out)
        } else {
            print("tensorboard not found in \(tools) (scripts/fetch-python-tools.sh tensorboard tensorboard): TensorBoard's own reading is skipped")
        }
        // Epoch metrics sit at the global step of each epoch's end: they overlay the step loss.
        XCTAssertEqual(scalars.filter { $0.tag == "val/accuracy" }.map { $0.step }, [steps.count / 2, steps.count],
                       "one validation accuracy per epoch, at the epoch's last step, CRCs checked")
        for tag in ["lr/lr×1.0", "machine/cpu_percent", "machine/samples_per_second", "test/accuracy", "test/f1_macro"] {
            XCTAssertTrue(scalars.contains { $0.tag == tag }, "TensorBoard tag \(tag): \(Set(scalars.map(\.tag)).sorted())")
        }
        let inspect = try fusionlab(["inspect", run])
        XCTAssertTrue(inspect.out.contains("head.0.weight  [8, 24]"), inspect.out)
        let evaluate = try fusionlab(["evaluate", run, "--quiet"])
        XCTAssertEqual(evaluate.status, 0, evaluate.err)
        let reevaluated = try ClassificationMetrics.decode(Data(evaluate.out.utf8))
        XCTAssertEqual(reevaluated.accuracy, metrics.accuracy, accuracy: 1e-9, "evaluate reproduces the run's test metrics")
        let predict = try fusionlab(["predict", run, "--image", "data-80/images/s00000.png", "--audio", "data-80/audio/s00000.wav",
                                     "--text", "a picture of a round shape"])
        XCTAssertEqual(predict.status, 0, predict.err)
        XCTAssertTrue(predict.out.hasPrefix("predicted: "), predict.out)
        let notebook = try fusionlab(["export-notebook", run, "--output", "notebooks"])
        XCTAssertEqual(notebook.status, 0, notebook.err)
        let path = try XCTUnwrap(notebook.out.split(separator: " ").last).trimmingCharacters(in: .whitespacesAndNewlines)
        try checkNotebook(Self.workspace.appendingPathComponent(path).path)
    }

    func testResumeAfterAKillMidEpochEndsWithTheSameMetrics() throws {
        let file = tinyExperiment("resume", epochs: 8, samples: 240)
        // Reference: an uninterrupted run.
        XCTAssertEqual(try fusionlab(["run", file, "--quiet"]).status, 0)
        let reference = try XCTUnwrap(runDirectories("resume").last)
        // A second run, killed once two epochs are done.
        let process = Process()
        process.executableURL = executable
        process.arguments = ["run", file, "--quiet"]
        process.currentDirectoryURL = Self.workspace
        try process.run()
        var killed: String?
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline && process.isRunning {
            if let dir = runDirectories("resume").last(where: { $0 != reference }),
               let history = try? String(contentsOfFile: dir + "/history.csv", encoding: .utf8), history.split(separator: "\n").count >= 3 {
                kill(process.processIdentifier, SIGKILL)
                killed = dir
                break
            }
            usleep(5000)
        }
        process.waitUntilExit()
        let interrupted = try XCTUnwrap(killed, "the run finished before it could be killed")
        XCTAssertFalse(FileManager.default.fileExists(atPath: interrupted + "/metrics.json"), "killed before the end")
        let resumed = try fusionlab(["run", "--resume", interrupted, "--quiet"])
        XCTAssertEqual(resumed.status, 0, resumed.err)
        let a = try String(contentsOfFile: reference + "/predictions.csv", encoding: .utf8)
        let b = try String(contentsOfFile: interrupted + "/predictions.csv", encoding: .utf8)
        XCTAssertEqual(a, b, "same predictions and probabilities as the uninterrupted run")
        XCTAssertEqual(try String(contentsOfFile: reference + "/metrics.json", encoding: .utf8),
                       try String(contentsOfFile: interrupted + "/metrics.json", encoding: .utf8))
    }

    func testDistillationIntoAStudentWithFewerModalities() throws {
        XCTAssertEqual(try fusionlab(["run", tinyExperiment("teacher"), "--quiet"]).status, 0)
        let teacher = try XCTUnwrap(runDirectories("teacher").last)
        // An image+audio student of a tri-modal teacher, and an ensemble of two teachers.
        let student = tinyExperiment("student", extra: """
        , "distill": {"teacher": "\(teacher)", "temperature": 3, "alpha": 0.7}
        """)
        let result = try fusionlab(["run", student, "--set", "model.modalities=[\"image\",\"audio\"]"])
        XCTAssertEqual(result.status, 0, result.err)
        XCTAssertTrue(result.err.contains("distill: teacher \(teacher) scored 80 samples at temperature 3"), result.err)
        let run = try XCTUnwrap(runDirectories("student").last)
        let manifest = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/manifest.json"))) as? [String: Any]
        XCTAssertEqual(manifest?["distilled_from"] as? [String], [teacher])
        // The same student on labels alone trains on another loss (its folder is the new one:
        // two runs in the same second sort by their configuration hash).
        let before = Set(runDirectories("student"))
        let plain = try fusionlab(["run", student, "--set", "model.modalities=[\"image\",\"audio\"]", "--set", "distill.teacher=[]", "--quiet"])
        XCTAssertEqual(plain.status, 0, plain.err)
        let plainRun = try XCTUnwrap(runDirectories("student").first { !before.contains($0) })
        let lossOf = { (dir: String) in try String(contentsOfFile: dir + "/history.csv", encoding: .utf8).split(separator: "\n")[1] }
        XCTAssertNotEqual(try lossOf(run), try lossOf(plainRun))
        let ensemble = try fusionlab(["run", student, "--set", "distill.teacher=[\"\(teacher)\",\"\(teacher)\"]", "--quiet"])
        XCTAssertEqual(ensemble.status, 0, ensemble.err)
        // A checkpoint is not a teacher (its settings are in the run folder); alpha is a weight.
        let checkpoint = try fusionlab(["run", student, "--set", "distill.teacher=\(teacher)/checkpoints/best.safetensors"])
        XCTAssertTrue(checkpoint.err.contains("is a checkpoint; name its run folder"), checkpoint.err)
        let alpha = try fusionlab(["validate", student, "--set", "distill.alpha=1.5"])
        XCTAssertTrue(alpha.err.contains("distill.alpha: expected a weight in [0, 1], got 1.5"), alpha.err)
    }

    func testRunsListsSortsFiltersAndSaysWhenThereAreNone() throws {
        XCTAssertTrue(try fusionlab(["runs", "--runs", "empty-runs"]).out.contains("no runs: empty-runs does not exist"))
        for (name, epochs) in [("listed-a", 1), ("listed-b", 3)] {
            XCTAssertEqual(try fusionlab(["run", tinyExperiment(name, epochs: epochs), "-o", "listed", "--quiet"]).status, 0)
        }
        let json = try fusionlab(["runs", "--runs", "listed", "--json", "--sort", "accuracy"])
        XCTAssertEqual(json.status, 0, json.err)
        let rows = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [[String: Any]])
        XCTAssertEqual(Set(rows.compactMap { $0["experiment"] as? String }), ["listed-a", "listed-b"])
        let accuracies = rows.compactMap { $0["accuracy"] as? Double }
        XCTAssertEqual(accuracies, accuracies.sorted(by: >), "best first")
        let one = try fusionlab(["runs", "--runs", "listed", "--experiment", "listed-b"])
        XCTAssertEqual(one.out.split(separator: "\n").count, 1, one.out)
        XCTAssertTrue(try fusionlab(["runs", "--runs", "listed", "--experiment", "other"]).out.contains("no runs in listed of experiment \"other\""))
    }

    func testTheDatasetHashCoversTheMedia() throws {
        // Its own copy of the generated data, so other tests keep theirs.
        let experiment = write("hashed.json", try String(contentsOf: Self.workspace.appendingPathComponent(tinyExperiment("hashed", epochs: 1)), encoding: .utf8)
            .replacingOccurrences(of: "\"path\": \"data-80\"", with: "\"path\": \"data-hashed\""))
        XCTAssertEqual(try fusionlab(["run", experiment, "--quiet"]).status, 0)
        let run = try XCTUnwrap(runDirectories("hashed").last)
        let manifest = try json(run + "/manifest.json")
        XCTAssertTrue((manifest["dataset_hash"] as? String)?.hasPrefix("media:") ?? false, "\(manifest["dataset_hash"] ?? "")")
        XCTAssertEqual(try fusionlab(["evaluate", run]).status, 0)
        // The same tables, one image changed: the run's dataset is no longer the one it was trained on.
        let image = Self.workspace.appendingPathComponent("data-hashed/images/s00000.png")
        let other = Self.workspace.appendingPathComponent("data-hashed/images/s00001.png")
        try FileManager.default.removeItem(at: image)
        try FileManager.default.copyItem(at: other, to: image)
        let changed = try fusionlab(["evaluate", run])
        XCTAssertEqual(changed.status, 0, changed.err)
        XCTAssertTrue(changed.err.contains("the dataset changed since"), changed.err)
        let features = try fusionlab(["export-features", run])
        XCTAssertNotEqual(features.status, 0, "features of another dataset than the run's are refused")
    }
}
