import LoupeNN
import LoupeTensor

/// Guided Grad-CAM (Selvaraju et al., 2017), as Captum's `GuidedGradCam`: guided
/// backpropagation times the Grad-CAM map upsampled (nearest) to the input size.
public struct GuidedGradCAM {
    public var layer: String

    public init(layer: String) {
        self.layer = layer
    }

    /// The attribution, shaped like `input` `[N, C, H, W]`.
    public func attribute(_ model: Module, input: Tensor, target: ExplanationTarget) throws -> Tensor {
        let cam = try GradCAM().attribute(model, layer: layer, input: input, target: target)
        let upsampled = cam.unsqueezed(at: 1).resizedNearest(to: Size2D(input.shape[2], input.shape[3]))
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
        let layer = context.layer!
        return Result(
            attribution: try GuidedGradCAM(layer: layer).attribute(context.model, input: context.input, target: context.target),
            layer: layer)
    }
}
