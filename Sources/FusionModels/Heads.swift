import FusionNN
import FusionTensor

/// The shared classifier head: an MLP `in → hidden… → classes` with an activation and dropout
/// after every hidden layer.
public final class MLPHead: Module, UnaryLayer {
    /// The layers in order (Linear, activation, dropout, …, Linear).
    public let layers: Sequential

    /// A head with the given hidden widths (none: a single linear layer).
    public init<G: RandomNumberGenerator>(inputDim: Int, hidden: [Int], classes: Int, activation: Activation.Kind = .relu,
                                          dropout: Float = 0, seed: UInt64 = 0, rng: inout G) {
        var parts: [Module & UnaryLayer] = []
        var width = inputDim
        for (i, h) in hidden.enumerated() {
            parts.append(Linear(width, h, rng: &rng))
            parts.append(Activation(activation))
            if dropout > 0 { parts.append(Dropout(dropout, seed: seed &+ UInt64(i))) }
            width = h
        }
        parts.append(Linear(width, classes, rng: &rng))
        layers = Sequential(parts)
    }

    override public var keyOverrides: [String: String] { ["layers": ""] }

    /// Logits `[B, classes]`.
    public func callAsFunction(_ x: Tensor) -> Tensor { layers(x) }
}
