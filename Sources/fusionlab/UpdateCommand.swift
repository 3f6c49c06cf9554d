import ArgumentParser
import Foundation
import FusionExperiments

/// `fusionlab update <run> --data <dataset>`: continual updating with rehearsal and LwF.
struct Update: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a finished run on new samples (more data, a new domain or new labels) as a new run with the parent in its lineage.",
        discussion: """
        Against forgetting: --rehearsal N replays N seeded samples of the parent's training split; --lwf A distils \
        the parent's predictions with weight A (learning without forgetting). New labels grow the head; the parent's \
        classes keep their rows. Reports accuracy on the parent's test split and on the new one, and the forgetting.
        """)
    @Argument(help: "The parent run folder.", completion: .directory) var parent: String
    @Option(help: "The new dataset folder.", completion: .directory) var data: String
    @Option(help: "Replayed samples of the parent's training split (0: fine-tune on the new data only).") var rehearsal = 200
    @Option(help: "Weight of distillation from the parent, in [0, 1) (0: off).") var lwf = 0.0
    @Option(help: "Distillation temperature.") var temperature = 2.0
    @Option(help: "Epochs (default: the parent's).") var epochs: Int?
    @Option(help: "Seed (default: the parent's).") var seed: UInt64?
    @Flag(help: "Train from scratch on the new data and all of the parent's (the joint baseline an update is measured against).") var fromScratch = false
    @Option(name: [.customLong("runs"), .customShort("o"), .customLong("output")], help: "Runs folder the updated run goes to (-o/--output).",
            completion: .directory) var runs = "runs"
    @OptionGroup var settings: OverrideOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var tracking: TrackingOptions

    func run() throws {
        var options = ContinualUpdate.Options(data: data)
        options.rehearsal = rehearsal
        options.lwf = lwf
        options.temperature = temperature
        options.epochs = epochs
        options.seed = seed
        options.fromScratch = fromScratch
        options.runsRoot = runs
        options.overrides = settings.overrides
        let progress = output.progress()
        try tracking.start()
        let outcome = try reportingErrors { try ContinualUpdate.run(parent: parent, options: options, progress: progress) }
        print(String(format: "parent's test split: parent %.4f, updated %.4f (forgetting %+.4f); new test split: %.4f",
                     outcome.parentOnOld, outcome.updatedOnOld, outcome.forgetting, outcome.updatedOnNew))
        if !outcome.addedLabels.isEmpty { print("labels added: \(outcome.addedLabels.joined(separator: ", "))") }
        print("lineage: " + outcome.lineage.map { URL(fileURLWithPath: $0).lastPathComponent }.joined(separator: " → "))
        print("run directory: \(outcome.run)")
    }
}
