import Foundation
import FusionConfig
import FusionCore
import FusionReports
import FusionTensor

/// Experiment trackers beside the run folder: with `--mlflow <uri>`, every run this process
/// trains (a run, each run of a comparison or sweep, a resume, an update) is also an MLflow run.
///
/// - start (first epoch): the experiment named like the FusionLab experiment, created when
///   missing; a run named like the run folder; every key of the resolved experiment as a
///   parameter; tags with FusionLab's version, commit, command line and run folder. The run's
///   id goes into manifest.json, so `--resume` continues the same MLflow run.
/// - during training: the TensorBoard scalars (step loss, epoch metrics, learning rates, machine
///   use) on the same global-step axis, sent in batches at most every 5 s, for saved epochs only.
/// - end: the test metrics, the run's files as artifacts (config, manifest, metrics, history,
///   predictions, vocabulary, best checkpoint) and FINISHED, FAILED or KILLED (Ctrl-C).
public enum Tracking {
    private static let mlflowClient = Locked<MLflowClient?>(nil)
    private static let active = Locked<MLflowRun?>(nil)

    /// Logs every later run to the MLflow tracking server at `uri`; throws, before anything
    /// runs, when it is not an http(s) URI or no server answers there.
    public static func useMLflow(_ uri: String) throws {
        let client = try MLflowClient(uri)
        do {
            try client.call("GET", "health")
        } catch {
            throw ExperimentError("--mlflow \(client.base.absoluteString): no tracking server answers (\(error)); start one with `mlflow server`")
        }
        mlflowClient.value = client
    }

    /// The logs of a run's training: its TensorBoard event file and, with `--mlflow`, its MLflow
    /// run (started or, when the manifest names one on the same server, continued).
    static func logs(for run: RunDirectory, config: ExperimentConfig, progress: Progress) throws -> TrainingLogs {
        var logs: [any ScalarLog] = [try TensorBoardWriter(directory: run.path)]
        if let client = mlflowClient.value {
            let mlflow = try start(client, run: run, config: config, progress: progress)
            active.value = mlflow
            logs.append(mlflow)
        }
        return TrainingLogs(logs)
    }

    private static func start(_ client: MLflowClient, run: RunDirectory, config: ExperimentConfig, progress: Progress) throws -> MLflowRun {
        let warn: @Sendable (String) -> Void = { message in FileHandle.standardError.write(Data("warning: \(message)\n".utf8)) }
        let uri = client.base.absoluteString
        do {
            if let link = run.manifest?.mlflow, link.trackingURI == uri {
                progress.log("MLflow: continuing run \(link.runID) at \(uri)")
                return try MLflowRun.resume(client: client, runID: link.runID, warn: warn)
            }
            let name = URL(fileURLWithPath: run.path).lastPathComponent
            let manifest = run.manifest
            var tags = [
                "mlflow.source.name": "fusionlab", "mlflow.source.type": "LOCAL", "mlflow.user": ProcessInfo.processInfo.userName,
                "fusionlab.version": BuildInfo.version, "fusionlab.commit": BuildInfo.commit,
                "fusionlab.command_line": CommandLine.arguments.joined(separator: " "), "fusionlab.run_dir": run.path,
            ]
            if let hash = manifest?.datasetHash { tags["fusionlab.dataset_hash"] = hash }
            if let parent = manifest?.parent { tags["fusionlab.parent"] = parent }
            let mlflow = try MLflowRun.start(client: client, experiment: config.name, name: name, tags: tags,
                                             params: parameters(ConfigLoader.resolvedJSON(config)), warn: warn)
            try run.updateManifest { $0.mlflow = RunManifest.MLflowLink(trackingURI: uri, experimentID: mlflow.experimentID, runID: mlflow.runID) }
            progress.log("MLflow: run \(mlflow.runID) in experiment \(mlflow.experimentID) at \(uri)")
            return mlflow
        } catch let failure as MLflowClient.Failure {
            throw ExperimentError("--mlflow \(uri): \(failure.description) (is `mlflow server` running there?)")
        }
    }

    /// The resolved experiment as MLflow parameters: one per leaf, dotted keys
    /// (`model.fusion.kind`), strings as they are and other values as JSON.
    static func parameters(_ resolvedJSON: String) -> [(String, String)] {
        guard let tree = try? JSONSerialization.jsonObject(with: Data(resolvedJSON.utf8)) else { return [] }
        var out = [(String, String)]()
        func walk(_ value: Any, _ key: String) {
            if let object = value as? [String: Any], !object.isEmpty {
                for k in object.keys.sorted() { walk(object[k] as Any, key.isEmpty ? k : key + "." + k) }
            } else if let string = value as? String {
                out.append((key, string))
            } else if let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]) {
                out.append((key, String(decoding: data, as: UTF8.self)))
            }
        }
        walk(tree, "")
        return out
    }

    /// Ends the active MLflow run after the run folder's status is final: uploads its files
    /// (the manifest as it ends) and records the status.
    static func end(_ run: RunDirectory, status: MLflowRun.Status) {
        guard let mlflow = active.update({ current -> MLflowRun? in defer { current = nil }; return current }) else { return }
        if status == .finished {
            let files = [RunFile.config, RunFile.manifest, RunFile.metrics, RunFile.history, RunFile.predictions, RunFile.vocabulary]
            mlflow.upload(files.map { (run.file($0), $0) } + [(run.bestCheckpoint, RunFile.checkpoints + "/best.safetensors")])
        } else {
            mlflow.upload([(run.file(RunFile.manifest), RunFile.manifest), (run.file(RunFile.history), RunFile.history)])
        }
        mlflow.finish(status)
    }
}
