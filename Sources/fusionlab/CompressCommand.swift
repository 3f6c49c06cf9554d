import FusionCore
import ArgumentParser
import Foundation
import FusionExperiments

extension Compression.PruneMethod: ExpressibleByArgument {}

/// Compresses a finished run into new runs: int8 quantization or pruning.
struct Compress: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compress a finished run into new run folders: int8 quantization (--quantize int8) or pruning (--prune S[,S…]).",
        discussion: """
            Each new run sits beside the source under <runs>/<experiment>-int8 or -prune-<method>-<S>, with metrics.json \
            on the test split, compression.json (file size, parameters, inference samples/s at batch 256 beside the \
            source's) and a checkpoint that evaluate and predict load like any other. The source run is never changed.
            """)
    @Argument(help: "A finished run directory.", completion: .directory) var runDirectory: String
    @Option(help: "Post-training quantization: int8.") var quantize: String?
    @Option(help: "Training batches (in order, unaugmented) that calibrate the int8 input ranges.") var calibrationBatches = 16
    @Option(help: "Sparsities in [0, 1), comma-separated: one pruned run each.") var prune: String?
    @Option(help: "Pruning method: magnitude (global, unstructured, kept as masks) or channels (L1 norm, layers shrink).")
    var method: Compression.PruneMethod = .magnitude
    @Option(help: "Fine-tuning epochs after pruning (the magnitude schedule ramps over them); 0 prunes in one shot.")
    var finetuneEpochs = 3
    @Option(help: "Threads for the accuracy and speed measurements (default: the run's training.threads).") var threads: Int?
    @OptionGroup var output: OutputOptions

    func run() throws {
        let progress = output.progress()
        guard (quantize == nil) != (prune == nil) else {
            FileHandle.standardError.write(Data("error: give exactly one of --quantize int8 and --prune S[,S…]\n".utf8))
            throw ExitCode(2)
        }
        let outcomes = try reportingErrors { () -> [Compression.Outcome] in
            if let threads, threads < 1 { throw ExperimentError("--threads: expected at least 1, got \(threads)") }
            if let quantize {
                guard quantize == "int8" else { throw ExperimentError("--quantize: expected int8, got \"\(quantize)\"") }
                return [try Compression.quantize(run: runDirectory, calibrationBatches: calibrationBatches, threads: threads, progress: progress)]
            }
            let sparsities = try Compression.parseSparsities(prune ?? "")
            return try Compression.prune(run: runDirectory, sparsities: sparsities, method: method, finetuneEpochs: finetuneEpochs,
                                         threads: threads, progress: progress)
        }
        let summary = try reportingErrors { try Compression.writeSummary(outcomes, source: runDirectory) }
        if let summary { print("summary: \(summary) (fusionlab export-notebook \(summary))") }
        print(Compression.table(outcomes))
    }
}
