import FusionCore
import FusionReports
import FusionConfig
import Foundation
import FusionData
import FusionModels
import FusionMPI
import FusionNN
import FusionOptim
import FusionTensor

/// What a finished run reports.
public struct RunResult {
    /// The run folder.
    public var directory: String
    /// Test metrics of the best checkpoint.
    public var test: ClassificationMetrics
    /// The best validation value of the early-stopping metric and its epoch.
    public var bestValidation: Double, bestEpoch: Int
    /// Trainable size and training wall time.
    public var parameters: Int, trainSeconds: Double
    /// Per-epoch history.
    public var history: [EpochRecord]

    /// A run's outcome.
    package init(directory: String, test: ClassificationMetrics, bestValidation: Double, bestEpoch: Int, parameters: Int, trainSeconds: Double,
                 history: [EpochRecord]) {
        (self.directory, self.test, self.bestValidation, self.bestEpoch) = (directory, test, bestValidation, bestEpoch)
        (self.parameters, self.trainSeconds, self.history) = (parameters, trainSeconds, history)
    }
}

/// Predictions over a split.
public struct Evaluation {
    /// Mean cross-entropy.
    public var loss: Double
    /// The metrics.
    public var metrics: ClassificationMetrics
    /// Sample ids, labels, predicted classes and class probabilities, in loader order.
    public var ids: [String], labels: [Int], predictions: [Int], probabilities: [[Float]]

    /// Predictions over a split.
    package init(loss: Double, metrics: ClassificationMetrics, ids: [String], labels: [Int], predictions: [Int], probabilities: [[Float]]) {
        (self.loss, self.metrics, self.ids, self.labels, self.predictions, self.probabilities) = (loss, metrics, ids, labels, predictions, probabilities)
    }
}

extension Evaluation {
    /// The samples whose id `keep` accepts, with the loss and metrics recomputed on them.
    package func subset(classNames: [String], _ keep: (String) -> Bool) -> Evaluation {
        let kept = ids.indices.filter { keep(ids[$0]) }
        let probs = kept.map { probabilities[$0] }, ys = kept.map { labels[$0] }, preds = kept.map { predictions[$0] }
        let loss = zip(probs, ys).reduce(0.0) { $0 - Foundation.log(Swift.max(Double($1.0[$1.1]), 1e-30)) } / Double(Swift.max(kept.count, 1))
        return Evaluation(loss: loss, metrics: ClassificationMetrics.compute(labels: ys, predictions: preds, probabilities: probs, classNames: classNames),
                          ids: kept.map { ids[$0] }, labels: ys, predictions: preds, probabilities: probs)
    }
}

/// With `evaluation.conformal_alpha`, the validation split is halved by a hash of each sample's
/// id: this half calibrates the conformal sets (and the temperature), the other selects the best
/// epoch. Split conformal needs calibration samples exchangeable with test samples, which the
/// samples that chose the epoch are not (they were chosen to look good).
package func isConformalCalibrationSample(_ id: String) -> Bool {
    Hash64.fnv1a(("conformal-calibration/" + id).utf8) & 1 == 1
}

/// Trains, validates, checkpoints and tests one configuration in one run folder.
public final class Trainer {
    let config: ExperimentConfig
    let data: ExperimentData
    /// The model being trained.
    public let model: MultimodalClassifier
    let run: RunDirectory
    let progress: Progress
    let optimizer: Optimizer
    /// Every parameter, in key order (frozen ones included; clipping skips those without gradients).
    let parameters: [Tensor]
    /// The teacher's targets when distilling.
    let teacher: TeacherTargets?
    /// Gradual magnitude pruning during training (`fusionlab compress --prune`): masks reapplied
    /// after every optimizer step, and only epochs at the final sparsity may become the best.
    public var pruner: MagnitudePruner?
    /// The image and audio encoders' frozen prefix outputs, while `fit` runs.
    var prefixCaches: [FrozenPrefixCache] = []
    /// CPU seconds the process used in the last epoch's training.
    var cpuSecondsOfEpoch = 0.0
    /// Batches per training epoch: epoch-level TensorBoard scalars sit at the global step of the
    /// epoch's end, on the same axis as `train/step_loss`.
    var batchesPerEpoch = 1
    /// The checkpoint `transfer.init_from` resolved to, recorded in checkpoints that leave frozen weights out.
    let initialisedFrom: String?

