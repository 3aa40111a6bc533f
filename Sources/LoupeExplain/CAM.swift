@_spi(Engine) import LoupeNN
import LoupeTensor

/// Class activation maps from a layer's activations and gradients. A method supplies only the
/// weight of each channel; the family does the rest:
/// `cam = ReLU(Σ_c weight_c · A_c)` at the layer's resolution.
public protocol CAMMethod {
    /// Per-sample channel weights `[N, C]` from activations and gradients `[N, C, h, w]`.
    func channelWeights(activations: Tensor, gradients: Tensor) -> Tensor
}

extension CAMMethod {
    /// The map `[N, h, w]` (after ReLU) at the module `layer`, for the target scores.
    public func attribute(_ model: Module, layer: String, input: Tensor, target: ExplanationTarget) throws -> Tensor {
        let (output, activations) = try model.withTaps([layer], gradients: true) { model(input) }
        guard let activation = activations[layer], activation.rank == 4 else {
            throw ExplanationError("layer '\(layer)' has no [N, C, h, w] output for Grad-CAM")
        }
        let gradient = gradients(of: target.scores(output).sum(), at: [activation])[0]
        let values = activation.detached()
        let weights = channelWeights(activations: values, gradients: gradient)
        let shape = [weights.shape[0], weights.shape[1], 1, 1]
        return (values * weights.reshaped(shape)).sum(along: 1).relu()
    }
}

/// Grad-CAM (Selvaraju et al., 2017): weights are the spatial means of the gradients; equal to
/// Captum's `LayerGradCam(relu_attributions=True)`.
public struct GradCAM: CAMMethod, Sendable {
    public init() {}
    public func channelWeights(activations: Tensor, gradients: Tensor) -> Tensor {
        gradients.mean(alongAxes: [2, 3])
    }
}

/// Grad-CAM++ (Chattopadhyay et al., 2018), as pytorch-grad-cam computes it:
/// `α = g² / (2g² + Σ_ij A · g³)` (0 where g = 0) and weights `Σ_ij α · ReLU(g)`.
public struct GradCAMPlusPlus: CAMMethod, Sendable {
    public init() {}
    public func channelWeights(activations: Tensor, gradients: Tensor) -> Tensor {
        let squared = gradients * gradients
        let cubed = squared * gradients
        let activationSums = activations.sum(alongAxes: [2, 3], keepingDimensions: true)
        let alpha = squared / (squared * 2 + activationSums * cubed + 1e-6)
        let masked = Tensor.where(gradients .!= Tensor(0), alpha, Tensor(0))
        return (masked * gradients.relu()).sum(alongAxes: [2, 3])
    }
}

extension Module {
    /// The default layer for class activation maps: the last module, in execution order, whose
    /// output is `[N, C, h, w]` with more than one spatial position (the last convolutional
    /// activation before global pooling); in an ONNX graph, the last such tensor that is not a
    /// mere transpose or reshape. Found by running one sample of zeros shaped like `inputShape`
    /// `[N, C, H, W]` (the choice does not depend on the batch size).
    public func defaultCAMLayer(inputShape: [Int]) throws -> String {
        let rearranged = Set(
            namedModules().flatMap { $0.module.innerTaps.filter(\.rearranges).flatMap { [$0.name] + $0.aliases } })
        let probe = [1] + inputShape.dropFirst()
        let (_, shapes, order) = try withTapShapesInOrder(tapNames.filter { !rearranged.contains($0) }) {
            withoutGradients { self(Tensor.zeros(probe)) }
        }
        guard
            let layer = order.last(where: { path in
                guard let shape = shapes[path] else { return false }
                return shape.count == 4 && shape[2] * shape[3] > 1
            })
        else {
            throw ExplanationError("the model has no layer with a spatial output; give --layer")
        }
        return layer
    }
}

extension AttributionMethod {
    public static let gradCAM = camMethod(
        GradCAM(), name: "grad-cam", summary: "a layer's activations weighted by their mean gradient (Selvaraju et al., 2017)")
    public static let gradCAMPlusPlus = camMethod(
        GradCAMPlusPlus(), name: "grad-cam++",
        summary: "a layer's activations weighted by positive gradients with per-position weights (Chattopadhyay et al., 2018)")

    /// A CAM method as a registered method: a map `[N, h, w]` at the chosen layer.
    static func camMethod(_ method: some CAMMethod & Sendable, name: String, summary: String) -> AttributionMethod {
        AttributionMethod(name: name, summary: summary, output: .layer, settings: [.layer]) { context in
            let layer = context.layer!
            return Result(
                attribution: try method.attribute(context.model, layer: layer, input: context.input, target: context.target),
                layer: layer)
        }
    }
}
