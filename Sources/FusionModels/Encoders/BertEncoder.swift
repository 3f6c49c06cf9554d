import Foundation
import FusionNN
import FusionTensor

/// The architecture of a BERT-style encoder (the fields of a Hugging Face `config.json`).
public struct BertConfig: Codable, Equatable, Sendable {
    /// Vocabulary size.
    public var vocabSize: Int
    /// Width of every hidden state.
    public var hiddenSize: Int
    /// Number of encoder layers.
    public var numHiddenLayers: Int
    /// Attention heads per layer.
    public var numAttentionHeads: Int
    /// Feed-forward width.
    public var intermediateSize: Int
    /// Longest sequence the position table covers.
    public var maxPositionEmbeddings: Int
    /// Token-type (segment) vocabulary size.
    public var typeVocabSize: Int
    /// LayerNorm epsilon.
    public var layerNormEps: Float
    /// Feed-forward activation (only "gelu" is supported).
    public var hiddenAct: String

    /// A configuration with every field given.
    public init(vocabSize: Int, hiddenSize: Int, numHiddenLayers: Int, numAttentionHeads: Int, intermediateSize: Int,
                maxPositionEmbeddings: Int, typeVocabSize: Int, layerNormEps: Float, hiddenAct: String) {
        self.vocabSize = vocabSize; self.hiddenSize = hiddenSize; self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads; self.intermediateSize = intermediateSize
        self.maxPositionEmbeddings = maxPositionEmbeddings; self.typeVocabSize = typeVocabSize
        self.layerNormEps = layerNormEps; self.hiddenAct = hiddenAct
    }

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size"
        case maxPositionEmbeddings = "max_position_embeddings", typeVocabSize = "type_vocab_size"
        case layerNormEps = "layer_norm_eps", hiddenAct = "hidden_act"
    }

    /// Reads `config.json`, with an error naming the file and the missing or mistyped key.
    public static func load(_ path: String) throws -> BertConfig {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ModelLoadError(path: path, message: "cannot read the model configuration (\(error.localizedDescription))")
        }
        do {
            let config = try JSONDecoder().decode(BertConfig.self, from: data)
            guard config.hiddenAct == "gelu" else {
                throw ModelLoadError(path: path, message: "hidden_act is \"\(config.hiddenAct)\"; only \"gelu\" is supported")
            }
            return config
        } catch let error as DecodingError {
            throw ModelLoadError(path: path, message: "not a BERT configuration: \(describe(error))")
        }
    }
}

/// A pretrained model folder that cannot be used; the message names the file and the problem.
public struct ModelLoadError: Error, CustomStringConvertible {
    /// The file concerned.
    public let path: String
    /// What was wrong.
    public let message: String
    /// `path: message`.
    public var description: String { "\(path): \(message)" }
}

/// A short description of a decoding error with its key path.
func describe(_ error: DecodingError) -> String {
    func path(_ keys: [CodingKey]) -> String { keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".") }
    switch error {
    case .keyNotFound(let key, let context): return "missing key \(path(context.codingPath + [key]))"
    case .typeMismatch(_, let context), .valueNotFound(_, let context): return "\(path(context.codingPath)): \(context.debugDescription)"
    case .dataCorrupted(let context): return "\(path(context.codingPath)): \(context.debugDescription)"
    @unknown default: return "\(error)"
    }
}

/// BERT embeddings: word + position + token type, then LayerNorm. Keys as Hugging Face's.
public final class BertEmbeddings: Module {
    /// Tables.
    public let wordEmbeddings: Embedding, positionEmbeddings: Embedding, tokenTypeEmbeddings: Embedding
    /// The norm after the sum.
    public let layerNorm: LayerNorm

    init<G: RandomNumberGenerator>(_ c: BertConfig, rng: inout G) {
        wordEmbeddings = Embedding(count: c.vocabSize, dim: c.hiddenSize, paddingIndex: 0, rng: &rng)
        positionEmbeddings = Embedding(count: c.maxPositionEmbeddings, dim: c.hiddenSize, rng: &rng)
        tokenTypeEmbeddings = Embedding(count: c.typeVocabSize, dim: c.hiddenSize, rng: &rng)
        layerNorm = LayerNorm(c.hiddenSize, eps: c.layerNormEps)
    }

