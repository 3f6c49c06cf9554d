import ArgumentParser
import Foundation
import FusionExperiments

/// `fusionlab export <format>`: a run's model for other runtimes.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export a run's model for another runtime (onnx).",
        subcommands: [ExportONNX.self])
}

/// `fusionlab export onnx <run dir> -o model.onnx`.
struct ExportONNX: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "onnx",
        abstract: "The whole fused model (encoders, fusion, head) as ONNX (opset 17): features and presence masks in, logits and probabilities out.",
        discussion: """
        Beside model.onnx: model.onnx.json (what each input means, the preprocessing, the classes) and \
        model.onnx.reference.safetensors (test-split inputs with FusionLab's probabilities). Check the file in \
        onnxruntime with: python scripts/onnx_check.py model.onnx
        """)
    @Argument(help: "Run directory.", completion: .directory) var runDirectory: String
    @Option(name: .shortAndLong, help: "Output file (.onnx).", completion: .file(extensions: ["onnx"])) var output = "model.onnx"
    @Option(help: "Test-split samples written as reference inputs with FusionLab's probabilities (0: none).") var referenceSamples = 256
    @OptionGroup var options: OutputOptions

    func run() throws {
        let progress = options.progress()
        let summary = try reportingErrors { try OnnxExport.run(run: runDirectory, output: output, referenceSamples: referenceSamples, progress: progress) }
        let nodes = summary.ops.values.reduce(0, +)
        print("wrote \(summary.model) (opset 17, \(nodes) nodes) and \(summary.description)")
        if let reference = summary.reference { print("reference: \(summary.samples) samples with FusionLab's probabilities in \(reference)") }
        progress.detail("ops: " + summary.ops.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
    }
}
