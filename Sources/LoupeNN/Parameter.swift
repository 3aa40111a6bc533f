import LoupeTensor

/// A tensor a module owns: a learnable weight, or a buffer such as batch norm's running mean.
///
/// Parameters are reference types so that an optimizer, a loader and the module all see the
/// same value.
public final class Parameter {
    /// The current value. Assigning replaces it (optimizers and loaders do this).
    public var value: Tensor
    /// Whether training updates it; `false` once frozen. Buffers are never trainable.
    public var isTrainable: Bool
    /// Buffers (running statistics) are saved and loaded but never trained.
    public let isBuffer: Bool
    /// Whether a state_dict may leave it out, keeping its value (batch norm's
    /// `num_batches_tracked`, which PyTorch's `load_state_dict` fills in when absent: files
    /// written before it existed, and conversions that keep only floating-point tensors).
    public let mayBeAbsent: Bool

    public init(_ value: Tensor, isBuffer: Bool = false, mayBeAbsent: Bool = false) {
        self.value = value
        self.isBuffer = isBuffer
        self.isTrainable = !isBuffer
        self.mayBeAbsent = mayBeAbsent
    }

    /// The shape of the current value.
    public var shape: [Int] { value.shape }
}

/// Kaiming-uniform initialization as PyTorch's default for Conv2d and Linear: weights and
/// biases uniform in ±1/√fan_in; uninitialized memory while a model is built to be loaded.
func defaultInitialized(_ shape: [Int], fanIn: Int, generator: inout RandomGenerator) -> Tensor {
    if ParameterInitialization.isLeftToLoading { return Tensor(shape: shape) { _ in } }
    let bound = 1 / Float(Swift.max(fanIn, 1)).squareRoot()
    return Tensor.uniform(shape, low: -bound, high: bound, generator: &generator)
}

/// Whether the model being built will have every parameter replaced by a strict load (see
/// ``ModelZoo/makeForLoading(_:classes:)``): drawing random weights for it, and faulting
/// in their pages, would be wasted (a noticeable part of a one-shot command on a large model).
enum ParameterInitialization {
    @TaskLocal static var isLeftToLoading = false
}
