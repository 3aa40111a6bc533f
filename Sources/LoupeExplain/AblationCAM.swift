@_spi(Engine) import LoupeNN
import LoupeTensor

/// Ablation-CAM (Desai & Ramaswamy, 2020), as pytorch-grad-cam computes it: each channel of the
/// layer in turn is ablated — set to 0 when the sample's activations have minimum 0, else to
/// that minimum − 10⁷ — and its weight is the relative drop of the target score,
/// `(original − ablated) / original`. No gradients: one pass of the rest of the model per channel.
///
/// Where the model is a chain of stages and the layer ends one (VGG's `features.29`, ResNet's
/// `layer4`), only the stages after it run on the ablated activations, with the same result as
/// the whole model; elsewhere the whole model runs with the layer's output replaced. (For a
/// minimum other than 0, pytorch-grad-cam's in-place filling lowers the value for each later copy
/// of its pass of 32; Loupe uses the first copy's value for every channel.)
public struct AblationCAM: CAMMethod {
    public init() {}
    public var needsGradients: Bool { false }

    public func explain(_ context: CAMContext) throws -> CAMOutput {
        let (activations, channels) = (context.activations, context.activations.shape[1])
        let rest = context.model.stages(after: context.layer)
        var weights: [Float] = []
        for sample in 0..<activations.shape[0] {
            let kept = activations.slice(along: 0, from: sample, to: sample + 1)
            let image = context.input.slice(along: 0, from: sample, to: sample + 1)
            let forward: (Tensor) throws -> Tensor = { ablated in
                if let rest { return rest.reduce(ablated) { $1($0) } }
                let copies = image.broadcast(to: [ablated.shape[0]] + Array(image.shape.dropFirst()))
                return try context.model.withOutput(at: context.layer, replacedBy: ablated) { context.model(copies) }
            }
            let original = try withoutGradients { try context.target.subset(sample..<sample + 1).scores(forward(kept)) }
                .scalar
            let low = kept.min().scalar
            let fill: Float = low == 0 ? 0 : low - 1e7
            let ablated = try context.perturbedScores(ofSample: sample, count: channels, through: forward) { range in
                let mask = Tensor(
                    shape: [range.count, channels, 1, 1],
                    scalars: range.flatMap { channel in (0..<channels).map { $0 == channel ? Float(1) : 0 } })
                return kept * (1 - mask) + mask * fill
            }
            weights += ablated.map { (original - $0) / original }
        }
        return .channelWeights(Tensor(shape: [activations.shape[0], channels], scalars: weights))
    }
}

extension AttributionMethod {
    public static let ablationCAM = camMethod(
        AblationCAM(), name: "ablation-cam",
        summary:
            "a layer's channels weighted by the class score's relative drop when each is ablated, without gradients (Desai & Ramaswamy, 2020)",
        isInDefaultReport: false)
}
