import LoupeTensor

/// LayerCAM (Jiang et al., 2021): the activations times their positive gradients, position by
/// position; pytorch-grad-cam's `LayerCAM`.
public struct LayerCAM: CAMMethod {
    public init() {}
    public var readsOnlyTheLayer: Bool { true }
    public func explain(_ context: CAMContext) -> CAMOutput {
        .contributions(context.requiredGradients.relu() * context.activations)
    }
}

extension AttributionMethod {
    public static let layerCAM = camMethod(
        LayerCAM(), name: "layer-cam",
        summary: "a layer's activations times their positive gradients, position by position (Jiang et al., 2021)",
        isInDefaultReport: false)
}
