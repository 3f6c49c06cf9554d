import FusionCore
import FusionReports
import FusionConfig
import FusionDeploy
import FusionTraining
import Foundation
import FusionData
import FusionModels
import FusionNN
import FusionTensor

extension Compression {
    /// How `--prune` removes weights.
    public enum PruneMethod: String, ConfigChoice {
        /// Global unstructured magnitude pruning, kept as masks, on the Zhu–Gupta schedule.
        case magnitude
        /// Structured pruning of convolution channels and linear units by L1 norm (Li et al. 2017); layers shrink.
        case channels
    }

    /// Sparsities from `0.3,0.5,0.7`: each in [0, 1), no repeats.
    public static func parseSparsities(_ text: String) throws -> [Double] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        var values: [Double] = []
        for part in parts {
            guard let v = Double(part), v.isFinite else { throw ExperimentError("--prune: \"\(part)\" is not a number; expected sparsities in [0, 1) such as 0.3,0.5") }
            guard v >= 0 && v < 1 else { throw ExperimentError("--prune: sparsity \(part) is outside [0, 1)") }
            guard !values.contains(v) else { throw ExperimentError("--prune: sparsity \(part) is given twice") }
            values.append(v)
        }
        guard !values.isEmpty else { throw ExperimentError("--prune: expected at least one sparsity") }
        return values
    }

    /// Prunes the finished run at `path` to each sparsity, fine-tuning `finetuneEpochs` epochs
    /// (the magnitude schedule ramps over all but the last; 0 prunes in one shot), one new run each.
    /// `threads` overrides the run's `training.threads` for the measurements (fine-tuning keeps the run's).
    public static func prune(run path: String, sparsities: [Double], method: PruneMethod, finetuneEpochs: Int, threads: Int? = nil,
                             progress: FusionTraining.Progress) throws -> [Outcome] {
        guard finetuneEpochs >= 0 else { throw ExperimentError("--finetune-epochs: expected 0 or more, got \(finetuneEpochs)") }
        let source = try load(path, threads: threads, progress: progress)
        let (data, config, reference, sourceRun, root) = (source.data, source.config, source.reference, source.run, source.root)
        // The loaded source model's state (frozen weights a checkpoint leaves out included).
        let sourceWeights = Dictionary(source.model.stateDict().map { ($0.key, Tensor($0.tensor.scalars, shape: $0.tensor.shape)) }) { a, _ in a }
        var outcomes: [Outcome] = []
        for sparsity in sparsities {
            let label = "\(method.rawValue) \(sparsity)"
            var newConfig = config
            newConfig.name = "\(config.name)-prune-\(method.rawValue)-\(sparsity)"
            newConfig.distill.teacher = []
            newConfig.transfer.initFrom = ""
            var start = sourceWeights
            var details = RunManifest.Compression(kind: "prune", source: path)
            (details.method, details.sparsity, details.finetuneEpochs) = (method.rawValue, sparsity, finetuneEpochs)
            if method == .channels {
                let shrunk = try ChannelPruning.shrink(config.model, inputs: data.modelInputs, weights: sourceWeights, sparsity: sparsity)
                newConfig.model = shrunk.model
                start = shrunk.weights
                details.layers = shrunk.summary
                progress.log("\(label): " + (shrunk.summary.isEmpty ? "no prunable channels" : shrunk.summary.map { "\($0.key) \($0.value)" }.sorted().joined(separator: ", ")))
            }
            let outcome: Outcome
            if finetuneEpochs == 0 {
                let pruned = try MultimodalClassifier.build(newConfig.model, inputs: data.modelInputs, classes: data.classNames.count, seed: config.seed)
                try pruned.load(start, source: sourceRun.bestCheckpoint)
                // Frozen layers stay as they are, as in fine-tuning.
                if !config.transfer.freeze.isEmpty { pruned.freeze(config.transfer.freeze) }
                if method == .magnitude { MagnitudePruner(model: pruned, finalSparsity: sparsity, rampSteps: 1).prune(to: sparsity) }
                outcome = try directRun(pruned, config: newConfig, label: label, details: details, source: source, sparsity: sparsity, progress: progress) { try pruned.save(to: $0, metadata: ["experiment": newConfig.name]) }
            } else {
                newConfig.training.epochs = finetuneEpochs
                newConfig.training.earlyStopping.patience = 0
                let train = try data.loader(.train)
                let accumulation = max(config.training.gradAccumulation, 1)
                let stepsPerEpoch = max((train.batchCount + accumulation - 1) / accumulation, 1)
                let result = try ExperimentRunner.run(newConfig, runsRoot: root, progress: progress, manifest: { $0.compression = details }) { trainer in
                    try trainer.model.load(start, source: sourceRun.bestCheckpoint)
                    if method == .magnitude {
                        trainer.pruner = MagnitudePruner(model: trainer.model, finalSparsity: sparsity,
                                                         rampSteps: stepsPerEpoch * max(finetuneEpochs - 1, 1))
                    }
                }
                let loaded = try ExperimentRunner.load(run: result.directory, progress: Progress(quiet: true))
                if let threads { Threading.setThreads(threads) }
                let run = RunDirectory(path: result.directory)
                let measured = try measure(loaded.model, data: loaded.data, checkpoint: run.bestCheckpoint)
                outcome = Outcome(run: run.path, label: label, metrics: measured.metrics, sourceMetrics: reference.metrics,
                                  fileBytes: measured.fileBytes, sourceFileBytes: reference.fileBytes,
                                  parameters: loaded.model.parameterCount, nonzeroParameters: nonzero(loaded.model),
                                  samplesPerSecond: measured.samplesPerSecond, sourceSamplesPerSecond: reference.samplesPerSecond,
                                  sourceParameters: source.parameters, sourceNonzeroParameters: source.nonzero, sparsity: sparsity,
                                  trainSeconds: result.trainSeconds)
                try write(outcome, evaluation: measured.evaluation, details: details, run: run, classNames: data.classNames, split: measured.split)
            }
            progress.log(String(format: "%@: test accuracy %.4f (source %.4f), %d of %d parameters non-zero", label, outcome.metrics.accuracy,
                                reference.metrics.accuracy, outcome.nonzeroParameters, outcome.parameters))
            outcomes.append(outcome)
        }
        return outcomes
    }

    /// A compressed run made without training: `model` as it is, saved by `save`, measured.
    static func directRun(_ model: MultimodalClassifier, config: ExperimentConfig, label: String, details: RunManifest.Compression,
                          source: Source, sparsity: Double?, progress: FusionTraining.Progress, save: (String) throws -> Void) throws -> Outcome {
        let (data, reference) = (source.data, source.reference)
        let run = try RunDirectory.create(root: source.root, config: config)
        try writeTextAtomically(ConfigLoader.resolvedJSON(config), to: run.path + "/config.resolved.json")
        if FileManager.default.fileExists(atPath: source.run.vocabulary) {
            try writeFileAtomically(try FileIO.read(source.run.vocabulary), to: run.vocabulary)
        }
        progress.log("run \(run.path)")
        var manifest = RunDirectory.baseManifest(config: config, datasetRoot: data.dataset.root)
        ExperimentRunner.recordSplits(data, in: &manifest)
        (manifest.status, manifest.pid, manifest.compression) = (.running, Int(getpid()), details)
        try run.writeManifest(manifest)
        var outcome: Outcome?
        _ = try ExperimentRunner.recordingStatus(run) {
            try save(run.bestCheckpoint)
            let measured = try measure(model, data: data, checkpoint: run.bestCheckpoint)
            let o = Outcome(run: run.path, label: label, metrics: measured.metrics, sourceMetrics: reference.metrics,
                            fileBytes: measured.fileBytes, sourceFileBytes: reference.fileBytes,
                            parameters: model.parameterCount, nonzeroParameters: nonzero(model),
                            samplesPerSecond: measured.samplesPerSecond, sourceSamplesPerSecond: reference.samplesPerSecond,
                            sourceParameters: source.parameters, sourceNonzeroParameters: source.nonzero, sparsity: sparsity)
            try write(o, evaluation: measured.evaluation, details: details, run: run, classNames: data.classNames, split: measured.split)
            outcome = o
            return RunResult(directory: run.path, test: measured.metrics, bestValidation: .nan, bestEpoch: 0,
                             parameters: o.parameters, trainSeconds: 0, history: [])
        }
        guard let outcome else { throw ExperimentError("\(run.path): compression produced no result") }
        return outcome
    }

    /// The outcomes as a table: accuracy, non-zero parameters, file size and speed beside the
    /// source, then each new run's folder.
    public static func table(_ outcomes: [Outcome]) -> String {
        guard let first = outcomes.first else { return "" }
        func pad(_ s: String, _ width: Int, left: Bool = false) -> String {
            let fill = String(repeating: " ", count: max(width - s.count, 0))
            return left ? s + fill : fill + s
        }
        let header = [pad("model", 24, left: true), pad("accuracy", 9), pad("nonzero", 10), pad("file KiB", 10), pad("samples/s", 10), pad("speedup", 8)]
        var lines = [header.joined(separator: " ")]
        func row(_ name: String, _ accuracy: Double, _ nonzero: Int?, _ bytes: Int, _ speed: Double) -> String {
            [pad(name, 24, left: true), pad(String(format: "%.4f", accuracy), 9), pad(nonzero.map(String.init) ?? "", 10),
             pad(String(format: "%.1f", Double(bytes) / 1024), 10), pad(String(format: "%.0f", speed), 10),
             pad(String(format: "%.2f×", speed / max(first.sourceSamplesPerSecond, 1e-9)), 8)].joined(separator: " ")
        }
        lines.append(row("source (float32)", first.sourceMetrics.accuracy, nil, first.sourceFileBytes, first.sourceSamplesPerSecond))
        for o in outcomes { lines.append(row(o.label, o.metrics.accuracy, o.nonzeroParameters, o.fileBytes, o.samplesPerSecond)) }
        for o in outcomes { lines.append("  \(o.label): \(o.run)") }
        return lines.joined(separator: "\n")
    }
}

