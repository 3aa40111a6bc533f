import LoupeNN
import LoupeTensor

/// Every attribution method by its command-line name, so the CLI and the report run methods the
/// same way from one place.
public enum AttributionMethod: String, CaseIterable, Sendable {
    case saliency
    case inputXGradient = "input-x-gradient"
    case guidedBackprop = "guided-backprop"
    case deconvnet
    case smoothgrad
    case smoothgradSquared = "smoothgrad-squared"
    case vargrad
    case blurSaliency = "blur-saliency"
    case integratedGradients = "integrated-gradients"
    case occlusion
    case gradCAM = "grad-cam"
    case gradCAMPlusPlus = "grad-cam++"
    case guidedGradCAM = "guided-grad-cam"

    /// Whether the method attributes to a layer (`[N, h, w]`) rather than to the input pixels.
    public var attributesToLayer: Bool { self == .gradCAM || self == .gradCAMPlusPlus }

    /// Whether the method needs a layer (the CAM family, guided Grad-CAM included).
    public var usesLayer: Bool { attributesToLayer || self == .guidedGradCAM }

    /// The settings of every method; each method reads the ones it needs.
    public struct Options: Sendable {
        /// SmoothGrad samples, noise (a fraction of the input's max − min) and seed.
        public var samples = 50
        public var noise: Float = 0.15
        public var seed: UInt64 = 0
        /// Blur-saliency standard deviations in pixels.
        public var sigmas: [Float] = [1, 3, 9, 27]
        /// Integrated-gradients steps and quadrature rule.
        public var steps = 50
        public var rule: IntegratedGradients.Rule = .gaussLegendre
        /// Occlusion window, stride (pixels) and fill.
        public var window = 16
        public var stride = 8
        public var baseline: Occlusion.Baseline = .value(0)
        /// The CAM layer; `nil` picks ``LoupeNN/Module/defaultCAMLayer(inputShape:)``.
        public var layer: String?
        /// The most samples of a batch explained together: a larger batch is explained this many
        /// at a time, which bounds memory and does not change the result (a model in evaluation
        /// mode treats samples independently). The noise methods split their own passes instead,
        /// so that their random draws stay those of the whole batch.
        public var samplesPerPass = 4

        public init() {}
    }

    /// What a method produced.
    public struct Result {
        /// `[N, C, H, W]` like the input for pixel methods; `[N, h, w]` for Grad-CAM and Grad-CAM++.
        public var attribution: Tensor
        /// The layer a CAM method used (chosen automatically when the options named none).
        public var layer: String?
        /// Integrated gradients' convergence delta per image.
        public var convergenceDelta: [Float]?
    }

    /// Runs the method on a batch.
    ///
    /// - Parameters:
    ///   - model: the network; its output is `[N, classes]`.
    ///   - input: `[N, C, H, W]`.
    ///   - progress: occlusion reports windows done and in all.
    public func attribute(
        _ model: Module, input: Tensor, target: ExplanationTarget, options: Options = Options(),
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> Result {
        precondition(input.rank == 4, "attribute: input must be [N, C, H, W]; got \(input.shape)")
        var options = options
        if usesLayer, options.layer == nil {  // chosen once, not once per pass
            options.layer = try model.defaultCAMLayer(inputShape: input.shape)
        }
        let count = input.shape[0], perPass = Swift.max(1, options.samplesPerPass)
        guard count > perPass, case .classes = target, !model.isTraining, !drawsNoise else {
            return try attributeTogether(model, input: input, target: target, options: options, progress: progress)
        }
        // The batch in passes of `perPass` samples: peak memory is that of one pass, at about the
        // same speed per sample.
        var parts: [Result] = []
        for start in stride(from: 0, to: count, by: perPass) {
            let end = Swift.min(start + perPass, count)
            parts.append(
                try attributeTogether(
                    model, input: input.slice(along: 0, from: start, to: end), target: target.subset(start..<end),
                    options: options,
                    progress: progress.map { report in
                        // Occlusion counts windows per pass; each sample has as many.
                        { done, all in report(done + all / (end - start) * start, all / (end - start) * count) }
                    }))
        }
        return Result(
            attribution: Tensor.concatenate(parts.map(\.attribution), along: 0), layer: parts[0].layer,
            convergenceDelta: parts[0].convergenceDelta.map { _ in parts.flatMap { $0.convergenceDelta! } })
    }

    /// Whether the method draws random noise for the whole batch at once.
    private var drawsNoise: Bool { self == .smoothgrad || self == .smoothgradSquared || self == .vargrad }

    /// ``attribute(_:input:target:options:progress:)`` on the whole batch at once.
    private func attributeTogether(
        _ model: Module, input: Tensor, target: ExplanationTarget, options: Options,
        progress: ((Int, Int) -> Void)?
    ) throws -> Result {
        let forward = { (batch: Tensor) in model(batch) }
        if self == .occlusion {
            guard options.window >= 1, options.stride >= 1, options.window <= min(input.shape[2], input.shape[3]) else {
                throw ExplanationError(
                    "occlusion window \(options.window) (stride \(options.stride)) does not fit the "
                        + "\(input.shape[2])×\(input.shape[3]) input; choose 1...\(min(input.shape[2], input.shape[3]))")
            }
        }
        if self == .blurSaliency, options.sigmas.isEmpty || options.sigmas.contains(where: { !($0 > 0) }) {
            throw ExplanationError("blur-saliency needs positive standard deviations, e.g. 1,3,9,27")
        }
        let layer = usesLayer ? options.layer : nil
        func noiseTunnel(_ aggregation: NoiseTunnel<Saliency>.Aggregation) -> Tensor {
            NoiseTunnel(
                Saliency(), samples: options.samples, noiseLevel: options.noise, aggregation: aggregation, seed: options.seed
            )
            .attribute(forward, input: input, target: target)
        }
        var result = Result(attribution: input, layer: layer)
        switch self {
        case .saliency: result.attribution = Saliency().attribute(forward, input: input, target: target)
        case .inputXGradient: result.attribution = InputXGradient().attribute(forward, input: input, target: target)
        case .guidedBackprop: result.attribution = GuidedBackprop().attribute(forward, input: input, target: target)
        case .deconvnet: result.attribution = Deconvnet().attribute(forward, input: input, target: target)
        case .smoothgrad: result.attribution = noiseTunnel(.smoothgrad)
        case .smoothgradSquared: result.attribution = noiseTunnel(.smoothgradSquared)
        case .vargrad: result.attribution = noiseTunnel(.vargrad)
        case .blurSaliency:
            result.attribution = NoiseTunnel(Saliency()).attribute(
                forward, input: input, target: target, blurSigmas: options.sigmas)
        case .integratedGradients:
            let integrated = IntegratedGradients(steps: options.steps, rule: options.rule).attribute(
                forward, input: input, target: target)
            result.attribution = integrated.attribution
            result.convergenceDelta = integrated.delta
        case .occlusion:
            result.attribution = Occlusion(window: options.window, stride: options.stride, baseline: options.baseline)
                .attribute(model, input: input, target: target, progress: progress ?? { _, _ in })
        case .gradCAM: result.attribution = try GradCAM().attribute(model, layer: layer!, input: input, target: target)
        case .gradCAMPlusPlus:
            result.attribution = try GradCAMPlusPlus().attribute(model, layer: layer!, input: input, target: target)
        case .guidedGradCAM: result.attribution = try GuidedGradCAM(layer: layer!).attribute(model, input: input, target: target)
        }
        return result
    }
}
