import FusionCore
import ArgumentParser
import Foundation
import FusionData
import FusionExperiments
import FusionMPI
import FusionNN
import FusionTensor

// Every string choice of the command line is a FusionCore ConfigChoice: parsed, listed in
// --help and completed by ArgumentParser from the same enum the library uses.
extension Split: ExpressibleByArgument {}
extension Ensemble.Method: ExpressibleByArgument {}
extension DatasetImporter.Media: ExpressibleByArgument {}
extension BadSamplePolicy: ExpressibleByArgument {}

/// Grid or random search over key paths.
struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sweep",
        abstract: "Grid or seeded random search over key paths; writes the best configuration as a runnable experiment file.")
    @Argument(help: "Experiment file (its \"sweep\" section lists the axes).", completion: .file(extensions: ["json"])) var experiment: String
    @OptionGroup var options: RunOptions

    func run() throws {
        let progress = options.output.progress()
        try options.tracking.start()
        let outcome = try reportingErrors { () -> (directory: String, trials: [Sweep.Trial], best: Sweep.Trial, bestFile: String) in
            try Sweep.run(try ConfigLoader.load(experiment, overrides: options.allOverrides), runsRoot: options.runs, progress: progress)
        }
        guard Distributed.rank == 0 else { return }  // rank 0 reports for the whole mpirun job
        for (k, t) in outcome.trials.enumerated() {
            print(String(format: "trial %d  %@  val %.4f", k, t.variant.label, t.score)
                  + (t.variant.label == outcome.best.variant.label ? "  ★ selected" : ""))
        }
        // Only the configuration chosen on validation is reported on test.
        let best = outcome.best.result.test
        print("best (on validation): \(outcome.best.variant.label); its test accuracy \(String(format: "%.4f", best.accuracy)), "
              + "F1 macro \(String(format: "%.4f", best.f1Macro)); runnable experiment: \(outcome.bestFile)")
    }
}

/// Evaluates a finished run on a split of its dataset or another dataset.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Evaluate a run's best checkpoint on a dataset split (prints metrics JSON).")
    @Argument(help: "Run directory.", completion: .directory) var runDirectory: String
    @Option(help: "Another dataset folder with the same labels.", completion: .directory) var dataset: String?
    @Option(help: "The split to evaluate.") var split: Split = .test
    @OptionGroup var output: OutputOptions

    func run() throws {
        let progress = output.progress()
        let evaluation = try reportingErrors { () -> Evaluation in
            let loaded = try ExperimentRunner.load(run: runDirectory, datasetPath: dataset, progress: progress)
            return try Trainer.evaluate(loaded.model, data: loaded.data, split: split)
        }
        print(String(decoding: try evaluation.metrics.jsonData(), as: UTF8.self))
    }
}

/// Predicts single files or a dataset split with a finished run.
struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Predict with a run's best checkpoint: single files, or a dataset split as CSV (id, label, predicted, p_<class>…).")
    @Argument(help: "Run directory.", completion: .directory) var runDirectory: String
    @Option(help: "A PNG or JPEG image.", completion: .file(extensions: ["png", "jpg", "jpeg"])) var image: String?
    @Option(help: "An audio file.", completion: .file()) var audio: String?
    @Option(help: "A caption.") var text: String?
    @Option(help: "Predict a whole dataset folder's split instead.", completion: .directory) var dataset: String?
    @Option(help: "Split of --dataset.") var split: Split = .test
    @OptionGroup var output: OutputOptions

    func run() throws {
        // Predictions are the output: progress messages only when asked for (-v).
        let progress = Progress(verbosity: output.verbose ? .verbose : .quiet)
        if let dataset {
            let e = try reportingErrors { () -> Evaluation in
                let loaded = try ExperimentRunner.load(run: runDirectory, datasetPath: dataset, progress: progress)
                return try Trainer.evaluate(loaded.model, data: loaded.data, split: split)
            }
            print(predictionsCSV(e, classNames: e.metrics.classNames), terminator: "")
            return
        }
        guard image != nil || audio != nil || text != nil else { throw ValidationError("give --image, --audio, --text or --dataset") }
        let (names, probabilities, set) = try reportingErrors { try Predictor.predict(run: runDirectory, image: image, audio: audio, text: text, progress: progress) }
        let best = probabilities.indices.max { probabilities[$0] < probabilities[$1] } ?? 0
        print("predicted: \(names[best])")
        if let set { print("prediction set: {\(set.joined(separator: ", "))}") }
        for (name, p) in zip(names, probabilities) { print(String(format: "  %-24@ %.4f", name, p)) }
    }
}

