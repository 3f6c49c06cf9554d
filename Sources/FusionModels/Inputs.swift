import FusionData
import FusionNN
import FusionTensor

/// One modality's part of a batch, as the front ends produce it.
///
/// Text comes as `tokens [B, T]` with an attention `mask [B, T]` (1 = real token); images as
/// `features [B, C, H, W]`; audio features as `features [B, 1, T, F]` (or `[B, F, T]`) with an
/// optional frame `mask [B, T]`. A sample that lacks the modality still has a row (zeros);
/// the batch's presence mask says which rows are real.
public struct ModalityInput {
    /// Dense input (images, audio features).
    public var features: Tensor?
    /// Token ids (text).
    public var tokens: IndexTensor?
    /// Valid positions (tokens or frames), `[B, T]`, 1 or 0.
    public var mask: Tensor?

    /// A modality input.
    public init(features: Tensor? = nil, tokens: IndexTensor? = nil, mask: Tensor? = nil) {
        self.features = features; self.tokens = tokens; self.mask = mask
    }

    /// The number of samples.
    public var batchSize: Int { tokens?.shape.first ?? features?.shape.first ?? 0 }
}

/// A batch for the multimodal classifier: each modality's input, which samples carry which
/// modality (`presence[m]` is `[B]` of 1/0), and the labels.
public struct MultimodalBatch {
    /// Per-modality inputs.
    public var inputs: [Modality: ModalityInput]
    /// Per-modality presence, `[B]`.
    public var presence: [Modality: Tensor]
    /// Class ids.
    public var labels: [Int]

    /// A batch.
    public init(inputs: [Modality: ModalityInput], presence: [Modality: Tensor] = [:], labels: [Int] = []) {
        self.inputs = inputs; self.presence = presence; self.labels = labels
    }

    /// The number of samples.
    public var size: Int { labels.isEmpty ? (inputs.values.first?.batchSize ?? 0) : labels.count }

    /// Presence of `modality`, all ones when not given.
    public func presence(of modality: Modality) -> Tensor {
        presence[modality] ?? Tensor.ones([size])
    }

    /// The same batch with `modality` marked absent for every sample.
    public func removing(_ modality: Modality) -> MultimodalBatch {
        var copy = self
        copy.presence[modality] = Tensor.zeros([size])
        return copy
    }
}

/// Maps one modality's batch to `[B, outputDim]`.
public protocol ModalityEncoder: Module {
    /// Width of the embedding.
    var outputDim: Int { get }
    /// Encodes a batch.
    func encode(_ input: ModalityInput) -> Tensor
}
