import LoupeTensor

/// The gradient of one class score with respect to the input pixels (Simonyan, Vedaldi &
/// Zisserman, "Deep Inside Convolutional Networks", 2014), signed, as Captum's
/// `Saliency(abs=False)`.
///
/// - Parameters:
///   - model: maps `[N, ...]` input to `[N, classes]` scores.
///   - input: the model input, `[N, ...]`.
///   - targets: one class index per sample; the score is the model's output there, as is
///     (no softmax added).
///   - rule: the ReLU backward rule: `.guided` gives guided backpropagation, `.deconvnet` the
///     deconvnet attribution.
/// - Returns: the gradient, shaped like `input`.
public func saliency(of model: (Tensor) -> Tensor, input: Tensor, targets: [Int],
                     rule: ReLUBackwardRule = .standard) -> Tensor {
    precondition(input.rank >= 1 && input.shape[0] == targets.count,
                 "saliency: \(targets.count) targets for a batch of \(input.shape.first ?? 0)")
    // The rule is read when the backward pass runs, so it must cover valueWithGradient.
    return withReLUBackwardRule(rule) {
        gradient(at: input) { input in
            let scores = model(input)
            precondition(scores.rank == 2 && scores.shape[0] == targets.count,
                         "saliency: the model must return [N, classes]; got \(scores.shape)")
            return (scores * oneHot(targets, classes: scores.shape[1])).sum()
        }
    }
}

/// `[targets.count, classes]` with a 1 at each row's target.
func oneHot(_ targets: [Int], classes: Int) -> Tensor {
    var values = [Float](repeating: 0, count: targets.count * classes)
    for (row, target) in targets.enumerated() {
        precondition(target >= 0 && target < classes, "target \(target) is outside 0..<\(classes)")
        values[row * classes + target] = 1
    }
    return Tensor(shape: [targets.count, classes], scalars: values)
}
