import LoupeTensor

/// What an explanation explains: one class score per sample, or any scalar function of the
/// model's output.
public enum ExplanationTarget {
    /// The model's output at these class indices, one per sample, as the model computes it
    /// (no softmax added or removed).
    case classes([Int])
    /// A function from the output `[N, ...]` to one score per sample `[N]`.
    case custom((Tensor) -> Tensor)

    /// The scores per sample, `[N]`.
    public func scores(_ output: Tensor) -> Tensor {
        switch self {
        case .classes(let targets):
            precondition(
                output.rank == 2 && output.shape[0] == targets.count,
                "ExplanationTarget: \(targets.count) targets for model output \(output.shape)")
            return (output * Tensor.oneHot(targets, classes: output.shape[1])).sum(along: 1)
        case .custom(let function):
            return function(output)
        }
    }

    /// The targets of the samples in `range` (`.custom` applies to every sample unchanged).
    func subset(_ range: Range<Int>) -> ExplanationTarget {
        guard case .classes(let targets) = self else { return self }
        return .classes(Array(targets[range]))
    }

    /// The targets for `times` copies of the batch stacked along the first axis (`.custom`
    /// applies to every sample unchanged).
    func repeated(_ times: Int) -> ExplanationTarget {
        guard case .classes(let targets) = self else { return self }
        return .classes(Array((0..<times).map { _ in targets }.joined()))
    }
}

/// The gradient of the summed target scores with respect to `input`, under `rule`.
///
/// Scores of different samples do not interact, so one backward pass gives every sample's
/// gradient.
public func inputGradient(
    of model: (Tensor) -> Tensor, at input: Tensor, target: ExplanationTarget,
    rule: ReLUBackwardRule = .standard
) -> Tensor {
    // The rule is read when the backward pass runs, so it must cover the whole computation.
    withReLUBackwardRule(rule) {
        gradient(at: input) { target.scores(model($0)).sum() }
    }
}
