import LoupeNN
import LoupeTensor

// Chattopadhay et al.'s (2018) confidence measures for a map used as a mask: the input times the
// map scaled to [0, 1] (pytorch-grad-cam's `scale_cam_image`: (m − min) / (max − min + 1e-7)),
// every channel of a pixel times the same value for a CAM map, each value by its own for a
// pixel map. Y and O are the target's softmax probabilities for the input and the masked input.

extension ExplanationMetric {
    /// Average drop's per-image term, 100 · max(0, Y − O) / Y: how much of the confidence the
    /// masked input loses (pytorch-grad-cam's `DropInConfidence`, which leaves out the 100 / Y).
    public static let averageDrop = ExplanationMetric(
        name: "average-drop",
        summary: "Percent of the target's probability lost when the input is masked by the map (Chattopadhay et al.)",
        direction: .lowerIsBetter
    ) { context in
        let (original, masked) = maskedConfidence(context)
        return Result(value: 100 * Swift.max(0, original - masked) / original)
    }

    /// Average increase's per-image term, 100 · [O > Y]: whether the masked input is more
    /// confident (pytorch-grad-cam's `IncreaseInConfidence`, times 100).
    public static let averageIncrease = ExplanationMetric(
        name: "average-increase",
        summary: "100 when masking the input by the map raises the target's probability, else 0 (Chattopadhay et al.)",
        direction: .higherIsBetter
    ) { context in
        let (original, masked) = maskedConfidence(context)
        return Result(value: masked > original ? 100 : 0)
    }
}

/// The target's softmax probability for the input (Y) and for the input times the scaled map (O),
/// in one pass.
private func maskedConfidence(_ context: ExplanationMetric.Context) -> (original: Float, masked: Float) {
    let shape = context.input.shape
    let mask = minMaxScaled(context.map.reshaped([1, 1, context.map.count]))
        .reshaped(context.map.rank == 3 ? shape : [1, 1, shape[2], shape[3]])
    let batch = Tensor.concatenate([context.input, context.input * mask], along: 0)
    let probabilities = context.model(batch).softmax(along: 1)
    let classes = probabilities.shape[1]
    context.progress(1, 1)
    return (probabilities.scalars[context.target], probabilities.scalars[classes + context.target])
}
