import LoupeNN
import LoupeTensor

/// Guided Grad-CAM (Selvaraju et al., 2017), as Captum's `GuidedGradCam`: guided
/// backpropagation times the Grad-CAM map upsampled (nearest) to the input size. At several
/// layers, the Grad-CAM map is pytorch-grad-cam's for those layers, already at the input's
/// resolution (``CAMMethod/scaledMap(_:layers:input:target:options:progress:)``), as its guided
/// Grad-CAM example multiplies them.
public struct GuidedGradCAM {
    public var layers: [String]

    public init(layer: String) {
        layers = [layer]
    }

    public init(layers: [String]) {
        precondition(!layers.isEmpty, "GuidedGradCAM: give at least one layer")
        self.layers = layers
    }

    /// The attribution, shaped like `input` `[N, C, H, W]`.
    public func attribute(_ model: Module, input: Tensor, target: ExplanationTarget) throws -> Tensor {
        let size = Size2D(input.shape[2], input.shape[3])
        let upsampled =
            layers.count == 1
            ? try GradCAM().attribute(model, layer: layers[0], input: input, target: target).unsqueezed(at: 1)
                .resizedNearest(to: size)
            : try GradCAM().scaledMap(model, layers: layers, input: input, target: target).unsqueezed(at: 1)
        let guided = GuidedBackprop().attribute({ model($0) }, input: input, target: target)
        return guided * upsampled
    }
}

extension AttributionMethod {
    public static let guidedGradCAM = AttributionMethod(
        name: "guided-grad-cam",
        summary: "guided backprop times the Grad-CAM map upsampled to the input (Selvaraju et al., 2017)",
        settings: [.layer]
    ) { context in
        Result(
            attribution: try GuidedGradCAM(layers: context.layers).attribute(
                context.model, input: context.input, target: context.target),
            layers: context.layers)
    }
}