    override public var keyOverrides: [String: String] {
        ["wordEmbeddings": "word_embeddings", "positionEmbeddings": "position_embeddings",
         "tokenTypeEmbeddings": "token_type_embeddings", "layerNorm": "LayerNorm"]
    }
}

/// Separate query, key and value projections (Hugging Face's `attention.self`).
public final class BertSelfAttention: Module {
    /// Projections `hidden → hidden`.
    public let query: Linear, key: Linear, value: Linear
    init<G: RandomNumberGenerator>(_ c: BertConfig, rng: inout G) {
        query = Linear(c.hiddenSize, c.hiddenSize, rng: &rng)
        key = Linear(c.hiddenSize, c.hiddenSize, rng: &rng)
        value = Linear(c.hiddenSize, c.hiddenSize, rng: &rng)
    }
}

/// A dense layer followed by a residual LayerNorm (Hugging Face's `*.output`).
public final class BertOutput: Module {
    /// The projection.
    public let dense: Linear
    /// The post-residual norm.
    public let layerNorm: LayerNorm
    init<G: RandomNumberGenerator>(_ inF: Int, _ outF: Int, eps: Float, rng: inout G) {
        dense = Linear(inF, outF, rng: &rng)
        layerNorm = LayerNorm(outF, eps: eps)
    }
    override public var keyOverrides: [String: String] { ["layerNorm": "LayerNorm"] }
    func callAsFunction(_ h: Tensor, residual: Tensor) -> Tensor { layerNorm(dense(h) + residual) }
}

/// Self-attention with its output block.
public final class BertAttention: Module {
    /// Q, K, V projections.
    public let selfAttention: BertSelfAttention
    /// Output projection and norm.
    public let output: BertOutput
    init<G: RandomNumberGenerator>(_ c: BertConfig, rng: inout G) {
        selfAttention = BertSelfAttention(c, rng: &rng)
        output = BertOutput(c.hiddenSize, c.hiddenSize, eps: c.layerNormEps, rng: &rng)
    }
    override public var keyOverrides: [String: String] { ["selfAttention": "self"] }
}

/// The feed-forward expansion (Hugging Face's `intermediate`).
public final class BertIntermediate: Module {
    /// `hidden → intermediate`.
    public let dense: Linear
    init<G: RandomNumberGenerator>(_ c: BertConfig, rng: inout G) { dense = Linear(c.hiddenSize, c.intermediateSize, rng: &rng) }
}

/// One post-norm encoder layer.
public final class BertLayer: Module {
    /// Attention block.
    public let attention: BertAttention
    /// Feed-forward expansion.
    public let intermediate: BertIntermediate
    /// Feed-forward projection and norm.
    public let output: BertOutput
    let heads: Int

    init<G: RandomNumberGenerator>(_ c: BertConfig, rng: inout G) {
        attention = BertAttention(c, rng: &rng)
        intermediate = BertIntermediate(c, rng: &rng)
        output = BertOutput(c.intermediateSize, c.hiddenSize, eps: c.layerNormEps, rng: &rng)
        heads = c.numAttentionHeads
    }

    func callAsFunction(_ x: Tensor, additiveMask: Tensor) -> Tensor {
        let (b, l, d) = (x.shape[0], x.shape[1], x.shape[2])
        let dh = d / heads
        let sa = attention.selfAttention
        func split(_ t: Tensor) -> Tensor { t.reshaped([b, l, heads, dh]).permuted([0, 2, 1, 3]).reshaped([b * heads, l, dh]) }
        let q = split(sa.query(x)), k = split(sa.key(x)), v = split(sa.value(x))
        let scores = (q.matmul(k, transposeB: true) * (1 / Float(dh).squareRoot())).reshaped([b, heads, l, l]) + additiveMask
        let context = scores.reshaped([b * heads, l, l]).softmax(axis: -1).matmul(v)
        let merged = context.reshaped([b, heads, l, dh]).permuted([0, 2, 1, 3]).reshaped([b, l, d])
        let a = attention.output(merged, residual: x)
        return output(intermediate.dense(a).gelu(), residual: a)
    }
}

