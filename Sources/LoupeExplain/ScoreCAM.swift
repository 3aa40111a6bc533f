import LoupeTensor

/// Score-CAM (Wang et al., 2020), as pytorch-grad-cam computes it: each channel's activation,
/// upsampled bilinearly to the input with corners aligned (`nn.UpsamplingBilinear2d`) and scaled
/// to `(a − min) / (max − min + 1e-8)`, masks the input (`x · mask`, in the model's input space);
/// the channel's weight is the softmax over channels of the masked inputs' target scores. No
/// gradients: one forward pass per channel, run in passes — except that every channel whose
/// upsampled activation is constant masks the input to zeros, so those channels share one pass.
/// Masks are made a pass at a time, so memory holds one pass's, not every channel's.
public struct ScoreCAM: CAMMethod {
    public init() {}
    public var needsGradients: Bool { false }

    public func explain(_ context: CAMContext) throws -> CAMOutput {
        let (input, activations) = (context.input, context.activations)
        let (count, channels) = (activations.shape[0], activations.shape[1])
        let size = Size2D(input.shape[2], input.shape[3])
        var scores: [Float] = []
        for sample in 0..<count {
            let planes = activations[sample]  // [C, h, w]
            let image = input.slice(along: 0, from: sample, to: sample + 1)
            /// The channels' activations at the input's size, `[k, 1, H, W]`.
            func upsampled(_ chosen: [Int]) -> Tensor {
                planes.gathered(chosen).unsqueezed(at: 1).resizedBilinear(to: size, alignCorners: true)
            }
            var lows: [Float] = [], highs: [Float] = []
            for start in stride(from: 0, to: channels, by: 64) {
                let flat = upsampled(Array(start..<min(start + 64, channels))).flattened(from: 1)
                lows += flat.min(along: 1).scalars
                highs += flat.max(along: 1).scalars
            }
            // The channels whose mask is not all zeros, then one whose mask is, if any.
            let varying = (0..<channels).filter { highs[$0] > lows[$0] }
            let constant = (0..<channels).first { !(highs[$0] > lows[$0]) }
            let scored = varying + (constant.map { [$0] } ?? [])
            let values = try context.perturbedScores(ofSample: sample, count: scored.count) { range in
                let chosen = Array(scored[range])
                let low = Tensor(shape: [chosen.count, 1, 1, 1], scalars: chosen.map { lows[$0] })
                let high = Tensor(shape: [chosen.count, 1, 1, 1], scalars: chosen.map { highs[$0] })
                return image * ((upsampled(chosen) - low) / (high - low + 1e-8))
            }
            var byChannel = [Float](repeating: constant == nil ? 0 : values[values.count - 1], count: channels)
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