    /// A trainer for `config` writing to `run`. `initialize` applies `transfer.init_from`; a
    /// resumed run skips it, since its own state replaces the weights.
    public init(config: ExperimentConfig, data: ExperimentData, run: RunDirectory, progress: Progress, initialize: Bool = true) throws {
        self.config = config
        self.data = data
        self.run = run
        self.progress = progress
        do {
            model = try MultimodalClassifier.build(config.model, inputs: data.modelInputs, classes: data.classNames.count, seed: config.seed)
        } catch let error as ModelBuildError {
            throw ExperimentError("model: \(error.description)")
        } catch {
            throw ExperimentError("model: \(error)")
        }
        let runsRoot = URL(fileURLWithPath: run.path).deletingLastPathComponent().deletingLastPathComponent().path
        initialisedFrom = config.transfer.initFrom.isEmpty ? nil
            : ((try? Transfer.resolveCheckpoint(config.transfer.initFrom, runsRoot: runsRoot))
                ?? (try? Transfer.resolveCheckpoint(config.transfer.initFrom))).map { URL(fileURLWithPath: $0).standardizedFileURL.path }
        if initialize && !config.transfer.initFrom.isEmpty {
            try Transfer.initialize(model, config: config, runsRoot: runsRoot, log: progress.log)
        }
        teacher = try TeacherTargets.prepare(config, classNames: data.classNames, runsRoot: runsRoot, progress: progress)
        if !config.transfer.freeze.isEmpty {
            let frozen = model.freeze(config.transfer.freeze)
            progress.log("froze \(frozen.count) parameter tensors matching \(config.transfer.freeze)")
        }
        optimizer = Trainer.makeOptimizer(config, model: model)
        parameters = model.namedParameters().map { $0.tensor }
        if let loader = try? data.loader(.val), let first = loader.batchIndices(epoch: 0).first {
            let sample = loader.makeBatch(Array(first.prefix(1)), epoch: 0)
            let parts = model.costReport(sample: sample).map { "\($0.part) \($0.parameters) params, \($0.macs) MACs" }
            progress.log("model (per sample): " + parts.joined(separator: "; "))
        }
    }

    /// Parameter groups by learning-rate multiplier (first matching pattern wins).
    static func makeOptimizer(_ config: ExperimentConfig, model: Module) -> Optimizer {
        let t = config.training
        var byFactor: [Double: [(key: String, tensor: Tensor)]] = [:]
        for (key, tensor) in model.namedParameters() {
            let factor = config.transfer.lrMultipliers.first { keyMatches(key, pattern: $0.pattern) }?.factor ?? 1
            byFactor[factor, default: []].append((key, tensor))
        }
        let groups = byFactor.keys.sorted(by: >).compactMap { factor -> ParameterGroup? in
            guard let params = byFactor[factor] else { return nil }
            return ParameterGroup(name: "lr×\(factor)", parameters: params, learningRate: Float(t.lr * factor), weightDecay: Float(t.weightDecay))
        }
        switch t.optimizer {
        case .sgd: return SGD(groups: groups, momentum: Float(t.momentum))
        case .adamw: return AdamW(groups: groups)
        case .adam: return Adam(groups: groups)
        }
    }

    /// The learning-rate multiplier of a 0-based epoch.
    func scheduleMultiplier(_ epoch: Int) -> Float {
        let s = config.training.schedule
        let after: LearningRateSchedule
        let remaining = max(config.training.epochs - s.warmupEpochs, 1)
        switch s.kind {
        case .step: after = StepSchedule(stepSize: s.stepSize, gamma: Float(s.gamma))
        case .cosine: after = CosineSchedule(totalSteps: remaining, minFactor: Float(s.minFactor))
        case .constant: after = ConstantSchedule()
        }
        return WarmupSchedule(warmupSteps: s.warmupEpochs, startFactor: 1 / Float(s.warmupEpochs + 1), then: after).multiplier(at: epoch)
    }

