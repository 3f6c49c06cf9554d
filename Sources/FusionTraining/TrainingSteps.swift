import FusionConfig
import FusionCore
import FusionData
import FusionMPI
import FusionNN
import FusionReports
import FusionTensor

/// What the batches of one epoch add up to.
struct EpochTotals {
    /// Summed loss (× samples), correct predictions and samples of the completed steps.
    var lossSum = 0.0, correct = 0, seen = 0
    /// Updates dropped for a non-finite loss or gradient (`training.non_finite: "skip"`).
    var skipped = 0
    /// Seconds spent waiting for batches.
    var dataSeconds = 0.0
}

/// How training steps run: in one process, or data-parallel under mpirun. `train` takes one
/// batch; it returns the loss to log when an update completed (nil between the batches of an
/// accumulated or all-reduced step, and for a skipped update).
protocol StepRunner: AnyObject {
    /// Trains on batch `index` (1-based) of `batches` in `epoch`.
    func train(_ b: MultimodalBatch, index: Int, of batches: Int, epoch: Int, totals: inout EpochTotals) throws -> Float?
    /// Called before an epoch's first batch.
    func startEpoch(_ epoch: Int)
}

extension Trainer {
    /// The error (or skip) for a non-finite loss or gradient at `epoch`, step `index`.
    func nonFinite(_ what: String, epoch: Int, index: Int, totals: inout EpochTotals) throws {
        guard config.training.nonFinite == .skip else {
            throw ExperimentError("training diverged at epoch \(epoch), step \(index): \(what) "
                + "(lower training.lr, set training.grad_clip, or training.non_finite: \"skip\" to drop such batches)")
        }
        totals.skipped += 1
        optimizer.zeroGrad()
    }
}

/// One process: forward, backward (scaled for gradient accumulation), and an optimizer step
/// every `training.grad_accumulation` batches.
final class SingleProcessSteps: StepRunner {
    unowned let trainer: Trainer
    init(_ trainer: Trainer) { self.trainer = trainer }

    func startEpoch(_ epoch: Int) {}

    func train(_ b: MultimodalBatch, index: Int, of batches: Int, epoch: Int, totals: inout EpochTotals) throws -> Float? {
        let accumulate = trainer.config.training.gradAccumulation
        let (logits, loss) = try trainer.forward(b)
        guard loss.item.isFinite else {
            try trainer.nonFinite("the loss is \(loss.item)", epoch: epoch, index: index, totals: &totals)
            return nil
        }
        (accumulate > 1 ? loss / Float(accumulate) : loss).backward()
        if index % accumulate == 0 || index == batches {
            guard trainer.gradientsAreFinite() else {
                try trainer.nonFinite("a gradient is not finite", epoch: epoch, index: index, totals: &totals)
                return nil
            }
            trainer.applyStep()
            trainer.pruner?.advance()
        }
        totals.lossSum += Double(loss.item) * Double(b.size)
        totals.correct += zip(logits.argmax(axis: 1), b.labels).filter { $0 == $1 }.count
        totals.seen += b.size
        return loss.item
    }
}

/// Data parallel under mpirun: every rank computes its slice of each global batch, the
/// gradients are summed across ranks, and every rank takes the same step.
final class DataParallelSteps: StepRunner {
    unowned let trainer: Trainer
    let loader: BatchLoader
    /// Global batch sizes of the current epoch.
    var globalSizes: [Int] = []
    /// This rank's statistics since the last step.
    var pending = Trainer.StepStatistics()
    /// Optimizer steps taken (for the all-reduce cost report).
    var optimizerSteps = 0

    /// Shards `loader`, checks every rank gets a trainable slice, and gives every rank rank 0's weights.
    init(_ trainer: Trainer, loader: BatchLoader) throws {
        self.trainer = trainer
        self.loader = loader
        let t = trainer.config.training
        guard t.batchSize >= Distributed.size else {
            throw ExperimentError("training.batch_size \(t.batchSize) is smaller than the \(Distributed.size) ranks; each rank needs samples of every batch")
        }
        loader.shard = (Distributed.rank, Distributed.size)
        // Every rank's slice of the last, short batch must be trainable on its own.
        let last = loader.batchIndices(epoch: 1).last?.count ?? t.batchSize
        let smallest = last / Distributed.size
        if smallest < 2 && trainer.model.namedModules().contains(where: { $0.module is BatchNorm }) {
            throw ExperimentError("training.batch_size: the last batch of each epoch has \(last) samples, so a rank gets \(smallest) and "
                + "batch_norm needs at least 2; set training.drop_last: true or a batch size that divides the training split differently")
        }
        for (_, tensor) in trainer.model.stateDict() { Distributed.broadcast(tensor.data, count: tensor.count) }
        Distributed.resetCollectiveClock()
    }

    func startEpoch(_ epoch: Int) {
        globalSizes = loader.batchIndices(epoch: epoch).map(\.count)
        pending = Trainer.StepStatistics()
    }

    func train(_ b: MultimodalBatch, index: Int, of batches: Int, epoch: Int, totals: inout EpochTotals) throws -> Float? {
        let accumulate = trainer.config.training.gradAccumulation
        // This rank's share of the global batch's mean loss (the sum over ranks is that mean); an
        // empty slice of a short batch still joins the step's all-reduce.
        if b.size > 0 {
            let (logits, loss) = try trainer.forward(b)
            let finite = loss.item.isFinite
            let share = Float(b.size) / Float(max(globalSizes[index - 1], 1)) / Float(accumulate)
            if finite { (loss * share).backward() }
            pending.add(loss: finite ? Double(loss.item) * Double(b.size) : 0,
                        correct: zip(logits.argmax(axis: 1), b.labels).filter { $0 == $1 }.count, seen: b.size, finite: finite)
        }
        guard index % accumulate == 0 || index == batches else { return nil }
        let step = trainer.allReduceStep(pending)
        pending = Trainer.StepStatistics()
        if step.nonFinite > 0 || !trainer.gradientsAreFinite() {
            let what = "the loss or a gradient is not finite on " + (step.nonFinite > 0 ? "\(Int(step.nonFinite)) rank(s)" : "the summed gradients")
            try trainer.nonFinite(what, epoch: epoch, index: index, totals: &totals)
            return nil
        }
        trainer.applyStep()
        optimizerSteps += 1
        trainer.pruner?.advance()
        totals.lossSum += step.loss
        totals.correct += Int(step.correct)
        totals.seen += Int(step.seen)
        return Float(step.loss / max(step.seen, 1))
    }
}