/// Describes a checkpoint.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe a checkpoint (or a run's best checkpoint): metadata, tensors, parameter count.")
    @Argument(help: "A .safetensors file or a run directory.", completion: .file()) var path: String
    @OptionGroup var output: OutputOptions

    func run() throws {
        var file = path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { file = path + "/checkpoints/best.safetensors" }
        let checkpoint: (tensors: [String: Tensor], metadata: [String: String])
        do { checkpoint = try Safetensors.read(file) } catch {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        print(file)
        for (k, v) in checkpoint.metadata.sorted(by: { $0.key < $1.key }) { print("  metadata \(k) = \(v.prefix(120))") }
        var total = 0
        for name in checkpoint.tensors.keys.sorted() {
            guard let t = checkpoint.tensors[name] else { continue }
            total += t.count
            print("  \(name)  \(t.shape)")
        }
        print("\(checkpoint.tensors.count) tensors, \(total) values")
    }
}

/// Combines several runs' predictions.
struct EnsembleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ensemble",
        abstract: "Evaluate several runs together: mean probabilities or majority vote.")
    @Argument(help: "Run directories.", completion: .directory) var runs: [String]
    @Option(help: "How the runs are combined.") var method: Ensemble.Method = .mean
    @Option(name: .shortAndLong, help: "Output directory.", completion: .directory) var output = "runs/ensembles/latest"
    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        let e = try reportingErrors { try Ensemble.evaluate(runs: runs, method: method, output: output, progress: outputOptions.progress()) }
        print(String(format: "ensemble of %d runs (%@): test accuracy %.4f  F1 macro %.4f  → %@", runs.count, method.rawValue,
                     e.metrics.accuracy, e.metrics.f1Macro, output))
    }
}

/// Writes the default dataset.
struct GenerateDataset: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write the default tri-modal dataset (shape and half × beep order and timbre, partial captions).")
    @Argument(help: "Output folder.", completion: .directory) var folder = "Datasets/default"
    @Option(help: "Number of samples.") var samples = 600
    @Option(help: "Generator seed.") var seed: UInt64 = 1
    @Option(help: "Domain shift (0: source domain).") var shift = 0.0
    @Flag(help: "Replace a dataset already in the folder.") var force = false
    @OptionGroup var output: OutputOptions

    func run() throws {
        guard (20...1_000_000).contains(samples) else { throw ValidationError("--samples must be in 20...1000000, got \(samples)") }
        guard shift.isFinite && shift >= 0 else { throw ValidationError("--shift must be a non-negative number, got \(shift)") }
        if FileManager.default.fileExists(atPath: folder + "/dataset.json") && !force {
            FileHandle.standardError.write(Data("error: \(folder) already holds a dataset; pass --force to replace it\n".utf8))
            throw ExitCode(1)
        }
        var config = GeneratorConfig()
        config.samples = samples
        config.seed = seed
        config.domainShift = shift
        try reportingErrors { try DefaultDataset.generate(config, into: folder) }
        print("wrote \(samples) samples to \(folder)")
    }
}

