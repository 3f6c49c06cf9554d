import ArgumentParser
import Foundation
import FusionExperiments

/// `fusionlab explain <run or comparison dir>`: exact Shapley values of each modality.
struct ExplainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "What each modality contributes: exact Shapley values (accuracy, log-likelihood, per class) over every subset of modalities.",
        discussion: """
        Evaluates the model on the test split with every subset of its modalities present (the others marked absent, \
        no retraining): 2^M evaluations. Writes attribution.json and attribution.svg into each run folder; for a \
        comparison folder, every finished run, then the mean per variant.
        """)
    @Argument(help: "A run folder or a comparison folder.", completion: .directory) var target: String
    @OptionGroup var output: OutputOptions

    func run() throws {
        let progress = output.progress()
        let runs = try reportingErrors { try ModalityAttribution.runs(target) }
        var results: [ModalityAttribution.Result] = []
        for (i, run) in runs.enumerated() {
            if runs.count > 1 { progress.log("explain \(i + 1)/\(runs.count): \(run)") }
            results.append(try reportingErrors { try ModalityAttribution.explain(run: run, progress: progress) })
        }
        for r in results {
            print("\(r.run) (\(r.split)): accuracy with all \(String(format: "%.3f", r.all)), with none \(String(format: "%.3f", r.none))")
            print("  modality   Shapley(acc)  alone(acc)  Shapley(log-lik)")
            for m in r.modalities {
                print("  " + m.padding(toLength: 9, withPad: " ", startingAt: 0)
                      + String(format: "  %+.4f       %.4f      %+.4f", r.shapley.accuracy[m] ?? 0, r.alone[m] ?? 0, r.shapley.logLikelihood[m] ?? 0))
            }
            print(String(format: "  interaction (what no single modality explains): %+.4f accuracy, %+.4f log-likelihood",
                         r.interaction, r.interactionLogLikelihood))
            print("  wrote \(r.run)/attribution.json and attribution.svg")
        }
    }
}
