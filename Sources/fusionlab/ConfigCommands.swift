import FusionModels
import ArgumentParser
import Foundation
import FusionData
import FusionExperiments

/// Prints the JSON Schema of experiment files.
struct Schema: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the JSON Schema of experiment files (for editors), their reference page, or what keys do.")
    @Flag(help: "Print the reference page (docs/experiment-format.md) instead.") var markdown = false
    @Option(help: ArgumentHelp("Explain the keys starting with this dotted path (training.lr, model.fusion), or a layer kind's settings (conv2d).", valueName: "key"))
    var key: String?
    @OptionGroup var output: OutputOptions

    func run() throws {
        guard let key else {
            print(markdown ? ConfigSchema.markdown() : ConfigSchema.jsonText(), terminator: "")
            return
        }
        // A layer kind of `layers` stacks: its settings.
        if let kind = LayerKind(rawValue: key) {
            print("layer \(kind.rawValue)" + (kind.settings.isEmpty ? ": no settings" : ", its settings:"))
            for setting in kind.settings { print("  \(setting): \(LayerSpec.settingDocumentation[setting] ?? "")") }
            return
        }
        let matches = ConfigSchema.entries().filter { $0.key == key || $0.key.hasPrefix(key + ".") }
        guard !matches.isEmpty else {
            let hint = ConfigLoader.nearest(key, among: ConfigSchema.entries().map(\.key) + LayerKind.spellings).map { "; did you mean \($0)?" } ?? ""
            FileHandle.standardError.write(Data("error: \(key) is not a key of the experiment format\(hint)\n".utf8))
            throw ExitCode(1)
        }
        for entry in matches {
            let value = entry.defaultValue.isEmpty ? "" : " = \(entry.defaultValue)"
            let allowed = entry.allowed.isEmpty ? "" : "\n    one of: \(entry.allowed.joined(separator: ", "))"
            print("\(entry.key) (\(entry.type))\(value)\n    \(entry.description)\(allowed)")
        }
    }
}

/// Checks an experiment file without running it.
struct Validate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check an experiment file (extends, --set, keys, types, ranges, layer shapes, memory, files named) without running it.")
    @Argument(help: "Experiment file.", completion: .file(extensions: ["json"])) var experiment: String
    @OptionGroup var settings: OverrideOptions
    @Flag(help: "Print the resolved experiment: every key after extends, --set and the defaults.") var print = false
    @OptionGroup var output: OutputOptions

    func run() throws {
        let loaded = try reportingErrors { try ConfigLoader.load(experiment, overrides: settings.overrides) }
        let missing = ConfigValidation.checkFiles(loaded.config)
        guard missing.isEmpty else {
            for issue in missing { FileHandle.standardError.write(Data("error: \(experiment): \(issue.path): \(issue.message)\n".utf8)) }
            throw ExitCode(1)
        }
        if print {
            Swift.print(ConfigLoader.resolvedJSON(loaded.config), terminator: "")
            return
        }
        Swift.print("\(experiment): valid (experiment \"\(loaded.config.name)\", fusion \(loaded.config.model.fusion.kind.rawValue), "
              + "\(loaded.config.training.epochs) epochs)")
        if loaded.config.model.modalities.contains(.image), let weights = loaded.config.model.image.weightsFile {
            Swift.print("  model.image: starts from the pretrained weights in \(weights)")
        }
        if loaded.config.model.modalities.contains(.audio), let weights = loaded.config.model.audio.weightsFile {
            Swift.print("  model.audio: starts from the pretrained weights in \(weights)")
        }
        // Defaults suggested from the media statistics `fusionlab import` recorded (-v: measured
        // when the dataset has none), and with -v what preprocessing will do to the media.
        let path = loaded.config.dataset.path
        guard let dataset = try? Dataset.load(path: path, policy: .skip) else {
            if output.verbose { Swift.print("  dataset \(path): not readable yet" + (loaded.config.dataset.generate ? " (run generates it)" : "")) }
            return
        }
        let preprocessing = loaded.config.preprocessingSettings
        var media = dataset.info.media
        if media == nil && output.verbose {
            let sample = dataset.samples.prefix(2000)
            media = MediaStatistics.measure(images: sample.compactMap(\.imagePath), audio: sample.compactMap(\.audioPath))
        }
        for suggestion in media?.suggestions(for: preprocessing) ?? [] { Swift.print("  suggestion: " + suggestion) }
        if output.verbose {
            let survey = DataSurvey.survey(dataset, settings: preprocessing)
            for line in survey.lines { Swift.print("  " + line) }
            for warning in survey.warnings { Swift.print("  warning: " + warning) }
        }
    }
}
