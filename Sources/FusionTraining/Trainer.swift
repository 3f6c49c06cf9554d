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
        let hasVal = data.caches[.val] != nil
        let metric = t.earlyStopping.metric, metricName = metric.rawValue
        // Without a validation split the training loss selects (lower is better).
        let lowerIsBetter = metric.lowerIsBetter || !hasVal
        var history = resumed?.history ?? []
        var best = resumed?.bestValue ?? (lowerIsBetter ? Double.infinity : -Double.infinity)
        var bestEpoch = resumed?.bestEpoch ?? 0
        var sinceBest = resumed?.epochsSinceBest ?? 0
        var trainSeconds = resumed?.trainSeconds ?? 0
        // Data parallel under mpirun: every rank computes its slice of each global batch, the
        // gradients are summed across ranks, and every rank takes the same step. Only rank 0
        // writes files; the others keep the best weights in memory for the test.
        let parallel = Distributed.splitsBatches
        let writes = Distributed.isWriter
        if parallel {
            guard t.batchSize >= Distributed.size else {
                throw ExperimentError("training.batch_size \(t.batchSize) is smaller than the \(Distributed.size) ranks; each rank needs samples of every batch")
            }
            train.shard = (Distributed.rank, Distributed.size)
            // Every rank's slice of the last, short batch must be trainable on its own.
            let last = train.batchIndices(epoch: 1).last?.count ?? t.batchSize
            let smallest = last / Distributed.size
            if smallest < 2 && model.namedModules().contains(where: { $0.module is BatchNorm }) {
                throw ExperimentError("training.batch_size: the last batch of each epoch has \(last) samples, so a rank gets \(smallest) and "
                    + "batch_norm needs at least 2; set training.drop_last: true or a batch size that divides the training split differently")
            }
            for (_, tensor) in model.stateDict() { Distributed.broadcast(tensor.data, count: tensor.count) }
            Distributed.resetCollectiveClock()
        }
        var bestState: [String: Tensor] = [:]
        var optimizerSteps = 0
        var rankZeroScore: Double?
        let events = writes ? try TensorBoardWriter(directory: run.path + "/events") : nil
        let startEpoch = (resumed?.epoch ?? 0) + 1
        if startEpoch > 1 { progress.log("resuming after epoch \(startEpoch - 1)") }
        // Patterns unfrozen in earlier epochs stay unfrozen after a resume.
        for step in config.transfer.unfreeze where step.epoch < startEpoch { model.unfreeze(step.patterns) }
        let noise = t.noise.isActive ? try TrainingNoise(data: data, config: t.noise, seed: config.seed, progress: progress) : nil
        // The frozen leading layers of the image and audio encoders run once per sample, not once per epoch.
        prefixCaches = FrozenPrefixCache.caches(model: model, config: config)
        for cache in prefixCaches { if let line = try cache.refresh(data: data) { progress.log(line) } }
        defer { prefixCaches.forEach { $0.detach() }; prefixCaches = [] }
        var epoch = startEpoch
        pruner?.start()
        while epoch <= t.epochs {
            for step in config.transfer.unfreeze where step.epoch == epoch {
                let keys = model.unfreeze(step.patterns)
                progress.log("epoch \(epoch): unfroze \(keys.count) parameter tensors matching \(step.patterns)")
                for cache in prefixCaches { if let line = try cache.refresh(data: data) { progress.log("epoch \(epoch): " + line) } }
            }
            let started = Date()
            // The last epoch is always at the final sparsity, so it can be the best.
            if epoch == t.epochs { pruner?.finishRamp() }
            model.train()
            var dropoutSeeds = SeededGenerator.derived(seed: config.seed, stream: "dropout-\(epoch)")
            // Each rank draws its own dropout masks (rank 0 those of a single process).
            model.reseedAll(dropoutSeeds.next() &+ UInt64(Distributed.rank) &* 0x9E37_79B9_7F4A_7C15)
            let scale = scheduleMultiplier(epoch - 1)
            optimizer.learningRateScale = scale
            var lossSum = 0.0, correct = 0, seen = 0, batchIndex = 0, skipped = 0
            let batches = train.batchCount
            progress.startEpoch(epoch, of: t.epochs, batches: batches)
            optimizer.zeroGrad()
            let globalSizes = parallel ? train.batchIndices(epoch: epoch).map(\.count) : []
            var pending = StepStatistics()
            let cpuAtStart = processCPUSeconds()
            var dataSeconds = 0.0
            let batchesOfEpoch = train.epoch(epoch).makeIterator()
            while true {
                let waited = Date()
                guard let clean = batchesOfEpoch.next() else { break }
                batchIndex += 1
                let noisy = try noise?.apply(clean, epoch: epoch, batch: batchIndex) ?? clean
                let b = prefixCaches.reduce(noisy) { $1.apply($0) }
                dataSeconds += Date().timeIntervalSince(waited)
                if parallel {
                    // This rank's share of the global batch's mean loss (the sum over ranks is that
                    // mean); an empty slice of a short batch still joins the step's all-reduce.
                    if b.size > 0 {
                        let (logits, loss) = try forward(b)
                        let finite = loss.item.isFinite
                        let share = Float(b.size) / Float(max(globalSizes[batchIndex - 1], 1)) / Float(t.gradAccumulation)
                        if finite { (loss * share).backward() }
                        pending.add(loss: finite ? Double(loss.item) * Double(b.size) : 0,
                                    correct: zip(logits.argmax(axis: 1), b.labels).filter { $0 == $1 }.count, seen: b.size, finite: finite)
                    }
                    guard batchIndex % t.gradAccumulation == 0 || batchIndex == batches else { continue }
                    let step = allReduceStep(pending)
                    pending = StepStatistics()
                    if step.nonFinite > 0 || !gradientsAreFinite() {
                        if t.nonFinite == .skip { skipped += 1; optimizer.zeroGrad(); continue }
                        throw ExperimentError("training diverged at epoch \(epoch), step \(batchIndex): the loss or a gradient is not finite on "
                            + "\(step.nonFinite > 0 ? "\(Int(step.nonFinite)) rank(s)" : "the summed gradients") "
                            + "(lower training.lr, set training.grad_clip, or training.non_finite: \"skip\" to drop such batches)")
                    }
                    applyStep()
                    optimizerSteps += 1
                    pruner?.advance()
                    lossSum += step.loss
                    correct += Int(step.correct)
                    seen += Int(step.seen)
                    try events?.scalar("train/step_loss", Float(step.loss / max(step.seen, 1)), step: (epoch - 1) * batches + batchIndex)
                    progress.batch(batchIndex, loss: lossSum / Double(max(seen, 1)), samples: seen, since: started)
                    continue
                }
                let (logits, loss) = try forward(b)
                guard loss.item.isFinite else {
                    if t.nonFinite == .skip { skipped += 1; optimizer.zeroGrad(); continue }
                    throw ExperimentError("training diverged at epoch \(epoch), step \(batchIndex): the loss is \(loss.item) "
                        + "(lower training.lr, set training.grad_clip, or training.non_finite: \"skip\" to drop such batches)")
                }
                (t.gradAccumulation > 1 ? loss / Float(t.gradAccumulation) : loss).backward()
                if batchIndex % t.gradAccumulation == 0 || batchIndex == batches {
                    guard gradientsAreFinite() else {
                        if t.nonFinite == .skip { skipped += 1; optimizer.zeroGrad(); continue }
                        throw ExperimentError("training diverged at epoch \(epoch), step \(batchIndex): a gradient is not finite "
                            + "(lower training.lr, set training.grad_clip, or training.non_finite: \"skip\" to drop such batches)")
                    }
                    applyStep()
                    pruner?.advance()
                }
                lossSum += Double(loss.item) * Double(b.size)
                correct += zip(logits.argmax(axis: 1), b.labels).filter { $0 == $1 }.count
                seen += b.size
                try events?.scalar("train/step_loss", loss.item, step: (epoch - 1) * batches + batchIndex)
                progress.batch(batchIndex, loss: lossSum / Double(max(seen, 1)), samples: seen, since: started)
            }
            let epochTrainSeconds = Date().timeIntervalSince(started)
            let cpuPercent = 100 * (processCPUSeconds() - cpuAtStart) / max(epochTrainSeconds, 1e-9)
            trainSeconds += epochTrainSeconds
            if skipped > 0 { progress.log("epoch \(epoch): skipped \(skipped) batch update(s) with a non-finite loss or gradient") }
            guard seen > 0 else { throw ExperimentError("training diverged at epoch \(epoch): every batch had a non-finite loss") }
            let val = hasVal ? try evaluate(.val) : nil
            var record = EpochRecord(epoch: epoch, trainLoss: lossSum / Double(max(seen, 1)), trainAccuracy: Double(correct) / Double(max(seen, 1)),
                                     valLoss: val?.loss ?? .nan, valAccuracy: val?.metrics.accuracy ?? .nan,
                                     valF1Macro: val?.metrics.f1Macro ?? .nan, lrScale: Double(scale),
                                     seconds: Date().timeIntervalSince(started))
            record.samplesPerSecond = Double(seen) / max(epochTrainSeconds, 1e-9)
            record.cpuPercent = cpuPercent
            record.peakRSSMiB = peakResidentMiB()
            record.dataSeconds = dataSeconds
            record.computeSeconds = epochTrainSeconds - dataSeconds
            // Data parallel: rank 0's validation decides for every rank (BatchNorm statistics are
            // per rank, so the ranks' own validation passes may differ slightly).
            if parallel {
                var decided = [record.valLoss, record.valAccuracy, record.valF1Macro,
                               val.map { metric == .loss ? $0.loss : ($0.metrics.value(named: metricName) ?? $0.metrics.accuracy) } ?? record.trainLoss]
                Distributed.broadcast(&decided)
                (record.valLoss, record.valAccuracy, record.valF1Macro) = (decided[0], decided[1], decided[2])
                rankZeroScore = decided[3]
            }
            history.append(record)
            let score = rankZeroScore ?? (val.map { metric == .loss ? $0.loss : ($0.metrics.value(named: metricName) ?? $0.metrics.accuracy) } ?? record.trainLoss)
            let bestLoss = bestEpoch >= 1 && bestEpoch <= history.count ? history[bestEpoch - 1].valLoss : .infinity
            let (replaces, improved) = EpochSelection(lowerIsBetter: lowerIsBetter, minDelta: t.earlyStopping.minDelta)
                .compare(score: score, valLoss: record.valLoss, best: best, bestLoss: bestLoss)
            if pruner?.reachedFinal ?? true, replaces || bestEpoch == 0 {
                if improved || bestEpoch == 0 { best = score }
                bestEpoch = epoch; sinceBest = 0
                if writes {
                    try RunWeights.save(model, to: run.bestCheckpoint, metadata: weightMetadata(["epoch": "\(epoch)", "\(metricName)": "\(score)"]),
                                        saveFrozen: t.saveFrozen)
                } else {
                    bestState = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.key, Tensor($0.tensor.scalars, shape: $0.tensor.shape)) })
                }
            } else {
                sinceBest += 1
            }
            var scalars = [("train/loss", record.trainLoss), ("train/accuracy", record.trainAccuracy), ("val/loss", record.valLoss),
                           ("val/accuracy", record.valAccuracy), ("val/f1_macro", record.valF1Macro), ("lr_scale", record.lrScale),
                           ("machine/samples_per_second", record.samplesPerSecond), ("machine/cpu_percent", record.cpuPercent),
                           ("machine/peak_rss_mib", record.peakRSSMiB), ("machine/data_seconds", record.dataSeconds),
                           ("machine/compute_seconds", record.computeSeconds)]
            // The learning rate each parameter group actually used.
            for group in optimizer.groups { scalars.append(("lr/\(group.name)", Double(group.learningRate * scale))) }
            for (tag, value) in scalars where !value.isNaN {
                try events?.scalar(tag, Float(value), step: epoch)
            }
            if writes {
                try events?.flush()
                try run.writeHistory(history)
                if t.save != .best {
                    try RunWeights.save(model, to: run.lastCheckpoint, metadata: weightMetadata(["epoch": "\(epoch)"]), saveFrozen: t.saveFrozen)
                }
                if t.save == .all {
                    try RunWeights.save(model, to: run.checkpoints + "/epoch-\(epoch).safetensors", metadata: weightMetadata(["epoch": "\(epoch)"]),
                                        saveFrozen: t.saveFrozen)
                }
                try ResumeState(epoch: epoch, history: history, bestValue: best, bestEpoch: bestEpoch, epochsSinceBest: sinceBest,
                                trainSeconds: trainSeconds).save(model: model, optimizer: optimizer, to: run.resumeState)
            }
            progress.endEpoch(record, metricName: metricName, best: bestEpoch == epoch)
            if t.earlyStopping.patience > 0 && sinceBest >= t.earlyStopping.patience {
                progress.log("early stopping: no \(metricName) improvement for \(sinceBest) epochs (best epoch \(bestEpoch))")
                break
            }
            epoch += 1
        }
        // Test the best weights, through the whole encoder again.
        prefixCaches.forEach { $0.detach() }
        prefixCaches = []
        if writes { try RunWeights.load(model, from: run.bestCheckpoint) } else if !bestState.isEmpty { try model.load(bestState, source: "best epoch") }
        let test = try evaluate(data.caches[.test] != nil ? .test : (hasVal ? .val : .train))
        for (tag, value) in [("test/accuracy", test.metrics.accuracy), ("test/f1_macro", test.metrics.f1Macro), ("test/loss", test.loss)] where value.isFinite {
            try events?.scalar(tag, Float(value), step: bestEpoch)
        }
        try events?.close()
        if parallel {
            // What the all-reduce cost: the cost model's inputs (Benchmarks/README.md).
            let trainable = parameters.filter(\.requiresGrad)
            let bytes = 4 * (trainable.reduce(0) { $0 + $1.count } + trainable.count + 4)
            let steps = max(optimizerSteps, 1)
            progress.log(String(format: "all-reduce: %.3f s in %d steps (%.2f ms a step) of %d bytes each, %d ranks",
                                Distributed.collectiveSeconds, steps, 1000 * Distributed.collectiveSeconds / Double(steps), bytes, Distributed.size))
            if writes {
                try run.updateManifest { $0.allreduce = .init(seconds: Distributed.collectiveSeconds, steps: steps, bytesPerStep: bytes, worldSize: Distributed.size) }
            }
        }
        guard writes else {
            return RunResult(directory: run.path, test: test.metrics, bestValidation: best, bestEpoch: bestEpoch,
                             parameters: model.parameterCount, trainSeconds: trainSeconds, history: history)
        }

        let testedSplit: Split = data.caches[.test] != nil ? .test : (hasVal ? .val : .train)
        var report = (try JSONSerialization.jsonObject(with: try test.metrics.jsonData()) as? [String: Any]) ?? [:]
        report["evaluated_split"] = testedSplit.rawValue
        report["selection"] = ["metric": hasVal ? metricName : "train_loss", "split": hasVal ? "val" : "train", "epoch": bestEpoch,
                               "value": best,
                               "rule": "best \(hasVal ? metricName : "train_loss"); ties go to the lower validation loss, then the later epoch"]
        try writeFileAtomically(try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys]),
                                to: run.path + "/metrics.json")
        try writePredictions(test, to: run.path + "/predictions.csv", classNames: data.classNames)
        // training.save "best": the finished run keeps its best weights only.
        if t.save == .best { try? FileManager.default.removeItem(atPath: run.resumeState) }
        return RunResult(directory: run.path, test: test.metrics, bestValidation: best, bestEpoch: bestEpoch,
                         parameters: model.parameterCount, trainSeconds: trainSeconds, history: history)
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
