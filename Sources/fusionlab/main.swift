import ArgumentParser

/// The FusionLab command line: parses, then calls the library.
struct FusionLab: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fusionlab",
        abstract: "Multimodal fusion experiments: train, evaluate, compare and export.",
        subcommands: [Run.self, Compare.self, Demo.self, Validate.self, Schema.self]
    )
}

FusionLab.main()