/// Structured pruning of a model's layer-stack encoders: in each encoder, every convolution or
/// linear layer whose output feeds another one of the same stack (through activations, dropout,
/// pooling, batch norm or flatten only) keeps the `1 − sparsity` share of its output channels
/// with the largest L1 weight norms (Li et al. 2017, "Pruning Filters for Efficient ConvNets");
/// the next layer loses the matching inputs. An encoder's last layer keeps its width, so
/// fusion and head are unchanged; grouped (depthwise) convolutions and the layers feeding them keep
/// theirs.
enum ChannelPruning {
    static let passThrough = Set(LayerKind.allCases.filter { $0.channelPruning == .passesThrough })
    static let prunable = Set(LayerKind.allCases.filter { $0.channelPruning == .prunable })

    /// The shrunk model configuration (every stack written out as layers), its weights, and the
    /// new width of each pruned layer by key (`encoders.image.layers.0`: `6 → 3`).
    static func shrink(_ model: ModelConfig, inputs: ModelInputs, weights source: [String: Tensor], sparsity: Double) throws
        -> (model: ModelConfig, weights: [String: Tensor], summary: [String: String]) {
        var config = model
        var weights = source
        var summary: [String: String] = [:]
        for modality in Set(model.modalities).sorted() {
            guard var specs = try model.layerSpecs(for: modality), let plan = try model.plan(for: modality, inputs: inputs),
                  plan.steps.count == specs.count else { continue }
            let prefix = "encoders.\(modality.rawValue).layers."
            for (i, step) in plan.steps.enumerated() where prunable.contains(step.spec.type) {
                var j = i + 1
                var between: [Int] = []
                while j < plan.steps.count {
                    let t = plan.steps[j].spec.type
                    if prunable.contains(t) { break }
                    let channelwisePool = t == .globalPool && plan.steps[j].spec.op != .attention
                    guard passThrough.contains(t) || channelwisePool else { j = plan.steps.count; break }
                    between.append(j)
                    j += 1
                }
                guard j < plan.steps.count else { continue }
                // A grouped convolution's channels belong to their groups: neither side of one is pruned.
                guard (step.spec.groups ?? 1) == 1 && (plan.steps[j].spec.groups ?? 1) == 1 else { continue }
                let key = prefix + step.key
                guard let w = weights[key + ".weight"], let width = w.shape.first else {
                    throw ExperimentError("channel pruning: the source model has no \(key).weight")
                }
                let keep = max(1, Int((Double(width) * (1 - sparsity)).rounded()))
                guard keep < width else { continue }
                let per = w.count / width
                let norms = (0..<width).map { o in (0..<per).reduce(Float(0)) { $0 + abs(w.data[o * per + $1]) } }
                let kept = (0..<width).sorted { norms[$0] > norms[$1] || (norms[$0] == norms[$1] && $0 < $1) }.prefix(keep).sorted()
                weights[key + ".weight"] = take(w, axis: 0, kept, blocks: 1)
                if let b = weights[key + ".bias"] { weights[key + ".bias"] = take(b, axis: 0, kept, blocks: 1) }
                for k in between where plan.steps[k].spec.type == .batchNorm {
                    for name in ["weight", "bias", "running_mean", "running_var"] {
                        let bn = prefix + plan.steps[k].key + "." + name
                        if let t = weights[bn] { weights[bn] = take(t, axis: 0, kept, blocks: 1) }
                    }
                }
                let next = prefix + plan.steps[j].key + ".weight"
                guard let nw = weights[next], nw.shape.count >= 2, nw.shape[1] % width == 0 else {
                    throw ExperimentError("channel pruning: \(next) does not take \(width) channels from \(key)")
                }
                // After flatten, each channel is a block of positions in the next layer's inputs.
                weights[next] = take(nw, axis: 1, kept, blocks: nw.shape[1] / width)
                if step.spec.type == .linear { specs[i].units = keep } else { specs[i].channels = keep }
                summary[key] = "\(width) → \(keep)"
            }
            switch modality {
            case .image: config.image.layers = specs
            case .audio: config.audio.layers = specs
            case .text: config.text.layers = specs
            }
        }
        return (config, weights, summary)
    }

    /// `t` with only the `kept` indices along `axis` (0 or 1), where each index stands for
    /// `blocks` consecutive entries of that axis.
    static func take(_ t: Tensor, axis: Int, _ kept: [Int], blocks: Int) -> Tensor {
        let outer = axis == 0 ? 1 : t.shape[0]
        let along = t.shape[axis]
        let inner = t.count / (outer * along)
        var shape = t.shape
        shape[axis] = kept.count * blocks
        var values: [Float] = []
        values.reserveCapacity(outer * kept.count * blocks * inner)
        for o in 0..<outer {
            for k in kept {
                let start = (o * along + k * blocks) * inner
                values.append(contentsOf: UnsafeBufferPointer(start: t.data + start, count: blocks * inner))
            }
        }
        return Tensor(values, shape: shape)
    }
}
