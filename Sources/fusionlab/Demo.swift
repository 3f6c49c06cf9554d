import ArgumentParser
import Foundation
import FusionModels
import FusionNN
import FusionOptim
import FusionTensor

/// Trains the numeric core's reference network on generated tri-modal data and prints the loss
/// as it falls and the held-out accuracy.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train the reference tri-modal network on generated data (a tour of the numeric core).")

    @Option(help: "Training epochs.") var epochs = 8
    @Option(help: "Training samples per epoch.") var samples = 1024
    @Option(help: "Threads for the kernels and OpenBLAS.") var threads = 2
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard epochs > 0, samples >= 64, threads > 0 else { throw ValidationError("epochs and threads must be positive, samples at least 64") }
    }

    func run() throws {
        Threading.setThreads(threads)
        var dataRNG = SeededGenerator.derived(seed: seed, stream: "data")
        var initRNG = SeededGenerator.derived(seed: seed, stream: "init")
        let train = DemoTask.make(count: samples, rng: &dataRNG)
        let test = DemoTask.make(count: 512, rng: &dataRNG)
        let model = ReferenceNetwork(vocab: DemoTask.vocab, classes: DemoTask.classes, rng: &initRNG)
        let optimizer = Adam(groups: [ParameterGroup(parameters: model.namedParameters(), learningRate: 1e-3)])
        print("FusionLab demo: \(DemoTask.classes) classes whose label needs the image and the audio together;")
        print("reference network with \(model.parameterCount) parameters, Adam lr 1e-3, batch 64, \(threads) thread(s)\n")
        print("epoch  train loss  test accuracy  samples/s")
        var orderRNG = SeededGenerator.derived(seed: seed, stream: "order")
        for epoch in 1...epochs {
            model.train()
            var order = Array(0..<train.count)
            order.shuffle(using: &orderRNG)
            var total: Float = 0, batches = 0
            let start = Date()
            for lo in stride(from: 0, to: order.count - 63, by: 64) {
                let batch = train.batch(Array(order[lo..<(lo + 64)]))
                optimizer.zeroGrad()
                let loss = crossEntropy(model(text: batch.text, image: batch.image, audio: batch.audio), targets: batch.labels)
                loss.backward()
                optimizer.step()
                total += loss.item
                batches += 1
            }
            let rate = Double(batches * 64) / Date().timeIntervalSince(start)
            model.eval()
            let all = test.batch(Array(0..<test.count))
            let predictions = withNoGrad { model(text: all.text, image: all.image, audio: all.audio) }.argmax(axis: 1)
            let accuracy = Double(zip(predictions, all.labels).filter { $0 == $1 }.count) / Double(test.count)
            print(String(format: "%5d  %10.4f  %12.1f%%  %9.0f", epoch, total / Float(batches), accuracy * 100, rate))
        }
    }
}

/// Generated data: the label is (bar orientation in the image) × 2 + (energy band in the audio
/// features); the text carries a noisy hint of the label.
struct DemoTask {
    static let classes = 4, vocab = 200, tokens = 32
    var text: [Int32] = [], image: [Float] = [], audio: [Float] = [], labels: [Int] = []
    var count: Int { labels.count }

    static func make(count: Int, rng: inout SeededGenerator) -> DemoTask {
        var d = DemoTask()
        for _ in 0..<count {
            let label = Int(rng.next() % UInt64(classes))
            let (vertical, highBand) = (label / 2 == 1, label % 2 == 1)
            let offset = Int(rng.next() % 20) + 6
            for y in 0..<32 {
                for x in 0..<32 {
                    let onBar = vertical ? Swift.abs(x - offset) < 2 : Swift.abs(y - offset) < 2
                    d.image.append((onBar ? 1 : 0) + 0.8 * rng.nextNormal())
                }
            }
            for _ in 0..<64 {
                for c in 0..<13 {
                    let inBand = highBand ? c >= 7 : c < 6
                    d.audio.append((inBand ? 0.8 : 0) + rng.nextNormal())
                }
            }
            for _ in 0..<tokens {
                let hint = rng.nextUnitFloat() < 0.1
                d.text.append(hint ? Int32(label) : Int32(classes + Int(rng.next() % UInt64(vocab - classes))))
            }
            d.labels.append(label)
        }
        return d
    }

    func batch(_ indices: [Int]) -> (text: IndexTensor, image: Tensor, audio: Tensor, labels: [Int]) {
        let t = indices.flatMap { text[($0 * DemoTask.tokens)..<(($0 + 1) * DemoTask.tokens)] }
        let im = indices.flatMap { image[($0 * 1024)..<(($0 + 1) * 1024)] }
        let au = indices.flatMap { audio[($0 * 832)..<(($0 + 1) * 832)] }
        let b = indices.count
        return (IndexTensor(t, shape: [b, DemoTask.tokens]), Tensor(im, shape: [b, 1, 32, 32]), Tensor(au, shape: [b, 1, 64, 13]),
                indices.map { labels[$0] })
    }
}
