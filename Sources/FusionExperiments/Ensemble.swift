import FusionCore
import FusionReports
import FusionConfig
import FusionDeploy
import FusionTraining
import Foundation
import FusionData
import FusionTensor

/// Ensembles of finished runs, evaluated like a run: the mean of their class probabilities or a
/// majority vote (ties broken by the mean probability).
public enum Ensemble {
    /// How members combine.
    public enum Method: String, ConfigChoice {
        /// The mean of the runs' probabilities.
        case mean
        /// The majority vote of their predictions.
        case vote
    }

    /// Evaluates `runs` together on `split` and writes metrics.json and predictions.csv to `output`.
    public static func evaluate(runs: [String], method: Method, split: Split = .test, output: String, progress: FusionTraining.Progress) throws -> Evaluation {
        guard !runs.isEmpty else { throw ExperimentError("ensemble: no runs given") }
        var members: [Evaluation] = []
        var classNames: [String] = []
        for run in runs {
            let loaded = try ExperimentRunner.load(run: run, progress: progress)
            let e = try Trainer.evaluate(loaded.model, data: loaded.data, split: split)
            if let first = members.first {
                guard e.ids == first.ids, loaded.data.classNames == classNames else {
                    throw ExperimentError("ensemble: \(run) was evaluated on other samples or classes than \(runs[0])")
                }
            }
            classNames = loaded.data.classNames
            members.append(e)
        }
        guard let first = members.first else { throw ExperimentError("ensemble: no runs given") }
        let c = classNames.count
        var probabilities: [[Float]] = [], predictions: [Int] = []
        for i in first.ids.indices {
            var mean = [Float](repeating: 0, count: c)
            for m in members { for k in 0..<c { mean[k] += m.probabilities[i][k] / Float(members.count) } }
            probabilities.append(mean)
            let meanWinner = mean.indices.max { mean[$0] < mean[$1] } ?? 0
            switch method {
            case .mean: predictions.append(meanWinner)
            case .vote:
                var votes = [Int](repeating: 0, count: c)
                for m in members { votes[m.predictions[i]] += 1 }
                let top = votes.max() ?? 0
                let tied = votes.indices.filter { votes[$0] == top }
                predictions.append(tied.max { mean[$0] < mean[$1] } ?? meanWinner)
            }
        }
        var loss = 0.0
        for (i, label) in first.labels.enumerated() { loss -= log(Double(max(probabilities[i][label], 1e-12))) }
        let metrics = ClassificationMetrics.compute(labels: first.labels, predictions: predictions, probabilities: probabilities,
                                                    classNames: classNames)
        let result = Evaluation(loss: loss / Double(max(first.labels.count, 1)), metrics: metrics, ids: first.ids, labels: first.labels,
                                predictions: predictions, probabilities: probabilities)
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        try writeFileAtomically(try metrics.jsonData(), to: output + "/metrics.json")
        try writePredictions(result, to: output + "/predictions.csv", classNames: classNames)
        let members_ = try JSONSerialization.data(withJSONObject: ["method": method.rawValue, "runs": runs, "split": split.rawValue],
                                                  options: [.prettyPrinted, .sortedKeys])
        try writeFileAtomically(members_, to: output + "/ensemble.json")
        return result
    }
}
