import FusionConfig
import FusionCore
import FusionData
import FusionMPI
import FusionNN
import FusionReports
import FusionTensor
import Foundation

/// The parts of `Trainer.fit`: what happens at an epoch's start, its batches, its record, the
/// files it writes, and the test of the best weights at the end.
extension Trainer {
    /// `transfer.unfreeze` steps due at `epoch`, and the frozen-prefix caches they shorten.
    func unfreeze(atEpoch epoch: Int) throws {
        for step in config.transfer.unfreeze where step.epoch == epoch {
            let keys = model.unfreeze(step.patterns)
            progress.log("epoch \(epoch): unfroze \(keys.count) parameter tensors matching \(step.patterns)")
            for cache in prefixCaches { if let line = try cache.refresh(data: data) { progress.log("epoch \(epoch): " + line) } }
        }
    }

    /// Training mode, the epoch's dropout seeds (each rank its own) and learning-rate multiplier, which it returns.
    func beginEpoch(_ epoch: Int) -> Float {
        model.train()
        var dropoutSeeds = SeededGenerator.derived(seed: config.seed, stream: "dropout-\(epoch)")
        model.reseedAll(dropoutSeeds.next() &+ UInt64(Distributed.rank) &* 0x9E37_79B9_7F4A_7C15)
        let scale = scheduleMultiplier(epoch - 1)
        optimizer.learningRateScale = scale
        return scale
    }

    /// The epoch's batches through `steps`, with training noise and the frozen-prefix caches applied.
    func trainEpoch(_ epoch: Int, loader: BatchLoader, steps: StepRunner, noise: TrainingNoise?, events: TrainingLogs?,
                    started: Date) throws -> EpochTotals {
        let batches = loader.batchCount
        batchesPerEpoch = max(batches, 1)
        progress.startEpoch(epoch, of: config.training.epochs, batches: batches)
        optimizer.zeroGrad()
        steps.startEpoch(epoch)
        var totals = EpochTotals()
        var index = 0
        let cpuAtStart = processCPUSeconds()
        let batchesOfEpoch = loader.epoch(epoch).makeIterator()
        while true {
            let waited = Date()
            guard let clean = batchesOfEpoch.next() else { break }
            index += 1
            let noisy = try noise?.apply(clean, epoch: epoch, batch: index) ?? clean
            let b = prefixCaches.reduce(noisy) { $1.apply($0) }
            totals.dataSeconds += Date().timeIntervalSince(waited)
            guard let loss = try steps.train(b, index: index, of: batches, epoch: epoch, totals: &totals) else { continue }
            try events?.scalar("train/step_loss", loss, step: (epoch - 1) * batches + index)
            progress.batch(index, loss: totals.lossSum / Double(max(totals.seen, 1)), samples: totals.seen, since: started)
        }
        cpuSecondsOfEpoch = processCPUSeconds() - cpuAtStart
        if totals.skipped > 0 { progress.log("epoch \(epoch): skipped \(totals.skipped) batch update(s) with a non-finite loss or gradient") }
        guard totals.seen > 0 else { throw ExperimentError("training diverged at epoch \(epoch): every batch had a non-finite loss") }
        return totals
    }

    /// The epoch's row of history.csv.
    func epochRecord(_ epoch: Int, totals: EpochTotals, val: Evaluation?, scale: Float, started: Date, trainSeconds: Double) -> EpochRecord {
        let n = Double(max(totals.seen, 1))
        var record = EpochRecord(epoch: epoch, trainLoss: totals.lossSum / n, trainAccuracy: Double(totals.correct) / n,
                                 valLoss: val?.loss ?? .nan, valAccuracy: val?.metrics.accuracy ?? .nan,
                                 valF1Macro: val?.metrics.f1Macro ?? .nan, lrScale: Double(scale), seconds: Date().timeIntervalSince(started))
        record.samplesPerSecond = Double(totals.seen) / max(trainSeconds, 1e-9)
        record.cpuPercent = 100 * cpuSecondsOfEpoch / max(trainSeconds, 1e-9)
        record.peakRSSMiB = peakResidentMiB()
        record.dataSeconds = totals.dataSeconds
        record.computeSeconds = trainSeconds - totals.dataSeconds
        return record
    }