    /// Trains from epoch `start` (1-based) with `history` already done, and tests the best weights.
    public func fit(resumed: ResumeState? = nil) throws -> RunResult {
        let t = config.training
        let train = try data.loader(.train)
        var selection = BestSelection(t.earlyStopping, hasValidation: data.caches[.val] != nil, resumed: resumed)
        var history = resumed?.history ?? []
        var trainSeconds = resumed?.trainSeconds ?? 0
        // Only rank 0 writes files; the other ranks keep the best weights in memory for the test.
        let steps: StepRunner = Distributed.splitsBatches ? try DataParallelSteps(self, loader: train) : SingleProcessSteps(self)
        let events = Distributed.isWriter ? try Tracking.logs(for: run, config: config, progress: progress) : nil
        // The resolved experiment, as text on TensorBoard's Text dashboard.
        if resumed == nil { try events?.text("config", "```json\n" + ConfigLoader.resolvedJSON(config) + "```") }
        var bestState: [String: Tensor] = [:]
        let startEpoch = (resumed?.epoch ?? 0) + 1
        if startEpoch > 1 { progress.log("resuming after epoch \(startEpoch - 1)") }
        // Patterns unfrozen in earlier epochs stay unfrozen after a resume.
        for step in config.transfer.unfreeze where step.epoch < startEpoch { model.unfreeze(step.patterns) }
        let noise = t.noise.isActive ? try TrainingNoise(data: data, config: t.noise, seed: config.seed, progress: progress) : nil
        // The frozen leading layers of the image and audio encoders run once per sample, not once per epoch.
        prefixCaches = FrozenPrefixCache.caches(model: model, config: config)
        for cache in prefixCaches { if let line = try cache.refresh(data: data) { progress.log(line) } }
        defer { prefixCaches.forEach { $0.detach() }; prefixCaches = [] }
        pruner?.start()
        var epoch = startEpoch
        while epoch <= t.epochs {
            try unfreeze(atEpoch: epoch)
            let started = Date()
            // The last epoch is always at the final sparsity, so it can be the best.
            if epoch == t.epochs { pruner?.finishRamp() }
            let scale = beginEpoch(epoch)
            let totals = try trainEpoch(epoch, loader: train, steps: steps, noise: noise, events: events, started: started)
            let epochTrainSeconds = Date().timeIntervalSince(started)
            trainSeconds += epochTrainSeconds
            let val = selection.hasValidation ? try validationForSelection() : nil
            var record = epochRecord(epoch, totals: totals, val: val, scale: scale, started: started, trainSeconds: epochTrainSeconds)
            var score = selection.score(val, record: record)
            // Data parallel: rank 0's validation decides for every rank (BatchNorm statistics are
            // per rank, so the ranks' own validation passes may differ slightly).
            if Distributed.splitsBatches { score = broadcastDecision(&record, score: score) }
            history.append(record)
            if selection.consider(epoch: epoch, score: score, history: history, eligible: pruner?.reachedFinal ?? true) {
                if Distributed.isWriter {
                    try RunWeights.save(model, to: run.bestCheckpoint,
                                        metadata: weightMetadata(["epoch": "\(epoch)", "\(selection.metric.rawValue)": "\(score)"]), saveFrozen: t.saveFrozen)
                } else {
                    bestState = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.key, Tensor($0.tensor.scalars, shape: $0.tensor.shape)) })
                }
            }
            try writeEpoch(record, history: history, selection: selection, trainSeconds: trainSeconds, events: events)
            progress.endEpoch(record, metricName: selection.metric.rawValue, best: selection.bestEpoch == epoch)
            if t.earlyStopping.patience > 0 && selection.sinceBest >= t.earlyStopping.patience {
                progress.log("early stopping: no \(selection.metric.rawValue) improvement for \(selection.sinceBest) epochs (best epoch \(selection.bestEpoch))")
                break
            }
            epoch += 1
        }
        return try finishRun(selection: selection, bestState: bestState, history: history, trainSeconds: trainSeconds, events: events,
                             optimizerSteps: (steps as? DataParallelSteps)?.optimizerSteps)
    }

    /// Whether every collected gradient is finite.
    func gradientsAreFinite() -> Bool {
        for p in parameters {
            // A NaN or an infinity anywhere makes the sum non-finite.
            if let g = p.grad, !vectorSum(g.data, g.count).isFinite { return false }
        }
        return true
    }

    /// Logits and the training loss of a batch: cross-entropy with label smoothing, mixed with
    /// a·T²·KL(teacher ‖ student at T) when distilling.
    func forward(_ b: MultimodalBatch) throws -> (logits: Tensor, loss: Tensor) {
        let logits = model(b)
        var loss = crossEntropy(logits, targets: b.labels, labelSmoothing: Float(config.training.labelSmoothing))
        if let teacher {
            let alpha = Float(config.distill.alpha)
            // A teacher with fewer classes (an update that added labels) distils the old ones.
            let student = teacher.classes < logits.shape[1] ? logits.slice(axis: 1, 0..<teacher.classes) : logits
            let kd = klDivergence(studentLogits: student, teacherLogits: try teacher.logits(for: b.ids), temperature: teacher.temperature)
            loss = kd * alpha + loss * (1 - alpha)
        }
        return (logits, loss)
    }

    func applyStep() {
        if config.training.gradClip > 0 {
            clipGradientNorm(parameters, maxNorm: Float(config.training.gradClip))
        }
        optimizer.step()
        optimizer.zeroGrad()
    }

    /// The validation predictions that select the best epoch: the whole split, or with
    /// `evaluation.conformal_alpha` only its selection half (`isConformalCalibrationSample`), so
    /// that the conformal sets are calibrated on samples the model selection never saw.
    func validationForSelection() throws -> Evaluation {
        let val = try evaluate(.val)
        return config.evaluation.conformalAlpha > 0 ? val.subset(classNames: data.classNames) { !isConformalCalibrationSample($0) } : val
    }

    /// Predicts a whole split in evaluation mode (through the frozen prefix cache during training).
    public func evaluate(_ split: Split) throws -> Evaluation {
        let caches = prefixCaches
        return try Trainer.evaluate(model, data: data, split: split, transform: caches.isEmpty ? nil : { b in caches.reduce(b) { $1.apply($0) } })
    }

    /// Predicts a whole split with `model` in evaluation mode; `transform` prepares each batch.
    public static func evaluate(_ model: MultimodalClassifier, data: ExperimentData, split: Split,
                                transform: ((MultimodalBatch) -> MultimodalBatch)? = nil) throws -> Evaluation {
        let loader = try data.loader(split)
        model.eval()
        var ids: [String] = [], labels: [Int] = [], predictions: [Int] = [], probabilities: [[Float]] = []
        var lossSum = 0.0
        for raw in loader.epoch(0) {
            let b = transform?(raw) ?? raw
            let logits = withNoGrad { model(b) }
            lossSum += Double(crossEntropy(logits, targets: b.labels).item) * Double(b.size)
            let probs = logits.softmax(axis: 1)
            let c = logits.shape[1]
            for i in 0..<b.size { probabilities.append(Array(UnsafeBufferPointer(start: probs.data + i * c, count: c))) }
            predictions += logits.argmax(axis: 1)
            labels += b.labels
            ids += b.ids
        }
        let metrics = ClassificationMetrics.compute(labels: labels, predictions: predictions, probabilities: probabilities,
                                                    classNames: data.classNames)
        return Evaluation(loss: lossSum / Double(max(labels.count, 1)), metrics: metrics, ids: ids, labels: labels,
                          predictions: predictions, probabilities: probabilities)
    }
}

