import LoupeTensor

/// Score-CAM (Wang et al., 2020), as pytorch-grad-cam computes it: each channel's activation,
/// upsampled bilinearly to the input with corners aligned (`nn.UpsamplingBilinear2d`) and scaled
/// to `(a − min) / (max − min + 1e-8)`, masks the input (`x · mask`, in the model's input space);
/// the channel's weight is the softmax over channels of the masked inputs' target scores. No
/// gradients: one forward pass per channel, run in passes — except that every channel whose
/// activation is constant masks the input to zeros, so those channels share one pass.
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
        let (lows, highs) = (low.scalars, high.scalars)
        var scores: [Float] = []
        for sample in 0..<count {
            let image = input.slice(along: 0, from: sample, to: sample + 1)
            let channelsOfSample = (sample * channels)..<((sample + 1) * channels)
            // The channels whose mask is not all zeros, and one for the zero mask if any has it.
            let varying = channelsOfSample.filter { highs[$0] > lows[$0] }.map { $0 - sample * channels }
            let constant = channelsOfSample.first { !(highs[$0] > lows[$0]) }.map { $0 - sample * channels }
            let scored = varying + (constant.map { [$0] } ?? [])
            let sampleMasks = masks[sample].unsqueezed(at: 1).gathered(scored)  // [scored, 1, H, W]
            let values = try context.perturbedScores(ofSample: sample, count: scored.count) { range in
                image * sampleMasks.slice(along: 0, from: range.lowerBound, to: range.upperBound)
            }
            var byChannel = [Float](repeating: constant.map { _ in values[values.count - 1] } ?? 0, count: channels)
            for (index, channel) in varying.enumerated() { byChannel[channel] = values[index] }
            scores += byChannel
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