/// Builds a dataset folder from a table or a folder per class.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Build a dataset folder from a CSV/TSV/JSONL table or a folder per class, decoding every file as it goes.",
        discussion: """
        A table has a header row, a label column and text, image-path and audio-path columns (paths relative to \
        the table); columns are found by their usual names (label/class, text/caption, image, audio, split, id) \
        unless named. A folder holds one subfolder per class (optionally inside train/, val/, test/); files with \
        the same name stem (cat1.png, cat1.wav, cat1.txt) are one sample. Without a split, a seeded split \
        stratified by label is written into samples.jsonl.
        """)
    @Argument(help: ArgumentHelp("A .csv, .tsv or .jsonl table, or a folder of class folders.", valueName: "source"),
              completion: .file()) var source: String
    @Option(name: [.short, .customLong("output")], help: "The dataset folder to write.", completion: .directory) var output: String
    @Option(help: "Dataset name (default: the output folder's name).") var name: String?
    @Option(help: "copy, or link (hard links; same file system).") var media: DatasetImporter.Media = .copy
    @Option(help: "Label column.") var labelColumn: String?
    @Option(help: "Text column.") var textColumn: String?
    @Option(help: "Image-path column.") var imageColumn: String?
    @Option(help: "Audio-path column.") var audioColumn: String?
    @Option(help: "Split column (train, val, test).") var splitColumn: String?
    @Option(help: "Id column (default: the media file's stem when those are unique, else the row's line number).") var idColumn: String?
    @Option(help: "Validation fraction per label, when the source has no split.") var valFraction = 0.15
    @Option(help: "Test fraction per label, when the source has no split.") var testFraction = 0.15
    @Option(help: "Seed of that split.") var splitSeed: UInt64 = 0
    @Option(help: "fail stops at the first bad row; skip skips and counts it.") var badRows: BadSamplePolicy = .failFast
    @Flag(help: "Replace an existing, non-empty output folder.") var force = false
    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        var options = DatasetImporter.Options()
        options.name = name
        options.media = media
        options.columns.label = labelColumn; options.columns.text = textColumn; options.columns.image = imageColumn
        options.columns.audio = audioColumn; options.columns.split = splitColumn; options.columns.id = idColumn
        (options.valFraction, options.testFraction, options.splitSeed) = (valFraction, testFraction, splitSeed)
        options.badRows = badRows
        options.force = force
        do {
            let report = try DatasetImporter.run(source: source, to: output, options: options) { line in
                if !outputOptions.quiet { FileHandle.standardError.write(Data((line + "\n").utf8)) }
            }
            let labels = report.labels.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
            print("wrote \(report.folder): train \(report.splits[.train] ?? 0), val \(report.splits[.val] ?? 0), "
                  + "test \(report.splits[.test] ?? 0); labels \(labels)"
                  + (report.skipped.isEmpty ? "" : "; \(report.skipped.count) bad row(s) skipped"))
        } catch let error as FusionDataError {
            FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// Exports a run or comparison as a Jupyter notebook.
struct ExportNotebook: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a Jupyter notebook (figures embedded as SVG) for a run or comparison folder.")
    @Argument(help: "Run or comparison directory.", completion: .directory) var directory: String
    @Option(name: .shortAndLong, help: "Folder the notebook goes to.", completion: .directory) var output = "notebooks-export"
    @Option(help: "The notebook's file name without .ipynb (default: <experiment>-<folder>); its data goes to <name>-data/ beside it.")
    var name: String?
    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        let path = try reportingErrors { try NotebookExport.export(directory, outputFolder: output, name: name) }
        print("notebook: \(path)")
    }
}

/// Writes the preprocessed features of every split, as the model reads them.
struct ExportFeatures: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export-features",
        abstract: "Write each split's preprocessed features (safetensors) and features.json, for a PyTorch twin on the same numbers.")
    @Argument(help: "A run directory (its vocabulary and splits) or an experiment file.", completion: .file()) var source: String
    @Option(name: .shortAndLong, help: "Output folder (default: <run dir>/features, or features/<experiment name>).", completion: .directory) var output: String?
    @OptionGroup var settings: OverrideOptions
    @OptionGroup var outputOptions: OutputOptions

    func run() throws {
        let progress = outputOptions.progress()
        let files = try reportingErrors { () -> [String] in
            let isRun = FileManager.default.fileExists(atPath: source + "/config.resolved.json")
            if isRun {
                let run = try RunDirectory.open(source)
                let config = try run.config()
                Threading.setThreads(config.training.threads)
                try run.checkDatasetUnchanged(config.dataset.path)
                let data = try ExperimentData.prepare(config, vocabularyPath: run.vocabulary, reuseVocabulary: true, log: progress.log)
                return try FeatureExport.write(data, to: output ?? source + "/features")
            }
            let config = try ConfigLoader.load(source, overrides: settings.overrides).config
            Threading.setThreads(config.training.threads)
            let folder = output ?? "features/\(config.name)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            let data = try ExperimentData.prepare(config, vocabularyPath: folder + "/vocab.txt", log: progress.log)
            return try FeatureExport.write(data, to: folder)
        }
        for file in files { print(file) }
    }
}

