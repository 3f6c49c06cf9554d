import ArgumentParser
import Foundation
import FusionExperiments
import FusionMPI
import FusionModels
import FusionTensor
import Logging

/// The FusionLab command line: parses, then calls the library.
struct FusionLab: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fusionlab",
        abstract: "Multimodal fusion experiments: train, evaluate, compare and export.",
        version: "FusionLab \(BuildInfo.version) (commit \(BuildInfo.commit))",
        subcommands: [Run.self, Compare.self, SweepCommand.self, EnsembleCommand.self, Compress.self, RobustnessCommand.self, ExplainCommand.self, Update.self, Evaluate.self, Predict.self, Serve.self, Validate.self, Inspect.self, ExportNotebook.self, ExportFeatures.self, Export.self, GenerateDataset.self, ImportCommand.self, Runs.self, Schema.self, Demo.self]
    )
}

// A generic CPU model name makes OpenBLAS use its SSE3 kernels: restart once with the right ones.
BLASCore.restartWithBetterCoreIfNeeded()
LoggingSystem.bootstrap { ConsoleLogHandler(label: $0) }
// Under mpirun, MPI starts here and is finalised after a command that succeeded. A command that
// fails exits without finalising, which makes mpirun end the other ranks at once.
Distributed.start()
// A mistyped subcommand gets the nearest one ("runn" → "run"), not only "unexpected argument".
if CommandLine.arguments.count > 1, let word = CommandLine.arguments.dropFirst().first, !word.hasPrefix("-") {
    let names = FusionLab.configuration.subcommands.compactMap { $0.configuration.commandName ?? $0._commandName }
    if !names.contains(word), let suggestion = nearestName(word, among: names) {
        FileHandle.standardError.write(Data("error: unknown command \"\(word)\"; did you mean \"\(suggestion)\"? (fusionlab --help lists them)\n".utf8))
        exit(64)
    }
}
FusionLab.main()
Distributed.finish()
