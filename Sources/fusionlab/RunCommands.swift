import FusionCore
import ArgumentParser
import Foundation
import FusionExperiments
import FusionMPI

/// How much every command says on stderr: -q errors only, -v details too. Results on stdout
/// are printed either way.
struct OutputOptions: ParsableArguments {
    @Flag(name: [.short, .long], help: "Print only errors (and the result).") var quiet = false
    @Flag(name: [.short, .long], help: "Also print details: files, caches, shapes, timings.") var verbose = false

    /// The verbosity the flags ask for.
    var verbosity: Verbosity { quiet ? .quiet : (verbose ? .verbose : .normal) }
    /// A progress reporter at that verbosity (quiet on every rank but 0 of an mpirun job).
    func progress() -> FusionExperiments.Progress { FusionExperiments.Progress(verbosity: Distributed.rank == 0 ? verbosity : .quiet) }

    func validate() throws {
        if quiet && verbose { throw ValidationError("--quiet and --verbose exclude each other") }
    }
}

/// `--set key.path=value`, the one declaration of it every command that reads an experiment shares.
struct OverrideOptions: ParsableArguments {
    @Option(name: .customLong("set"), help: ArgumentHelp("Override a key of the experiment: --set training.epochs=5 (repeatable).",
                                                         valueName: "key.path=value"))
    var overrides: [String] = []
}

/// `--mlflow <uri>`: every run the command trains is also an MLflow run (`Tracking`).
struct TrackingOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Also log each run to an MLflow tracking server (from `mlflow server`): parameters, metrics per step, "
                               + "artifacts, tags with the version and command line.", valueName: "tracking uri"))
    var mlflow: String?

    /// Turns the trackers on; a URI that is not http(s) is an error before anything runs.
    func start() throws {
        guard let mlflow else { return }
        try reportingErrors { try Tracking.useMLflow(mlflow) }
    }
}

/// Options every command that runs experiments shares.
struct RunOptions: ParsableArguments {
    @OptionGroup var tracking: TrackingOptions
    @OptionGroup var settings: OverrideOptions
    var overrides: [String] { settings.overrides }
    @Option(name: [.customLong("runs"), .customShort("o"), .customLong("output")],
            help: "Folder that receives run directories (-o/--output, as on every command that writes).", completion: .directory) var runs = "runs"
    @Option(help: ArgumentHelp("Folder for the preprocessed-feature cache (same as --set dataset.cache_dir=…; "
                               + "else $FUSIONLAB_CACHE_DIR, the dataset folder, or ~/.cache/fusionlab when that is read-only).",
                               valueName: "folder"), completion: .directory)
    var cacheDir: String?
    @OptionGroup var output: OutputOptions

    /// The `--set` overrides, with `--cache-dir` as the last of them.
    var allOverrides: [String] { overrides + (cacheDir.map { ["dataset.cache_dir=\($0)"] } ?? []) }
}

/// Turns library errors into a clean exit with the message.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as ExperimentError {
        FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
        throw ExitCode(1)
    }
}

/// Trains, evaluates and tests one experiment (or resumes a run).
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Train, validate and test an experiment; --resume continues a run.")
    @Argument(help: "Experiment file.", completion: .file(extensions: ["json"])) var experiment: String?
    @Option(help: "Continue the run in this directory after its last finished epoch.", completion: .directory) var resume: String?
    @OptionGroup var options: RunOptions

    func validate() throws {
        guard experiment != nil || resume != nil else {
            throw ValidationError("run needs an experiment file (fusionlab run Experiments/quickstart.json) or --resume <run dir>")
        }
        guard experiment == nil || resume == nil else { throw ValidationError("give an experiment file or --resume <run dir>, not both") }
    }

    func run() throws {
        let progress = options.output.progress()
        try options.tracking.start()
        let result = try reportingErrors { () -> RunResult in
            if let resume { return try ExperimentRunner.resume(resume, progress: progress) }
            let loaded = try ConfigLoader.load(experiment ?? "", overrides: options.allOverrides)
            return try ExperimentRunner.run(loaded.config, runsRoot: options.runs, progress: progress)
        }
        let m = result.test
        guard Distributed.rank == 0 else { return }  // one report per mpirun job
        print(String(format: "test accuracy %.4f  F1 macro %.4f  (best epoch %d, %d parameters, %.2fs training)",
                     m.accuracy, m.f1Macro, result.bestEpoch, result.parameters, result.trainSeconds))
        print("run directory: \(result.directory)")
    }
}

/// Runs every variant × seed of an experiment's comparison, with unimodal baselines.
struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare values of any key (fusion strategies by default) over seeds, with unimodal baselines.")
    @Argument(help: "Experiment file (its \"compare\" section lists the axes and seeds).", completion: .file(extensions: ["json"])) var experiment: String
    @Flag(help: "Also export the comparison as a notebook into notebooks-export/.") var notebook = false
    @OptionGroup var options: RunOptions

    func run() throws {
        // One line per run; every run's epochs (and details) with --verbose.
        let progress = Progress(verbosity: options.output.verbose ? .verbose : .quiet)
        try options.tracking.start()
        let (directory, _, table) = try reportingErrors { () -> (String, [ComparisonRun], String) in
            let loaded = try ConfigLoader.load(experiment, overrides: options.allOverrides)
            return try Comparison.run(loaded, runsRoot: options.runs, progress: progress) { run in
                guard !options.output.quiet else { return }
                let label = run.variant.padding(toLength: max(22, run.variant.count), withPad: " ", startingAt: 0)
                let eta = run.index < run.total ? "  ETA \(durationText(run.remaining))" : ""
                print("\(run.index)/\(run.total) " + label + String(format: " seed %llu  test accuracy %.3f  F1 macro %.3f  best epoch %d  %.1fs", run.seed,
                                     run.result.test.accuracy, run.result.test.f1Macro, run.result.bestEpoch, run.result.trainSeconds) + eta)
            }
        }
        guard Distributed.rank == 0 else { return }  // rank 0 reports for the whole mpirun job
        print(table, terminator: "")
        print("comparison directory: \(directory)")
        if notebook {
            let path = try reportingErrors { try NotebookExport.export(directory) }
            print("notebook: \(path)")
        }
    }
}