    /// Rank 0's validation figures and selection score, given to every rank.
    func broadcastDecision(_ record: inout EpochRecord, score: Double) -> Double {
        var decided = [record.valLoss, record.valAccuracy, record.valF1Macro, score]
        Distributed.broadcast(&decided)
        (record.valLoss, record.valAccuracy, record.valF1Macro) = (decided[0], decided[1], decided[2])
        return decided[3]
    }

    /// The epoch's TensorBoard scalars, history.csv, last/every-epoch checkpoints and resume state (on the writing rank).
    func writeEpoch(_ record: EpochRecord, history: [EpochRecord], selection: BestSelection, trainSeconds: Double,
                    events: TrainingLogs?) throws {
        let t = config.training, epoch = record.epoch
        var scalars = [("train/loss", record.trainLoss), ("train/accuracy", record.trainAccuracy), ("val/loss", record.valLoss),
                       ("val/accuracy", record.valAccuracy), ("val/f1_macro", record.valF1Macro), ("lr_scale", record.lrScale),
                       ("machine/samples_per_second", record.samplesPerSecond), ("machine/cpu_percent", record.cpuPercent),
                       ("machine/peak_rss_mib", record.peakRSSMiB), ("machine/data_seconds", record.dataSeconds),
                       ("machine/compute_seconds", record.computeSeconds)]
        // The learning rate each parameter group actually used.
        for group in optimizer.groups { scalars.append(("lr/\(group.name)", Double(group.learningRate * Float(record.lrScale)))) }
        for (tag, value) in scalars where !value.isNaN {
            try events?.scalar(tag, Float(value), step: epoch * batchesPerEpoch)
        }
        guard Distributed.isWriter else { return }
        // An interrupt waits while an epoch is being saved (InterruptWatch takes the same lock),
        // so history.csv, the resume state and the points sent to MLflow always agree.
        EpochSave.lock.lock()
        defer { EpochSave.lock.unlock() }
        try run.writeHistory(history)
        if t.save != .best {
            try RunWeights.save(model, to: run.lastCheckpoint, metadata: weightMetadata(["epoch": "\(epoch)"]), saveFrozen: t.saveFrozen)
        }
        if t.save == .all {
            try RunWeights.save(model, to: run.checkpoints + "/epoch-\(epoch).safetensors", metadata: weightMetadata(["epoch": "\(epoch)"]),
                                saveFrozen: t.saveFrozen)
        }
        try ResumeState(epoch: epoch, history: history, bestValue: selection.best, bestEpoch: selection.bestEpoch,
                        epochsSinceBest: selection.sinceBest, trainSeconds: trainSeconds).save(model: model, optimizer: optimizer, to: run.resumeState)
        // Only now, with the epoch saved for a resume, do its points leave: an interrupt before
        // this line resumes at this epoch, which then logs them once.
        try events?.flush()
    }

