import FusionReports
import FusionConfig
import FusionDeploy
import FusionTraining
import Foundation
import FusionCore
import FusionData
import FusionNN
import FusionTensor

/// `fusionlab update <run> --data <dataset>`: continues a finished run on new samples (more of
/// the same, a new domain, or new labels) as a new run whose manifest names its parent, so runs
/// form a lineage.
///
/// - **Rehearsal**: a seeded replay buffer of `rehearsal` samples of the parent's training split
///   joins the new training split (and as many of the parent's validation samples join the
///   validation split, so the best epoch is picked on both).
/// - **Learning without forgetting**: distillation from the parent (`lwf` is the weight of the
///   parent's softened predictions; on the parent's labels only when the head grew).
/// - **New labels**: the head grows; the parent's classes keep their rows and their order.
///
/// The training folder is a dataset folder of hard links (copies across file systems) under
/// `<runs>/<name>-update/data-…`, so the usual runner, caches and checks apply. Afterwards the
/// new model is tested on the new test split and on the parent's, and the forgetting is the
/// parent's accuracy on its own test split minus the new model's there.
public enum ContinualUpdate {
    /// What an update does.
    public struct Options: Sendable {
        /// The new dataset folder.
        public var data: String
        /// Replayed samples of the parent's training split (0: none).
        public var rehearsal = 200
        /// Weight of distillation from the parent (0: off).
        public var lwf = 0.0
        /// Distillation temperature.
        public var temperature = 2.0
        /// Epochs (nil: the parent's).
        public var epochs: Int?
        /// Seed (nil: the parent's).
        public var seed: UInt64?
        /// Train from scratch on the new data and all of the parent's (the joint baseline).
        public var fromScratch = false
        /// Where runs go.
        public var runsRoot = "runs"
        /// `--set key=value` overrides of the updated experiment (its learning rate, schedule…).
        public var overrides: [String] = []
        /// An update of `data` with the defaults.
        public init(data: String) { self.data = data }
    }

    /// What an update measured.
    public struct Outcome: Sendable {
        /// The new run and its parent.
        public var run: String, parent: String
        /// Accuracy on the parent's test split: the parent's, and the updated model's.
        public var parentOnOld: Double, updatedOnOld: Double
        /// The updated model's accuracy on the new test split.
        public var updatedOnNew: Double
        /// parentOnOld − updatedOnOld.
        public var forgetting: Double { parentOnOld - updatedOnOld }
        /// Labels added to the head.
        public var addedLabels: [String]
        /// Run folders from the first ancestor to this run.
        public var lineage: [String]
    }