/// Writes predictions.csv (`predictionsCSV`).
package func writePredictions(_ e: Evaluation, to path: String, classNames: [String]) throws {
    try writeTextAtomically(predictionsCSV(e, classNames: classNames), to: path)
}

/// An evaluation as CSV: id, label, predicted, then one probability column per class (`p_<class>`);
/// fields with commas, quotes or line breaks are quoted (RFC 4180).
public func predictionsCSV(_ e: Evaluation, classNames: [String]) -> String {
    func field(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }
    var csv = "id,label,predicted," + classNames.map { field("p_" + $0) }.joined(separator: ",") + "\n"
    for i in e.ids.indices {
        let probs = e.probabilities[i].map { String(format: "%.6f", $0) }.joined(separator: ",")
        csv += "\(field(e.ids[i])),\(field(classNames[e.labels[i]])),\(field(classNames[e.predictions[i]])),\(probs)\n"
    }
    return csv
}

/// The rule that picks the best epoch: the better selection metric (by more than `minDelta`);
/// a tie (within `minDelta`) goes to the lower validation loss, and an equal loss to the later
/// epoch — never simply to the first.
public struct EpochSelection: Sendable {
    /// Whether lower scores are better (the metric is a loss).
    public let lowerIsBetter: Bool
    /// The smallest change that counts as an improvement.
    public let minDelta: Double

    /// A rule.
    public init(lowerIsBetter: Bool, minDelta: Double) { self.lowerIsBetter = lowerIsBetter; self.minDelta = minDelta }

    /// Whether an epoch (`score`, `valLoss`) replaces the best so far (`best`, `bestLoss`), and
    /// whether its score itself improved.
    public func compare(score: Double, valLoss: Double, best: Double, bestLoss: Double) -> (replaces: Bool, improved: Bool) {
        guard score.isFinite else { return (false, false) }
        let improved = lowerIsBetter ? score < best - minDelta : score > best + minDelta
        let tied = !improved && Swift.abs(score - best) <= minDelta && (valLoss.isNaN || !(valLoss > bestLoss))
        return (improved || tied, improved)
    }
}
