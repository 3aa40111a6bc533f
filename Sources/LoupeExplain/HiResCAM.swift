import LoupeTensor

/// HiResCAM (Draelos & Carin, 2020): the activations times their gradients, position by position,
/// summed over channels (no spatial averaging of the gradient, so the map is faithful to the
/// score); pytorch-grad-cam's `HiResCAM`.
public struct HiResCAM: CAMMethod {
    public init() {}
    public var readsOnlyTheLayer: Bool { true }
    public func explain(_ context: CAMContext) -> CAMOutput {
        .contributions(context.requiredGradients * context.activations)
    }
}

extension AttributionMethod {
    public static let hiResCAM = camMethod(
        HiResCAM(), name: "hires-cam",
        summary: "a layer's activations times their gradients, position by position (Draelos & Carin, 2020)")
}
