import FusionCore
import FusionNN
import FusionTensor

/// Maps one modality's batch to `[B, outputDim]`.
public protocol ModalityEncoder: Module {
    /// Width of the embedding.
    var outputDim: Int { get }
    /// Encodes a batch.
    func encode(_ input: ModalityInput) -> Tensor
}