    /// Runs the update; every check happens before training starts.
    public static func run(parent: String, options: Options, progress: FusionTraining.Progress) throws -> Outcome {
        let parentDirectory = try RunDirectory.open(parent)
        guard parentDirectory.status == .finished else {
            throw ExperimentError("update: \(parent) is \(parentDirectory.status.rawValue); only a finished run can be updated")
        }
        guard options.rehearsal >= 0 else { throw ExperimentError("update: --rehearsal must be ≥ 0, got \(options.rehearsal)") }
        guard options.lwf >= 0 && options.lwf < 1 else { throw ExperimentError("update: --lwf must be in [0, 1), got \(options.lwf)") }
        let parentConfig = try parentDirectory.config()
        let parentData = try ExperimentRunner.load(run: parent, caches: false, progress: Progress(quiet: true)).data
        let oldDataset = parentData.dataset
        var newConfig = parentConfig
        newConfig.dataset.path = URL(fileURLWithPath: options.data).standardizedFileURL.path
        let newDataset: Dataset
        do {
            newDataset = ExperimentData.seededSplit(try Dataset.load(path: options.data, log: { progress.detail($0) }), config: newConfig)
        } catch let error as FusionDataError { throw ExperimentError("update --data: \(error)") }

        // Modalities: every one the model reads must be in the new data.
        for m in parentConfig.model.modalities where !newDataset.samples.contains(where: { $0.has(m) }) {
            throw ExperimentError("update: the model reads \(m.rawValue), and no sample of \(options.data) has it "
                                  + "(the model takes \(parentConfig.model.modalities.map(\.rawValue).joined(separator: ", ")))")
        }
        // Labels: the parent's keep their order; new ones are appended. Names that differ only
        // in case or spaces clash.
        let old = parentData.classNames
        func folded(_ s: String) -> String { s.lowercased().trimmingCharacters(in: .whitespaces) }
        var union = old
        for label in newDataset.info.labels where !old.contains(label) {
            if let twin = old.first(where: { folded($0) == folded(label) }) {
                throw ExperimentError("update: the label \"\(label)\" of \(options.data) clashes with the parent's \"\(twin)\" "
                                      + "(rename one so they are the same label or clearly different ones)")
            }
            union.append(label)
        }
        let added = Array(union.dropFirst(old.count))
        if !added.isEmpty && options.lwf > 0 { progress.log("update: the head grows by \(added.count) labels; learning without forgetting covers the parent's \(old.count)") }

        // The training folder: new samples, the replay buffer, the parent's validation share.
        let seed = options.seed ?? parentConfig.seed
        let stamp = "\(ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: ""))-s\(seed)-\(UInt32.random(in: 0...UInt32.max) % 0xFFFF)"
        // An exclusive create: two updates started together never share their data folder.
        let base = try JobQueue.newFolder("\(options.runsRoot)/\(parentConfig.name)-update/data-\(stamp)")
        var rng = SeededGenerator.derived(seed: seed, stream: "rehearsal")
        let oldTrain = oldDataset.samples(in: .train), oldVal = oldDataset.samples(in: .val)
        let replayCount = options.fromScratch ? oldTrain.count : min(options.rehearsal, oldTrain.count)
        let replay = Array(oldTrain.shuffled(using: &rng).prefix(replayCount))
        let valShare = options.fromScratch ? oldVal.count : (replayCount == 0 ? 0 : min(oldVal.count, max(1, replayCount * oldVal.count / max(oldTrain.count, 1))))
        let replayVal = Array(oldVal.shuffled(using: &rng).prefix(valShare))
        let newLabels = newDataset.info.labels, oldLabels = oldDataset.info.labels
        var entries: [Entry] = newDataset.samples.map { Entry(sample: $0, split: $0.split, id: $0.id, labels: newLabels) }
        entries += replay.map { Entry(sample: $0, split: .train, id: "parent-\($0.id)", labels: oldLabels) }
        entries += replayVal.map { Entry(sample: $0, split: .val, id: "parent-\($0.id)", labels: oldLabels) }
        // Every check before any file is written: the folder paths are known in advance.
        let trainFolder = URL(fileURLWithPath: base + "/train").standardizedFileURL.path
        var config = parentConfig
        config.name = "\(parentConfig.name)-update"
        config.seed = seed
        config.dataset.path = trainFolder  // written below, once the experiment is known to be valid
        config.dataset.generate = false
        config.dataset.trainLimit = 0
        config.compare = ExperimentConfig().compare
        config.sweep = ExperimentConfig().sweep
        config.transfer = ExperimentConfig().transfer
        if !options.fromScratch { config.transfer.initFrom = parentDirectory.bestCheckpoint }
        if let epochs = options.epochs { config.training.epochs = epochs }
        if parentConfig.model.modalities.contains(.text), parentConfig.preprocessing.text.tokenizer == .word,
           FileManager.default.fileExists(atPath: parentDirectory.vocabulary) {
            config.preprocessing.text.vocab = URL(fileURLWithPath: parentDirectory.vocabulary).standardizedFileURL.path
        }
        config.distill = ExperimentConfig().distill
        if options.lwf > 0 && !options.fromScratch {
            config.distill.teacher = [parent]
            config.distill.alpha = options.lwf
            config.distill.temperature = options.temperature
        }
        if !options.overrides.isEmpty {
            var tree = ConfigLoader.jsonTree(config)
            var sources: [String: String] = [:]
            for override in options.overrides { try ConfigLoader.apply(override, to: &tree, sources: &sources) }
            config = try ConfigLoader.decode(tree, sources: sources, defaultSource: "fusionlab update --set")
        }
        let issues = ConfigValidation.check(config)
        if let first = issues.first {
            try? FileManager.default.removeItem(atPath: base)
            throw ExperimentError("update: the updated experiment is not valid: \(first)")
        }
        _ = try writeFolder(base + "/train", name: "\(parentConfig.name)-update", labels: union, entries: entries)
        // The parent's test split under the union of labels, for measuring forgetting.
        let oldTest = try writeFolder(base + "/parent-test", name: "\(parentConfig.name)-parent-test", labels: union,
                                      entries: (oldDataset.samples(in: .test).map { Entry(sample: $0, split: .test, id: $0.id, labels: oldLabels) }
                                          // A dataset folder needs training samples; these few are never scored.
                                          + oldTrain.prefix(4).map { Entry(sample: $0, split: .train, id: "train-\($0.id)", labels: oldLabels) }))


        let lineage = parentDirectory.manifest?.lineage ?? [parent]
        let parentCheckpoint = parentDirectory.bestCheckpoint
        let result = try ExperimentRunner.run(config, runsRoot: options.runsRoot, progress: progress, manifest: { m in
            m.parent = parent
            m.update = .init(data: options.data, rehearsal: replayCount, lwf: options.lwf, fromScratch: options.fromScratch, addedLabels: added)
        }) { trainer in
            guard !options.fromScratch, !added.isEmpty else { return }
            // The grown head: the parent's classes keep their rows.
            let source = try Safetensors.read(parentCheckpoint).tensors
            for (key, tensor) in trainer.model.stateDict() {
                guard let from = source[key], from.shape.count == tensor.shape.count, from.shape.count >= 1,
                      Array(from.shape.dropFirst()) == Array(tensor.shape.dropFirst()), from.shape[0] < tensor.shape[0] else { continue }
                tensor.data.update(from: from.data, count: from.count)
                progress.detail("update: \(key) keeps the parent's \(from.shape[0]) rows of \(tensor.shape[0])")
            }
        }
        let runPath = result.directory
        let updatedOnNew = result.test.accuracy
        let reloaded = try ExperimentRunner.load(run: runPath, datasetPath: oldTest, progress: Progress(quiet: true))
        let onOld = try Trainer.evaluate(reloaded.model, data: reloaded.data, split: .test).metrics.accuracy
        let parentMetrics = (try? FileIO.read(parent + "/metrics.json")).flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        let parentOnOld = parentMetrics?["accuracy"] as? Double ?? .nan
        let outcome = Outcome(run: runPath, parent: parent, parentOnOld: parentOnOld, updatedOnOld: onOld, updatedOnNew: updatedOnNew,
                              addedLabels: added, lineage: lineage + [runPath])
        try RunDirectory(path: runPath).updateManifest { m in
            m.lineage = outcome.lineage
            m.updateResults = .init(parentTestAccuracyParent: parentOnOld, parentTestAccuracyUpdated: onOld, newTestAccuracy: updatedOnNew,
                                    forgetting: outcome.forgetting)
        }
        return outcome
    }

