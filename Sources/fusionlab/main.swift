import ArgumentParser

/// The FusionLab command line: parses, then calls the library.
struct FusionLab: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fusionlab",
        abstract: "Multimodal fusion experiments: train, evaluate, compare and export.",
        subcommands: [Run.self, Compare.self, SweepCommand.self, EnsembleCommand.self, Evaluate.self, Predict.self, Validate.self, Inspect.self, ExportNotebook.self, ExportFeatures.self, GenerateDataset.self, ImportCommand.self, Runs.self, Schema.self, Demo.self]
    )
}

FusionLab.main()
