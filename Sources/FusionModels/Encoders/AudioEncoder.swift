import FusionNN
import FusionTensor

/// A convolutional encoder over MFCC features with pooling over time that respects the frame mask.
///
/// - `twoD`: input `[B, 1, T, F]`; stages of 3×3 conv → ReLU → 2×2 max pool, then the mean over
///   frequency and the masked mean over time.
/// - `oneD`: input `[B, F, T]` (coefficients as channels); stages of 1-D conv (kernel 5) → ReLU →
///   max pool 2 over time, then the masked mean over time.
///
/// The frame mask `[B, T]` is pooled with the features so that padding never enters the mean.
/// Output `[B, dim]`.
public final class ConvAudioEncoder: Module, ModalityEncoder {
    /// The convolution layout.
    public enum Layout: String, Codable, Sendable { case twoD = "2d", oneD = "1d" }
    /// 2-D stages (layout `twoD`).
    public let convs2d: [Conv2d]
    /// 1-D stages (layout `oneD`).
    public let convs1d: [Conv1d]
    /// Projection to `outputDim`.
    public let proj: Linear
    /// The layout.
    public let layout: Layout
    public let outputDim: Int

    /// An encoder over `coefficients` MFCC coefficients with stages of `channels` channels.
    public init<G: RandomNumberGenerator>(coefficients: Int, channels: [Int], layout: Layout = .twoD, dim: Int, rng: inout G) {
        precondition(!channels.isEmpty, "ConvAudioEncoder: at least one stage is needed")
        var c2: [Conv2d] = [], c1: [Conv1d] = []
        var c = layout == .twoD ? 1 : coefficients
        for out in channels {
            if layout == .twoD { c2.append(Conv2d(c, out, kernel: (3, 3), padding: (1, 1), rng: &rng)) } else {
                c1.append(Conv1d(c, out, kernel: 5, padding: 2, rng: &rng))
            }
            c = out
        }
        convs2d = c2
        convs1d = c1
        proj = Linear(c, dim, rng: &rng)
        self.layout = layout
        outputDim = dim
    }

    /// Encodes `input.features` with the optional frame mask `input.mask [B, T]`.
    public func encode(_ input: ModalityInput) -> Tensor {
        guard let x = input.features else { preconditionFailure("ConvAudioEncoder: the audio input has no features") }
        var mask = input.mask
        var h = x
        switch layout {
        case .twoD:
            precondition(x.rank == 4, "ConvAudioEncoder(2d): expected [B, 1, T, F], got \(x.shape)")
            for conv in convs2d {
                h = conv.withReLU(h)
                if h.shape[2] >= 2 && h.shape[3] >= 2 {
                    h = h.maxPool2d(kernel: (2, 2))
                    mask = mask.map { $0.unsqueezed(1).maxPool1d(kernel: 2).squeezed(1) }
                }
            }
            // [B, C, T', F'] → mean over frequency → [B, T', C]
            let perFrame = h.mean(axes: [3]).transposed(1, 2)
            return proj(maskedMean(perFrame, mask: mask)).relu()
        case .oneD:
            precondition(x.rank == 3, "ConvAudioEncoder(1d): expected [B, F, T], got \(x.shape)")
            for conv in convs1d {
                h = conv(h).relu()
                if h.shape[2] >= 2 {
                    h = h.maxPool1d(kernel: 2)
                    mask = mask.map { $0.unsqueezed(1).maxPool1d(kernel: 2).squeezed(1) }
                }
            }
            return proj(maskedMean(h.transposed(1, 2), mask: mask)).relu()
        }
    }
}