    /// A sample of the training folder: where it goes, its id there, and the label names its
    /// own dataset's indices refer to.
    struct Entry {
        var sample: DatasetSample
        var split: Split
        var id: String
        var labels: [String]
    }

    /// Writes a dataset folder of `entries` whose media are hard links (or copies) of the
    /// originals; returns its path.
    static func writeFolder(_ folder: String, name: String, labels: [String], entries: [Entry]) throws -> String {
        let fm = FileManager.default
        try fm.createDirectory(atPath: folder + "/media", withIntermediateDirectories: true)
        var lines: [String] = []
        var n = 0
        for entry in entries {
            let sample = entry.sample
            guard entry.labels.indices.contains(sample.label) else { continue }
            var line: [String: Any] = ["id": entry.id, "split": entry.split.rawValue, "label": entry.labels[sample.label]]
            if let text = sample.text { line["text"] = text }
            for (key, path) in [("image", sample.imagePath), ("audio", sample.audioPath)] {
                guard let path else { continue }
                n += 1
                let target = "media/\(n)-\(URL(fileURLWithPath: path).lastPathComponent)"
                let destination = folder + "/" + target
                if !fm.fileExists(atPath: destination) {
                    do { try fm.linkItem(atPath: path, toPath: destination) } catch { try fm.copyItem(atPath: path, toPath: destination) }
                }
                line[key] = target
            }
            let data = try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys, .withoutEscapingSlashes])
            lines.append(String(decoding: data, as: UTF8.self))
        }
        let info: [String: Any] = ["name": name, "task": "classification", "labels": labels, "samples": "samples.jsonl",
                                   "source": "fusionlab update: hard links to the parent's and the new dataset's files"]
        try FileIO.writeAtomically(try JSONSerialization.data(withJSONObject: info, options: [.prettyPrinted, .sortedKeys]), to: folder + "/dataset.json")
        try FileIO.writeAtomically(Data((lines.joined(separator: "\n") + "\n").utf8), to: folder + "/samples.jsonl")
        return URL(fileURLWithPath: folder).standardizedFileURL.path
    }
}
