import LoupeTensor

/// Attribution methods built on the input gradient. A method supplies only how it combines the
/// input with its gradient, and the ReLU rule of the backward pass.
public protocol GradientMethod {
    /// The ReLU backward rule for the gradient (`.standard` unless the method changes it).
    var rule: ReLUBackwardRule { get }
    /// The attribution from the input and the gradient of the score with respect to it.
    func combine(input: Tensor, gradient: Tensor) -> Tensor
}

extension GradientMethod {
    public var rule: ReLUBackwardRule { .standard }

    /// The attribution for each sample of `input` `[N, ...]`, shaped like `input`.
    public func attribute(_ model: (Tensor) -> Tensor, input: Tensor, target: ExplanationTarget) -> Tensor {
        combine(input: input, gradient: inputGradient(of: model, at: input, target: target, rule: rule))
    }
}

/// The raw signed gradient (Simonyan et al., 2014), Captum's `Saliency(abs=False)`.
public struct Saliency: GradientMethod, Sendable {
    public init() {}
    public func combine(input: Tensor, gradient: Tensor) -> Tensor { gradient }
}

/// Input times gradient (Shrikumar et al., 2016), Captum's `InputXGradient`.
public struct InputXGradient: GradientMethod, Sendable {
    public init() {}
    public func combine(input: Tensor, gradient: Tensor) -> Tensor { input * gradient }
}

/// Guided backpropagation (Springenberg et al., 2015), Captum's `GuidedBackprop`.
public struct GuidedBackprop: GradientMethod, Sendable {
    public init() {}
    public var rule: ReLUBackwardRule { .guided }
    public func combine(input: Tensor, gradient: Tensor) -> Tensor { gradient }
}

/// The deconvnet attribution (Zeiler & Fergus, 2014), Captum's `Deconvolution`.
public struct Deconvnet: GradientMethod, Sendable {
    public init() {}
    public var rule: ReLUBackwardRule { .deconvnet }
    public func combine(input: Tensor, gradient: Tensor) -> Tensor { gradient }
}

/// The 2-D summaries of a multi-channel attribution `[N, C, H, W]`.
public enum ChannelReduction: String, CaseIterable, Sendable {
    /// Keep every channel.
    case none
    /// |a| summed over channels.
    case abs
    /// The largest value over channels.
    case max
    /// The largest |a| over channels (Simonyan et al.'s saliency map).
    case absmax

    /// `[N, C, H, W]` → `[N, 1, H, W]` (unchanged for `.none`).
    public func apply(_ attribution: Tensor) -> Tensor {
        switch self {
        case .none: attribution
        case .abs: attribution.abs().sum(along: 1, keepingDimensions: true)
        case .max: attribution.max(along: 1, keepingDimensions: true)
        case .absmax: attribution.abs().max(along: 1, keepingDimensions: true)
        }
    }
}

extension AttributionMethod {
    public static let saliency = gradientMethod(
        Saliency(), name: "saliency", summary: "the class score's gradient at each input pixel, signed (Simonyan et al., 2014)")
    public static let inputXGradient = gradientMethod(
        InputXGradient(), name: "input-x-gradient", summary: "the input times its gradient (Shrikumar et al., 2016)")
    public static let guidedBackprop = gradientMethod(
        GuidedBackprop(), name: "guided-backprop",
        summary: "the gradient with only positive signals passed back through each ReLU (Springenberg et al., 2015)")
    public static let deconvnet = gradientMethod(
        Deconvnet(), name: "deconvnet",
        summary: "the gradient with each ReLU applied to the signal passed back (Zeiler & Fergus, 2014)",
        isInDefaultReport: false)

    /// A gradient method that reads no settings, as a registered method.
    static func gradientMethod(
        _ method: some GradientMethod & Sendable, name: String, summary: String, isInDefaultReport: Bool = true
    ) -> AttributionMethod {
        var fromShared: (@Sendable (SharedGradients, Context) throws -> Result)? = nil
        if method.rule == .standard {
            fromShared = { @Sendable shared, _ in
                Result(attribution: method.combine(input: shared.input, gradient: shared.inputGradient))
            }
        }
        return AttributionMethod(
            name: name, summary: summary, isInDefaultReport: isInDefaultReport, fromSharedGradients: fromShared
        ) { context in
            Result(attribution: method.attribute({ context.model($0) }, input: context.input, target: context.target))
        }
    }
}