    /// Tests the best weights (through the whole encoder again), writes metrics.json and
    /// predictions.csv, and reports the all-reduce cost of a data-parallel run.
    func finishRun(selection: BestSelection, bestState: [String: Tensor], history: [EpochRecord], trainSeconds: Double,
                   events: TrainingLogs?, optimizerSteps: Int?) throws -> RunResult {
        let writes = Distributed.isWriter, hasVal = selection.hasValidation
        prefixCaches.forEach { $0.detach() }
        prefixCaches = []
        if writes { try RunWeights.load(model, from: run.bestCheckpoint) } else if !bestState.isEmpty { try model.load(bestState, source: "best epoch") }
        let testedSplit: Split = data.caches[.test] != nil ? .test : (hasVal ? .val : .train)
        let test = try evaluate(testedSplit)
        for (tag, value) in [("test/accuracy", test.metrics.accuracy), ("test/f1_macro", test.metrics.f1Macro), ("test/loss", test.loss)] where value.isFinite {
            try events?.scalar(tag, Float(value), step: selection.bestEpoch * batchesPerEpoch)
        }
        try events?.close()
        if let optimizerSteps {
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
        let result = RunResult(directory: run.path, test: test.metrics, bestValidation: selection.best, bestEpoch: selection.bestEpoch,
                               parameters: model.parameterCount, trainSeconds: trainSeconds, history: history)
        guard writes else { return result }
        let metricName = selection.metric.rawValue
        var report = (try JSONSerialization.jsonObject(with: try test.metrics.jsonData()) as? [String: Any]) ?? [:]
        report["evaluated_split"] = testedSplit.rawValue
        report["selection"] = ["metric": hasVal ? metricName : "train_loss", "split": hasVal ? "val" : "train", "epoch": selection.bestEpoch,
                               "value": selection.best,
                               "rule": "best \(hasVal ? metricName : "train_loss"); ties go to the lower validation loss, then the later epoch"]
        for (key, value) in try calibrationReport(test, testedSplit: testedSplit, hasValidation: hasVal) { report[key] = value }
        try writeFileAtomically(try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys]),
                                to: run.file(RunFile.metrics))
        try writePredictions(test, to: run.file(RunFile.predictions), classNames: data.classNames)
        // training.save "best": the finished run keeps its best weights only.
        if config.training.save == .best { try? FileManager.default.removeItem(atPath: run.resumeState) }
        return result
    }

    /// metrics.json's `calibration` block (the temperature fitted on validation) and, with
    /// `evaluation.conformal_alpha`, its `conformal` block (sets calibrated on validation, with
    /// the temperature when `evaluation.calibrate`), both measured on the tested split.
    func calibrationReport(_ test: Evaluation, testedSplit: Split, hasValidation: Bool) throws -> [String: Any] {
        let alpha = config.evaluation.conformalAlpha
        var validation = hasValidation && testedSplit != .val ? try evaluate(.val) : nil
        // Conformal sets (and then the temperature) are calibrated on the validation half that did not select the epoch.
        if alpha > 0 { validation = validation?.subset(classNames: data.classNames, isConformalCalibrationSample) }
        func doubles(_ e: Evaluation) -> [[Double]] { e.probabilities.map { $0.map(Double.init) } }
        let calibration = Calibration.measure(probabilities: doubles(test), labels: test.labels,
                                              validation: validation.map { (doubles($0), $0.labels) })
        var out: [String: Any] = ["calibration": try jsonObject(calibration)]
        if alpha > 0 {
            guard let validation else {
                progress.log("evaluation.conformal_alpha: no validation split to calibrate the sets on; no conformal block")
                return out
            }
            let t = config.evaluation.calibrate ? calibration.temperature : 1
            func scaled(_ e: Evaluation) -> [[Double]] { doubles(e).map { Calibration.scale($0, temperature: t) } }
            let sets = ConformalSets.measure(probabilities: scaled(test), labels: test.labels, calibration: (scaled(validation), validation.labels),
                                             alpha: alpha, split: "val (calibration half)")
            out["conformal"] = try jsonObject(sets)
            progress.log(String(format: "conformal sets (α %.2f, calibrated on %d validation samples): coverage %.3f, mean size %.2f on %@",
                                alpha, sets.calibrationSamples, sets.coverage, sets.meanSetSize, testedSplit.rawValue))
        }
        return out
    }
}

/// A Codable value as a JSON object tree.
func jsonObject<T: Encodable>(_ value: T) throws -> Any {
    try JSONSerialization.jsonObject(with: JSONEncoder().encode(value))
}
