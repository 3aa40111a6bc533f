import LoupeNN
import LoupeTensor

/// An attribution method as Loupe runs it, declared once: its command-line name, a one-line
/// description, what it attributes to, whether it needs gradients, the settings it reads, and how
/// it runs. Loupe's own methods are static members declared beside their algorithms
/// (``saliency``, ``gradCAM``, ...); ``MethodRegistry`` lists them, with any a library user
/// registers, and the CLI's method names and help, the report and the tests all read that list.
public struct AttributionMethod: Sendable, Hashable {
    /// What a method's attribution is about.
    public enum Output: Sendable {
        /// The input pixels: an attribution shaped like the input, `[N, C, H, W]`.
        case input
        /// A map `[N, h, w]` (the CAM family): at the layer's resolution; at the input's, min–max
        /// scaled as pytorch-grad-cam scales it, for FullGrad and for a CAM at several layers or
        /// with ``Options/augSmooth``.
        case layer
    }

    /// The settings of ``Options`` a method can read, by the name of their command-line option.
    public enum Setting: String, CaseIterable, Sendable {
        case samples, noise, seed, sigmas, steps, rule, window, stride, baseline, layer
        case eigenSmooth = "eigen-smooth"
        case augSmooth = "aug-smooth"
    }

    /// What a method is run on.
    public struct Context {
        public var model: Module
        /// `[N, C, H, W]`.
        public var input: Tensor
        public var target: ExplanationTarget
        public var options: Options
        /// The layers, for a method that reads ``Setting/layer``: the options' or the model's
        /// default CAM layer, chosen once for the whole batch; empty for other methods.
        public var layers: [String]
        /// Told the units of work done and in all (occlusion's windows, a CAM's perturbed copies).
        public var progress: (Int, Int) -> Void
    }

    /// The name on the command line (`--method`), lowercase words joined by hyphens.
    public let name: String
    /// One line for the help and the report.
    public let summary: String
    public let output: Output
    /// Whether it backpropagates; a gradient-free method works on models without a backward pass.
    public let needsGradients: Bool
    /// The settings it reads; the others leave its result unchanged (a test checks both).
    public let settings: [Setting]
    /// Whether one sample's attribution is independent of the rest of the batch, so a batch may be
    /// explained a few samples at a time; not so for methods that draw noise for a whole batch.
    public let samplesAreIndependent: Bool
    /// Whether a report shows it unless told which methods to run: the default list is kept
    /// short enough to read, with one method of each kind; `--methods all` shows every one.
    public let isInDefaultReport: Bool
    private let run: @Sendable (Context) throws -> Result
    /// How the method reads its result from a forward and backward pass it shares with others
    /// (``SharedGradients``), for a method that needs nothing else; nil for the rest.
    let fromSharedGradients: (@Sendable (SharedGradients, Context) throws -> Result)?

    /// A method; `run` computes the attribution of a whole batch (``attribute(_:input:target:options:progress:)``
    /// splits large batches and chooses the layer before calling it). A method whose result
    /// depends only on the standard gradients at the input or at its layer gives
    /// `fromSharedGradients`, which computes the same result from them, so that it can share those
    /// passes with other methods (``attributeTogether(_:model:input:targets:options:)``).
    public init(
        name: String, summary: String, output: Output = .input, needsGradients: Bool = true, settings: [Setting] = [],
        samplesAreIndependent: Bool = true, isInDefaultReport: Bool = true,
        fromSharedGradients: (@Sendable (SharedGradients, Context) throws -> Result)? = nil,
        run: @escaping @Sendable (Context) throws -> Result
    ) {
        self.fromSharedGradients = fromSharedGradients
        self.name = name
        self.summary = summary
        self.output = output
        self.needsGradients = needsGradients
        self.settings = settings
        self.samplesAreIndependent = samplesAreIndependent
        self.isInDefaultReport = isInDefaultReport
        self.run = run
    }

    /// Whether the method gives a map `[N, h, w]` (the CAM family, FullGrad) rather than an
    /// attribution to each input pixel.
    public var attributesToLayer: Bool { output == .layer }

