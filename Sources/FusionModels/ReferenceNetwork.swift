import FusionNN
import FusionTensor

/// Two convolution blocks (3×3 conv, padding 1 → ReLU → 2×2 max pool), flattened and projected:
/// `[B, C, H, W] → [B, dim]`. The image and audio branches of `ReferenceNetwork`.
public final class ConvBlockEncoder: Module, UnaryLayer, ModalityEncoder {
    /// First block's convolution `C → channels.0`.
    public let conv1: Conv2d
    /// Second block's convolution `channels.0 → channels.1`.
    public let conv2: Conv2d
    /// Projection of the flattened features to `dim`.
    public let proj: Linear

    /// An encoder for inputs of `inChannels × height × width`.
    public init<G: RandomNumberGenerator>(inChannels: Int, height: Int, width: Int, channels: (Int, Int) = (16, 32), dim: Int,
                                          rng: inout G) {
        conv1 = Conv2d(inChannels, channels.0, kernel: (3, 3), padding: (1, 1), rng: &rng)
        conv2 = Conv2d(channels.0, channels.1, kernel: (3, 3), padding: (1, 1), rng: &rng)
        proj = Linear(channels.1 * (height / 4) * (width / 4), dim, rng: &rng)
    }

    /// Width of the embedding.
    public var outputDim: Int { proj.weight.shape[0] }

    /// Encodes `input.features`.
    public func encode(_ input: ModalityInput) -> Tensor {
        guard let x = input.features else { preconditionFailure("ConvBlockEncoder: the input has no features") }
        return self(x)
    }

    /// Encodes a batch.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let h1 = conv1.withReLUMaxPool2x2(x)
        let h2 = conv2.withReLUMaxPool2x2(h1)
        return proj(h2.flattened(from: 1)).relu()
    }
}

/// The numeric core's reference tri-modal network (the benchmark workload `train-reference`):
///
/// - text: ids `[B, T]` → Embedding(vocab, 64) → mean over tokens → Linear 64→128 → ReLU
/// - image: `[B, 1, 32, 32]` → two conv blocks (16, 32 channels) → Linear 2048→128 → ReLU
/// - audio: MFCC `[B, 1, 64, 13]` → two conv blocks → Linear 1536→128 → ReLU
/// - fusion: concat 384 → Linear 384→128 → ReLU → Linear 128→classes
public final class ReferenceNetwork: Module {
    /// Token embedding table.
    public let textEmbedding: Embedding
    /// Text projection 64 → 128.
    public let textProj: Linear
    /// Image branch.
    public let image: ConvBlockEncoder
    /// Audio branch.
    public let audio: ConvBlockEncoder
    /// Fusion MLP hidden layer 384 → 128.
    public let hidden: Linear
    /// Output layer 128 → classes.
    public let classifier: Linear

    /// The network with PyTorch-default initialisation from `rng`.
    public init<G: RandomNumberGenerator>(vocab: Int = 8000, classes: Int = 10, imageSize: (Int, Int) = (32, 32),
                                          audioSize: (Int, Int) = (64, 13), rng: inout G) {
        textEmbedding = Embedding(count: vocab, dim: 64, rng: &rng)
        textProj = Linear(64, 128, rng: &rng)
        image = ConvBlockEncoder(inChannels: 1, height: imageSize.0, width: imageSize.1, dim: 128, rng: &rng)
        audio = ConvBlockEncoder(inChannels: 1, height: audioSize.0, width: audioSize.1, dim: 128, rng: &rng)
        hidden = Linear(384, 128, rng: &rng)
        classifier = Linear(128, classes, rng: &rng)
    }

    /// Logits `[B, classes]` for token ids `[B, T]`, images `[B, 1, H, W]` and MFCCs `[B, 1, frames, coefficients]`.
    public func callAsFunction(text: IndexTensor, image x: Tensor, audio a: Tensor) -> Tensor {
        let t = textProj(textEmbedding(text).mean(axes: [1])).relu()
        let fused = Tensor.concat([t, image(x), audio(a)], axis: 1)
        return classifier(hidden(fused).relu())
    }
}
