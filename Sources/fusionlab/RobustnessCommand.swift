import ArgumentParser
import Foundation
import FusionExperiments

/// `fusionlab robustness <run or comparison dir>`: MultiBench's robustness protocol.
struct RobustnessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "robustness",
        abstract: "Accuracy under noise in each modality (levels 0–1) and with modalities absent; relative and effective robustness.",
        discussion: """
        Writes robustness.csv and robustness.json into the run or comparison folder; export-notebook then draws the \
        curves. Effective robustness is measured against the comparison's late-fusion run of the same seed, or --baseline.
        """)
    @Argument(help: "A run folder or a comparison folder.", completion: .directory) var target: String
    @Option(help: "Noise levels from 0 to 1, evenly spaced.") var levels = 11
    @Option(help: "Seed of the corruptions.") var seed: UInt64 = 0
    @Option(help: "A late-fusion run folder to measure effective robustness against.", completion: .directory) var baseline: String?
    @OptionGroup var output: OutputOptions

    func run() throws {
        let progress = output.progress()
        var options = Robustness.Options()
        options.levels = levels
        options.seed = seed
        options.baseline = baseline
        let report = try reportingErrors { try Robustness.report(target: target, options: options, progress: progress) }
        let modalities = Array(Set(report.results.flatMap { $0.curves.map(\.modality) })).sorted()
        let width = max(8, (report.results.map(\.variant.count).max() ?? 0) + 1)
        print("variant".padding(toLength: width, withPad: " ", startingAt: 0) + " seed  clean  " + modalities.map { "\($0): relative effective".padding(toLength: 30, withPad: " ", startingAt: 0) }.joined())
        for r in report.results {
            var line = r.variant.padding(toLength: width, withPad: " ", startingAt: 0) + String(format: " %4d  %.3f  ", r.seed, r.cleanAccuracy)
            for m in modalities {
                let c = r.curves.first { $0.modality == m }
                let cell = c.map { String(format: "%.3f  %@", $0.relativeRobustness, $0.effectiveRobustness.map { String(format: "%+.3f", $0) } ?? "–") } ?? "–"
                line += cell.padding(toLength: 30, withPad: " ", startingAt: 0)
            }
            print(line)
        }
        if !report.withoutBaseline.isEmpty {
            print("effective robustness needs a late-fusion baseline: none for \(report.withoutBaseline.count) run(s); give --baseline <late-fusion run>")
        }
        print("wrote \(report.csv) and \(report.json)")
    }
}