/// The stack of layers (Hugging Face's `encoder`).
public final class BertStack: Module {
    /// Layers, keyed `layer.0`, `layer.1`, ...
    public let layer: [BertLayer]
    init<G: RandomNumberGenerator>(_ c: BertConfig, rng: inout G) { layer = (0..<c.numHiddenLayers).map { _ in BertLayer(c, rng: &rng) } }
}

/// A pretrained BERT-style text encoder (e.g. all-MiniLM-L6-v2) giving sentence embeddings by
/// mean pooling over the attention mask, optionally L2-normalised (as sentence-transformers).
///
/// Parameter keys are Hugging Face's (`embeddings.word_embeddings.weight`,
/// `encoder.layer.0.attention.self.query.weight`, ...), so `model.safetensors` loads as is and the
/// weights fine-tune like any others. `tokens [B, T] → [B, hidden]`.
public final class BertEncoder: Module, ModalityEncoder {
    /// Embedding block.
    public let embeddings: BertEmbeddings
    /// Encoder layers.
    public let encoder: BertStack
    /// The architecture.
    public let config: BertConfig
    /// Whether embeddings are scaled to unit length.
    public let normalize: Bool
    public var outputDim: Int { config.hiddenSize }

    /// A randomly initialised encoder of the given architecture.
    public init<G: RandomNumberGenerator>(config: BertConfig, normalize: Bool = true, rng: inout G) {
        embeddings = BertEmbeddings(config, rng: &rng)
        encoder = BertStack(config, rng: &rng)
        self.config = config
        self.normalize = normalize
    }

    /// Loads `config.json` and `model.safetensors` from a model folder (a Hugging Face or
    /// sentence-transformers export). Tensors the encoder does not use (the pooler,
    /// `position_ids`) are ignored.
    public static func pretrained(folder: String, normalize: Bool = true) throws -> BertEncoder {
        let config = try BertConfig.load(folder + "/config.json")
        var rng = SeededGenerator(seed: 0)
        let model = BertEncoder(config: config, normalize: normalize, rng: &rng)
        let file = try Safetensors.read(folder + "/model.safetensors")
        // Some exports prefix every key with "bert.".
        var tensors = file.tensors
        if tensors["embeddings.word_embeddings.weight"] == nil {
            tensors = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.key.hasPrefix("bert.") ? String($0.key.dropFirst(5)) : $0.key, $0.value) })
        }
        try model.load(tensors, strict: true, source: folder + "/model.safetensors")
        return model
    }

    /// Token-level hidden states `[B, T, hidden]`.
    public func hiddenStates(tokens: IndexTensor, mask: Tensor?) -> Tensor {
        let (b, t) = (tokens.shape[0], tokens.shape[1])
        precondition(t <= config.maxPositionEmbeddings, "BertEncoder: \(t) tokens exceed \(config.maxPositionEmbeddings) positions")
        let positions = IndexTensor((0..<(b * t)).map { Int32($0 % t) }, shape: [b, t])
        let types = IndexTensor([Int32](repeating: 0, count: b * t), shape: [b, t])
        var h = embeddings.layerNorm(embeddings.wordEmbeddings(tokens) + embeddings.positionEmbeddings(positions)
                                     + embeddings.tokenTypeEmbeddings(types))
        // Additive mask [B, 1, 1, T]: a large negative number on padding, as Hugging Face.
        let m = mask ?? Tensor.ones([b, t])
        let additive = ((m - 1) * 3.4e38).reshaped([b, 1, 1, t])
        for layer in encoder.layer { h = layer(h, additiveMask: additive) }
        return h
    }

    /// Sentence embeddings: masked mean of the last hidden states, L2-normalised when `normalize`.
    public func encode(_ input: ModalityInput) -> Tensor {
        guard let tokens = input.tokens else { preconditionFailure("BertEncoder: the text input has no tokens") }
        let pooled = maskedMean(hiddenStates(tokens: tokens, mask: input.mask), mask: input.mask)
        guard normalize else { return pooled }
        let norm = (pooled * pooled).sum(axes: [1], keepDims: true).sqrt().maximum(Tensor(scalar: 1e-12))
        return pooled / norm
    }
}