    /// Whether the method needs a layer (the CAM family, guided Grad-CAM included).
    public var usesLayer: Bool { settings.contains(.layer) }

    public static func == (left: AttributionMethod, right: AttributionMethod) -> Bool { left.name == right.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }

    /// The settings of every method; each method reads the ones it declares.
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
        /// The CAM layers; none picks ``LoupeNN/Module/defaultCAMLayer(inputShape:)``. With more
        /// than one, the map is pytorch-grad-cam's for several layers: each layer's map min–max
        /// scaled and resized (bilinear) to the input, their mean scaled again.
        public var layers: [String] = []
        /// Whether a CAM method projects its channels' contributions on their first principal
        /// component instead of summing them (pytorch-grad-cam's `eigen_smooth`).
        public var eigenSmooth = false
        /// Whether a CAM is averaged over six augmented copies of the input, as pytorch-grad-cam's
        /// `aug_smooth`: mirrored or not, times 0.9, 1 or 1.1, each map (scaled at the input's
        /// resolution, as for several layers) mirrored back.
        public var augSmooth = false
        /// The most samples of a batch explained together: a larger batch is explained this many
        /// at a time, which bounds memory and does not change the result (a model in evaluation
        /// mode treats samples independently). The noise methods split their own passes instead,
        /// so that their random draws stay those of the whole batch.
        public var samplesPerPass = 4
        /// The most perturbed copies of one sample (Score-CAM's masked inputs) run through the
        /// model together; like ``samplesPerPass`` it bounds memory and leaves the result unchanged.
        public var copiesPerPass = 8

        public init() {}
    }

    /// What a method produced.
    public struct Result {
        /// `[N, C, H, W]` like the input for pixel methods; `[N, h, w]` for layer methods.
        public var attribution: Tensor
        /// The layers a CAM method used (chosen automatically when the options named none).
        public var layers: [String]
        /// Integrated gradients' convergence delta per image.
        public var convergenceDelta: [Float]?

        public init(attribution: Tensor, layers: [String] = [], convergenceDelta: [Float]? = nil) {
            self.attribution = attribution
            self.layers = layers
            self.convergenceDelta = convergenceDelta
        }
    }

    /// Runs the method on a batch.
    ///
    /// - Parameters:
    ///   - model: the network; its output is `[N, classes]`.
    ///   - input: `[N, C, H, W]`.
    ///   - progress: told the units of work done and in all (occlusion's windows).
    public func attribute(
        _ model: Module, input: Tensor, target: ExplanationTarget, options: Options = Options(),
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> Result {
        precondition(input.rank == 4, "attribute: input must be [N, C, H, W]; got \(input.shape)")
        var layers: [String] = []
        if usesLayer {  // chosen once, not once per pass
            layers = options.layers.isEmpty ? [try model.defaultCAMLayer(inputShape: input.shape)] : options.layers
        }
        let report = progress ?? { _, _ in }
        let count = input.shape[0], perPass = Swift.max(1, options.samplesPerPass)
        guard count > perPass, case .classes = target, !model.isTraining, samplesAreIndependent else {
            return try run(
                Context(model: model, input: input, target: target, options: options, layers: layers, progress: report))
        }
        // The batch in passes of `perPass` samples: peak memory is that of one pass, at about the
        // same speed per sample.
        var parts: [Result] = []
        for start in stride(from: 0, to: count, by: perPass) {
            let end = Swift.min(start + perPass, count)
            let context = Context(
                model: model, input: input.slice(along: 0, from: start, to: end), target: target.subset(start..<end),
                options: options, layers: layers,
                // Occlusion counts windows per pass; each sample has as many.
                progress: { done, all in report(done + all / (end - start) * start, all / (end - start) * count) })
            parts.append(try run(context))
        }
        return Result(
            attribution: Tensor.concatenate(parts.map(\.attribution), along: 0), layers: parts[0].layers,
            convergenceDelta: parts[0].convergenceDelta.map { _ in parts.flatMap { $0.convergenceDelta! } })
    }
}
