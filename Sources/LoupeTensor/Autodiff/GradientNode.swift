/// Maps the gradient of an operation's result to the gradients of its inputs.
///
/// The second argument says which inputs need a gradient (those tracked for differentiation);
/// a pullback may return `nil` for the others and skip their work.
typealias Pullback = (_ gradient: Tensor, _ needed: [Bool]) -> [Tensor?]

/// One recorded operation: the tape entry for a tensor that takes part in differentiation.
///
/// Nodes link to the nodes of their inputs, so the recorded graph lives exactly as long as
/// the tensors that reach it.
final class GradientNode: @unchecked Sendable {
    /// One entry per input of the operation; `nil` where that input is not tracked.
    let inputs: [GradientNode?]
    /// `nil` for a leaf (a tensor on which gradients were requested).
    let pullback: Pullback?
    let shape: [Int]

    init(inputs: [GradientNode?], pullback: Pullback?, shape: [Int]) {
        self.inputs = inputs
        self.pullback = pullback
        self.shape = shape
    }
}

/// The scope settings that govern recording.
enum GradientRecording {
    /// `false` inside ``withoutGradients(_:)``.
    @TaskLocal static var isEnabled = true
}

extension Tensor {
    /// Returns this tensor's value as a new leaf of gradient recording.
    ///
    /// Operations on the result are recorded, and ``gradients(of:at:seed:)`` can then ask for
    /// the gradient with respect to it.
    public func trackingGradients() -> Tensor {
        Tensor(
            shape: shape, storage: storage,
            gradientNode: GradientNode(inputs: [], pullback: nil, shape: shape))
    }

    /// Returns this tensor's value cut off from gradient recording.
    public func detached() -> Tensor {
        Tensor(shape: shape, storage: storage)
    }

    /// Attaches `pullback` to `result` when recording is on and any of `inputs` is tracked.
    ///
    /// Every differentiable operation ends with this call, its pullback written right below
    /// the forward computation.
    static func recording(_ result: Tensor, inputs: [Tensor], pullback: @escaping Pullback) -> Tensor {
        guard GradientRecording.isEnabled, inputs.contains(where: { $0.gradientNode != nil }) else {
            return result
        }
        let node = GradientNode(inputs: inputs.map(\.gradientNode), pullback: pullback, shape: result.shape)
        return Tensor(shape: result.shape, storage: result.storage, gradientNode: node)
    }
}

/// Runs `body` without recording operations for differentiation (like `torch.no_grad()`).
public func withoutGradients<Result>(_ body: () throws -> Result) rethrows -> Result {
    try GradientRecording.$isEnabled.withValue(false, operation: body)
}

/// Runs `body` recording operations again inside ``withoutGradients(_:)`` (like
/// `torch.enable_grad()`): an explanation made in the middle of gradient-free work.
public func withGradients<Result>(_ body: () throws -> Result) rethrows -> Result {
    try GradientRecording.$isEnabled.withValue(true, operation: body)
}
