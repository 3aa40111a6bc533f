import LoupeTensor

/// XGrad-CAM (Fu et al., 2020): weights `Σ_ij g · A / (Σ_ij A + 1e-7)`, the gradient averaged
/// with the activations as weights; pytorch-grad-cam's `XGradCAM`.
public struct XGradCAM: CAMMethod {
    public init() {}
    public var readsOnlyTheLayer: Bool { true }
    public func explain(_ context: CAMContext) -> CAMOutput {
        let activations = context.activations
        let sums = activations.sum(alongAxes: [2, 3], keepingDimensions: true)
        return .channelWeights((context.requiredGradients * activations / (sums + 1e-7)).sum(alongAxes: [2, 3]))
    }
}

extension AttributionMethod {
    public static let xGradCAM = camMethod(
        XGradCAM(), name: "xgrad-cam",
        summary: "a layer's activations weighted by their activation-weighted mean gradient (Fu et al., 2020)",
        isInDefaultReport: false)
}
