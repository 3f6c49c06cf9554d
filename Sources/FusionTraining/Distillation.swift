import FusionCore
import FusionReports
import FusionConfig
import Foundation
import FusionData
import FusionModels
import FusionNN
import FusionTensor

/// Knowledge distillation (`distill` in an experiment): the teacher's softened predictions for
/// every sample of the student's dataset, computed once before training (eval mode, the
/// teacher's own preprocessing and modalities) and looked up by sample id for each batch, so
/// the teacher never reruns per epoch. A student may read fewer modalities than its teacher:
/// each teacher reads the dataset through its own run's settings.
///
/// An ensemble of teachers gives the mean of their probabilities at the temperature T, stored
/// as logits `T · log p̄`, for which `softmax(z / T) = p̄` exactly; the loss is then PyTorch's
/// `kl_div(log_softmax(s/T), softmax(t/T), reduction="batchmean") · T²` (`klDivergence`).
/// Teacher logits come from unaugmented inputs, even when the student's are augmented.
public struct TeacherTargets {
    /// The teachers' run folders.
    public let teachers: [String]
    /// The temperature.
    public let temperature: Float
    private let logitsByID: [String: [Float]]
    /// The teachers' classes: the student's first `classes` logits are distilled.
    public let classes: Int

    /// The teacher targets `config.distill` asks for (nil without a teacher). Teachers named
    /// by experiment file are their latest finished run under `runsRoot` (then `runs`).
    public static func prepare(_ config: ExperimentConfig, classNames: [String], runsRoot: String,
                               progress: Progress) throws -> TeacherTargets? {
        let d = config.distill
        guard !d.teacher.isEmpty else { return nil }
        let temperature = Float(d.temperature)
        var sums: [String: [Double]] = [:]
        var folders: [String] = []
        var teacherClasses: Int?
        for source in d.teacher {
            let folder = try runFolder(source, runsRoot: runsRoot)
            folders.append(folder)
            let teacher = try ExperimentRunner.load(run: folder, datasetPath: config.dataset.path, progress: Progress(quiet: true))
            // The teacher's own labels must be this experiment's, or their first part (a student
            // whose head grew with new labels learns without forgetting on the old ones).
            let own = ExperimentRunner.recordedClasses(folder) ?? teacher.data.classNames
            guard own.count <= classNames.count, Array(classNames.prefix(own.count)) == own,
                  teacherClasses == nil || teacherClasses == own.count else {
                throw ExperimentError("distill.teacher: \(folder) was trained on the labels \(own), "
                                      + "this experiment has \(classNames) (a teacher's labels must be these or their first ones)")
            }
            teacherClasses = own.count
            var count = 0
            for split in Split.allCases where teacher.data.caches[split] != nil {
                let loader = try teacher.data.loader(split, training: false)
                for batch in loader.epoch(0) {
                    let logits = withNoGrad { teacher.model(batch) }
                    let probabilities = (logits / temperature).softmax(axis: 1)
                    let c = logits.shape[1]
                    for (row, id) in batch.ids.enumerated() {
                        var sum = sums[id] ?? [Double](repeating: 0, count: c)
                        for k in 0..<c { sum[k] += Double(probabilities.data[row * c + k]) }
                        sums[id] = sum
                    }
                    count += batch.size
                }
            }
            progress.log("distill: teacher \(folder) scored \(count) samples at temperature \(d.temperature)")
        }
        // The student's own threads again (loading a teacher applies its run's setting).
        Threading.setThreads(config.training.threads)
        let k = Double(d.teacher.count)
        var logitsByID: [String: [Float]] = [:]
        for (id, sum) in sums {
            logitsByID[id] = sum.map { Float(Double(temperature) * log(max($0 / k, 1e-30))) }
        }
        return TeacherTargets(teachers: folders, temperature: temperature, logitsByID: logitsByID, classes: teacherClasses ?? classNames.count)
    }

    /// The run folder a `distill.teacher` entry names: a run folder, or an experiment file's
    /// latest finished run.
    static func runFolder(_ source: String, runsRoot: String) throws -> String {
        if source.hasSuffix(".safetensors") {
            throw ExperimentError("distill.teacher: \(source) is a checkpoint; name its run folder (the teacher's settings are read from it)")
        }
        let checkpoint: String
        do { checkpoint = try Transfer.resolveCheckpoint(source, runsRoot: runsRoot) } catch where runsRoot != "runs" {
            checkpoint = try Transfer.resolveCheckpoint(source, runsRoot: "runs")
        } catch let error as ExperimentError {
            throw ExperimentError(error.description.replacingOccurrences(of: "transfer.init_from", with: "distill.teacher"))
        }
        let folder = URL(fileURLWithPath: checkpoint).deletingLastPathComponent().deletingLastPathComponent().path
        guard RunDirectory(path: folder).status == .finished else {
            throw ExperimentError("distill.teacher: \(folder) is not a finished run")
        }
        return folder
    }

    /// The teacher logits `[B, C]` of a batch's samples.
    public func logits(for ids: [String]) throws -> Tensor {
        var values = [Float]()
        values.reserveCapacity(ids.count * classes)
        for id in ids {
            guard let row = logitsByID[id] else { throw ExperimentError("distill.teacher: no teacher prediction for sample \"\(id)\"") }
            values += row
        }
        return Tensor(values, shape: [ids.count, classes])
    }
}
