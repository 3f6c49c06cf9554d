import ArgumentParser
import Foundation
import FusionExperiments

/// Prints the JSON Schema of experiment files.
struct Schema: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the JSON Schema of experiment files (for editors).")
    func run() throws { print(ConfigSchema.jsonText(), terminator: "") }
}

/// Checks an experiment file without running it.
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check an experiment file (extends, --set, keys, types, ranges) without running it.")
    @Argument(help: "Experiment file.") var experiment: String
    @Option(name: .customLong("set"), help: "Override a key: --set training.epochs=5 (repeatable).") var overrides: [String] = []

    func run() throws {
        let loaded = try reportingErrors { try ConfigLoader.load(experiment, overrides: overrides) }
        print("\(experiment): valid (experiment \"\(loaded.config.name)\", fusion \(loaded.config.model.fusion.kind.rawValue), "
              + "\(loaded.config.training.epochs) epochs)")
    }
}