/// Lists run folders with their status, and removes failed ones on request.
struct Runs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List runs (experiment, folder, status, test accuracy); --remove-failed deletes failed runs.")
    @Option(help: "Folder that holds run directories.", completion: .directory) var runs = "runs"
    @Flag(help: "List only failed and interrupted (or killed) runs.") var failed = false
    @Flag(help: "Delete the failed and interrupted runs listed.") var removeFailed = false
    @OptionGroup var output: OutputOptions

    @Option(help: "Only runs of this experiment (its name).") var experiment: String?
    @Option(help: "Order: time (oldest first, the default), accuracy or f1 (best first), or name.") var sort: RunsOrder = .time
    @Flag(help: "One JSON object per run (path, experiment, status, accuracy, f1_macro) as a JSON array.") var json = false

    /// How `runs` orders its list.
    enum RunsOrder: String, ExpressibleByArgument, CaseIterable { case time, accuracy, f1, name }

    func run() throws {
        let fm = FileManager.default
        var removed = 0
        guard fm.fileExists(atPath: runs) else {
            print("no runs: \(runs) does not exist (fusionlab run <experiment> makes it)")
            return
        }
        // Run folders sit at runs/<experiment>/<run>, and inside comparison and sweep folders.
        let paths = (fm.enumerator(atPath: runs)?.compactMap { $0 as? String } ?? [])
            .filter { $0.hasSuffix("config.resolved.json") && $0.split(separator: "/").count <= 6 }
            .map { "\(runs)/\(($0 as NSString).deletingLastPathComponent)" }.sorted()
        var listed: [(path: String, experiment: String, status: String, metrics: ClassificationMetrics?)] = []
        for path in paths {
            guard let run = try? RunDirectory.open(path) else { continue }
            let status = run.status
            let stopped = status == .failed || status == .interrupted
            guard !failed && !removeFailed || stopped else { continue }
            let name = (try? run.config())?.name ?? URL(fileURLWithPath: path).deletingLastPathComponent().lastPathComponent
            if let experiment, name != experiment { continue }
            let metrics = (try? FileIO.read(path + "/metrics.json")).flatMap { try? ClassificationMetrics.decode($0) }
            listed.append((path, name, status.rawValue, metrics))
        }
        switch sort {
        case .time: break  // folder names start with the start time
        case .name: listed.sort { ($0.experiment, $0.path) < ($1.experiment, $1.path) }
        case .accuracy: listed.sort { ($0.metrics?.accuracy ?? -1) > ($1.metrics?.accuracy ?? -1) }
        case .f1: listed.sort { ($0.metrics?.f1Macro ?? -1) > ($1.metrics?.f1Macro ?? -1) }
        }
        if json {
            let objects: [[String: Any]] = listed.map { r in
                ["path": r.path, "experiment": r.experiment, "status": r.status,
                 "accuracy": r.metrics.map { $0.accuracy as Any } ?? NSNull(), "f1_macro": r.metrics.map { $0.f1Macro as Any } ?? NSNull()]
            }
            let data = try JSONSerialization.data(withJSONObject: objects, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else if listed.isEmpty {
            print("no runs in \(runs)" + (experiment.map { " of experiment \"\($0)\"" } ?? "") + (failed || removeFailed ? " that failed or were interrupted" : ""))
        }
        for r in listed {
            if !json {
                let accuracy = r.metrics.map { String(format: "test accuracy %.4f  F1 macro %.4f", $0.accuracy, $0.f1Macro) } ?? ""
                print("\(r.path)  \(r.experiment)  \(r.status)  \(accuracy)")
            }
            if removeFailed && (r.status == RunStatus.failed.rawValue || r.status == RunStatus.interrupted.rawValue) {
                try reportingErrors {
                    do { try fm.removeItem(atPath: r.path) } catch { throw ExperimentError("\(r.path): cannot remove (\(error.localizedDescription))") }
                }
                removed += 1
            }
        }
        if removeFailed { print("removed \(removed) failed run(s)") }
    }
}
