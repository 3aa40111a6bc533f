import LoupeTensor

/// Grad-CAM (Selvaraju et al., 2017): weights are the spatial means of the gradients; equal to
/// Captum's `LayerGradCam(relu_attributions=True)` and pytorch-grad-cam's `GradCAM`.
public struct GradCAM: CAMMethod {
    public init() {}
    public var readsOnlyTheLayer: Bool { true }
    public func explain(_ context: CAMContext) -> CAMOutput {
        .channelWeights(context.requiredGradients.mean(alongAxes: [2, 3]))
    }
}

/// Grad-CAM++ (Chattopadhyay et al., 2018), as pytorch-grad-cam computes it:
/// `α = g² / (2g² + Σ_ij A · g³)` (0 where g = 0) and weights `Σ_ij α · ReLU(g)`.
public struct GradCAMPlusPlus: CAMMethod {
    public init() {}
    public var readsOnlyTheLayer: Bool { true }
    public func explain(_ context: CAMContext) -> CAMOutput {
        let (activations, gradients) = (context.activations, context.requiredGradients)
        let squared = gradients * gradients
        let cubed = squared * gradients
        let activationSums = activations.sum(alongAxes: [2, 3], keepingDimensions: true)
        let alpha = squared / (squared * 2 + activationSums * cubed + 1e-6)
        let masked = Tensor.where(gradients .!= Tensor(0), alpha, Tensor(0))
        return .channelWeights((masked * gradients.relu()).sum(alongAxes: [2, 3]))
    }
}

extension AttributionMethod {
    public static let gradCAM = camMethod(
        GradCAM(), name: "grad-cam", summary: "a layer's activations weighted by their mean gradient (Selvaraju et al., 2017)")
    public static let gradCAMPlusPlus = camMethod(
        GradCAMPlusPlus(), name: "grad-cam++",
        summary: "a layer's activations weighted by positive gradients with per-position weights (Chattopadhyay et al., 2018)")
}
