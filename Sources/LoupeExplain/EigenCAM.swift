import LoupeTensor

/// Eigen-CAM (Muhammad & Yasin, 2020): the layer's activations projected on their first
/// principal component — no gradients and no class, so it works where gradients are unavailable;
/// pytorch-grad-cam's `EigenCAM`. The component's sign is fixed as
/// ``firstPrincipalProjection(_:)`` says.
public struct EigenCAM: CAMMethod {
    public init() {}
    public var readsOnlyTheLayer: Bool { true }
    public var needsGradients: Bool { false }
    public func explain(_ context: CAMContext) -> CAMOutput {
        .map(firstPrincipalProjection(context.activations))
    }
}

/// Eigen-Grad-CAM: activations times gradients projected on their first principal component,
/// which makes Eigen-CAM class-specific; pytorch-grad-cam's `EigenGradCAM`.
public struct EigenGradCAM: CAMMethod {
    public init() {}
    public var readsOnlyTheLayer: Bool { true }
    public func explain(_ context: CAMContext) -> CAMOutput {
        .map(firstPrincipalProjection(context.requiredGradients * context.activations))
    }
}

extension AttributionMethod {
    public static let eigenCAM = camMethod(
        EigenCAM(), name: "eigen-cam",
        summary: "a layer's activations projected on their first principal component, without gradients (Muhammad & Yasin, 2020)",
        smooths: false)
    public static let eigenGradCAM = camMethod(
        EigenGradCAM(), name: "eigen-grad-cam",
        summary: "activations times gradients projected on their first principal component", smooths: false,
        isInDefaultReport: false)
}
