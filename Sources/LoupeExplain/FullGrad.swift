import LoupeNN
import LoupeTensor

/// FullGrad (Srinivas & Fleuret, 2019), as pytorch-grad-cam's `FullGrad` computes it: the input
/// gradient times the input, `|x · ∂s/∂x|`, and at every bias layer the bias times the gradient
/// there, `|b_c · ∂s/∂z_c|`, each channel min–max scaled and resized (bilinear) to the input,
/// all summed and the sum min–max scaled: a map `[N, H, W]` at the input's resolution.
///
/// The bias layers are the model's ``LoupeNN/Module/channelBiases``: every convolution with a
/// bias and every batch norm (in an ONNX graph, every Conv with a bias input and every
/// BatchNormalization). A batch norm folded into the bias-free convolution before it (as in
/// ResNets) leaves the same map: the folded bias is the norm's shift, and the gradient at the
/// convolution's output is the gradient at the norm's. (Where that convolution has a bias of its
/// own, folding changes the map: FullGrad takes `|bias · gradient|` of each apart, and of their
/// sum once folded.)
public struct FullGrad {
    public init() {}

    /// The map `[N, H, W]` for `input` `[N, C, H, W]`.
    public func attribute(_ model: Module, input: Tensor, target: ExplanationTarget) throws -> Tensor {
        let points = model.channelBiases
        let x = input.detached().trackingGradients()
        let (output, activations) = try model.withTaps(points.map(\.tap), gradients: true) { model(x) }
        // Only biases added to a [N, C, h, w] tensor of as many channels (a 2-D layer's) count.
        let used = points.compactMap { point -> (bias: Tensor, at: Tensor)? in
            guard let tapped = activations[point.tap], tapped.rank == 4, point.bias.shape == [tapped.shape[1]] else {
                return nil
            }
            return (point.bias, tapped)
        }
        let found = gradients(of: target.scores(output).sum(), at: [x] + used.map(\.at))
        let size = Size2D(input.shape[2], input.shape[3])
        var sum = Self.channelsScaled((x.detached() * found[0]).abs()).sum(along: 1)
        for (point, gradient) in zip(used, found.dropFirst()) {
            let channels = point.bias.shape[0]
            let contributions = (gradient * point.bias.reshaped([1, channels, 1, 1])).abs()
            // Resizing is linear, so the channels are summed first and resized once.
            sum =
                sum
                + Self.channelsScaled(contributions).sum(along: 1, keepingDimensions: true).resizedBilinear(to: size)
                .squeezed(at: 1)
        }
        return minMaxScaled(sum)
    }

    /// Each channel of `[N, C, h, w]` min–max scaled on its own (pytorch-grad-cam's
    /// `scale_accross_batch_and_channels`).
    static func channelsScaled(_ values: Tensor) -> Tensor {
        let shape = values.shape
        return minMaxScaled(values.reshaped([shape[0] * shape[1], shape[2], shape[3]])).reshaped(shape)
    }
}

extension AttributionMethod {
    public static let fullGrad = AttributionMethod(
        name: "full-grad",
        summary:
            "input × gradient and every bias × its gradient, each channel scaled, summed at the input's resolution (Srinivas & Fleuret, 2019)",
        output: .layer, settings: [.augSmooth], isInDefaultReport: false
    ) { context in
        let map = try augmentationSmoothed(context.input, enabled: context.options.augSmooth) { copy, index, count in
            let result = try FullGrad().attribute(context.model, input: copy, target: context.target)
            context.progress(index + 1, count)
            return result
        }
        return Result(attribution: map)
    }
}
