import LoupeTensor

/// Grad-CAM element-wise: `ReLU(g · A)` summed over channels, so that a channel's negative
/// evidence at one position cannot cancel another channel's positive evidence there;
/// pytorch-grad-cam's `GradCAMElementWise`.
public struct GradCAMElementWise: CAMMethod {
    public init() {}
    public var readsOnlyTheLayer: Bool { true }
    public func explain(_ context: CAMContext) -> CAMOutput {
        .contributions((context.requiredGradients * context.activations).relu())
    }
}

extension AttributionMethod {
    public static let gradCAMElementWise = camMethod(
        GradCAMElementWise(), name: "grad-cam-element-wise",
        summary: "the positive part of activations times gradients, position by position, summed over channels",
        isInDefaultReport: false)
}
