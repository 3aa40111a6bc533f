/// How every ReLU passes gradients backwards.
///
/// The rule is read by the ReLU pullback when the backward pass runs, so it covers every ReLU in
/// a graph, module or functional, and the clamp-style ones too (``Tensor/relu(maximum:)``: ReLU6,
/// an ONNX `Clip` from 0). Captum hooks `nn.ReLU` modules only; applying the rule to every ReLU is
/// deliberate, and equals Captum with its hook on those activations as well. With `g` the gradient
/// arriving at the ReLU's output and `x` its input (`m` the clamp's maximum, ∞ for a plain ReLU):
/// - `standard`: `g · [0 < x < m]`, the true derivative.
/// - `guided`: `Swift.max(g · [0 < x < m], 0)`, guided backpropagation (Springenberg et al., 2015),
///   equal to Captum's `GuidedBackprop`.
/// - `deconvnet`: `Swift.max(g, 0)`, the deconvnet rule (Zeiler & Fergus, 2014), equal to Captum's
///   `Deconvolution`.
public enum ReLUBackwardRule: Sendable {
    case standard
    case guided
    case deconvnet

    /// The rule in force for the current scope.
    @TaskLocal public static var current: ReLUBackwardRule = .standard
}

/// Runs `body` with every ReLU pullback following `rule`.
public func withReLUBackwardRule<Result>(_ rule: ReLUBackwardRule, _ body: () throws -> Result) rethrows -> Result {
    try ReLUBackwardRule.$current.withValue(rule, operation: body)
}
