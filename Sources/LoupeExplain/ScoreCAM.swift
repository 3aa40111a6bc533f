import LoupeTensor

/// Score-CAM (Wang et al., 2020), as pytorch-grad-cam computes it: each channel's activation,
/// upsampled bilinearly to the input with corners aligned (`nn.UpsamplingBilinear2d`) and scaled
/// to `(a − min) / (max − min + 1e-8)`, masks the input (`x · mask`, in the model's input space);
/// the channel's weight is the softmax over channels of the masked inputs' target scores. No
/// gradients: one forward pass per channel, run in passes.
public struct ScoreCAM: CAMMethod {
    public init() {}
    public var needsGradients: Bool { false }

    public func explain(_ context: CAMContext) throws -> CAMOutput {
        let (input, activations) = (context.input, context.activations)
        let (count, channels) = (activations.shape[0], activations.shape[1])
        let size = Size2D(input.shape[2], input.shape[3])
        let upsampled = activations.resizedBilinear(to: size, alignCorners: true)
        let flat = upsampled.flattened(from: 2)
        let low = flat.min(along: 2, keepingDimensions: true).reshaped([count, channels, 1, 1])
        let high = flat.max(along: 2, keepingDimensions: true).reshaped([count, channels, 1, 1])
        let masks = (upsampled - low) / (high - low + 1e-8)
        var scores: [Float] = []
        for sample in 0..<count {
            let image = input.slice(along: 0, from: sample, to: sample + 1)
            let sampleMasks = masks[sample].unsqueezed(at: 1)  // [C, 1, H, W]
            scores += try context.perturbedScores(ofSample: sample, count: channels) { range in
                image * sampleMasks.slice(along: 0, from: range.lowerBound, to: range.upperBound)
            }
        }
        return .channelWeights(Tensor(shape: [count, channels], scalars: scores).softmax(along: 1))
    }
}

extension AttributionMethod {
    public static let scoreCAM = camMethod(
        ScoreCAM(), name: "score-cam",
        summary:
            "a layer's channels weighted by the class score of the input masked by each, without gradients (Wang et al., 2020)",
        isInDefaultReport: false)
}
