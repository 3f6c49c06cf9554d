@_exported import FusionTensor

/// The modalities a sample can carry, in the fixed order fusion strategies iterate them.
public enum Modality: String, CaseIterable, Codable, Comparable, Sendable {
    /// Text (tokenised into ids).
    case text
    /// A PNG image.
    case image
    /// An audio file.
    case audio

    /// Order by declaration (text, image, audio).
    public static func < (a: Modality, b: Modality) -> Bool {
        allCases.firstIndex(of: a) ?? 0 < allCases.firstIndex(of: b) ?? 0
    }
}

/// The three splits of a dataset.
public enum Split: String, CaseIterable, Codable, Sendable {
    /// Training samples.
    case train
    /// Validation samples.
    case val
    /// Test samples.
    case test
}

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
    /// The samples' ids, and their positions in the split's feature cache (empty when the batch
    /// was not loaded from a dataset).
    public var ids: [String], indices: [Int]

    /// A batch.
    public init(inputs: [Modality: ModalityInput], presence: [Modality: Tensor] = [:], labels: [Int] = [],
                ids: [String] = [], indices: [Int] = []) {
        self.inputs = inputs; self.presence = presence; self.labels = labels; self.ids = ids; self.indices = indices
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


/// A string choice of the experiment format (a fusion strategy, a preset, an optimizer, a
/// metric, …), defined once as an enum whose raw values are the JSON spellings. The decoder, the
/// JSON Schema, the reference docs, the builders (exhaustive switches, no fallback) and the
/// error messages ("expected one of …; did you mean …") all read that one definition.
public protocol ConfigChoice: RawRepresentable, CaseIterable, Codable, Sendable where RawValue == String {}

extension ConfigChoice {
    /// Every value, as spelled in JSON.
    public static var spellings: [String] { allCases.map(\.rawValue) }
}

extension Modality: ConfigChoice {}
extension Split: ConfigChoice {}
