import LoupeNN
import LoupeTensor

/// What one forward pass with gradients recorded and one backward pass of the target scores
/// give: the model's output, the gradient at the input, and the activations and gradients at
/// some layers, under the standard ReLU rule.
///
/// Saliency, input × gradient and the CAM methods that weigh a layer's activations by its
/// gradients read nothing else. Run together (``AttributionMethod/attributeTogether(_:model:input:targets:options:)``)
/// they share this one pair of passes, and the prediction comes from the same forward pass,
/// instead of each method making its own.
public struct SharedGradients {
    /// `[N, C, H, W]`.
    public let input: Tensor
    /// The model's output `[N, K]`, detached.
    public let output: Tensor
    /// The class explained for each sample.
    public let targets: [Int]
    /// The gradient of the target scores at the input, shaped like it.
    public let inputGradient: Tensor
    /// Each tapped layer's output `[N, C, h, w]`, detached.
    public let activations: [String: Tensor]
    /// The gradient of the target scores at each tapped layer.
    public let layerGradients: [String: Tensor]

    /// Runs `model` on `input` tapping `layers`, picks each sample's class (`targets`, nil for the
    /// top class), and backpropagates the sum of those scores once.
    public init(model: Module, input: Tensor, layers: [String], targets chosen: [Int?]) throws {
        precondition(chosen.count == input.shape[0], "SharedGradients: \(chosen.count) targets for input \(input.shape)")
        let tracked = input.trackingGradients()
        let (output, tapped) = try withReLUBackwardRule(.standard) {
            try model.withTaps(layers, gradients: true) { model(tracked) }
        }
        let detached = output.detached()
        let targets = try Self.targets(chosen, output: detached)
        let points = try layers.map { layer in
            guard let activation = tapped[layer], activation.rank == 4 else {
                throw ExplanationError("layer '\(layer)' has no [N, C, h, w] output for a class activation map")
            }
            return activation
        }
        let score = ExplanationTarget.classes(targets).scores(output).sum()
        let gradients = withReLUBackwardRule(.standard) { LoupeTensor.gradients(of: score, at: points + [tracked]) }
        self.input = input
        self.output = detached
        self.targets = targets
        self.inputGradient = gradients[layers.count]
        self.activations = Dictionary(uniqueKeysWithValues: zip(layers, points.map { $0.detached() }))
        self.layerGradients = Dictionary(uniqueKeysWithValues: zip(layers, gradients.prefix(layers.count)))
    }

    /// Each sample's class to explain: the one chosen, else the top class of `output` `[N, K]`;
    /// an error for an output of another shape or a class outside `0..<K`.
    static func targets(_ chosen: [Int?], output: Tensor) throws -> [Int] {
        guard output.rank == 2 else { throw ExplanationError("the model's output is \(output.shape), not [N, classes]") }
        let classes = output.shape[1]
        let targets = chosen.enumerated().map { sample, target in target ?? output[sample].argmax() }
        if let outside = targets.first(where: { !(0..<classes).contains($0) }) {
            throw ExplanationError("class \(outside) is outside the model's \(classes) classes (0...\(classes - 1))")
        }
        return targets
    }
}

extension AttributionMethod {
    /// What ``attributeTogether(_:model:input:targets:options:)`` gives.
    public struct Together {
        /// The model's output `[N, K]`.
        public var output: Tensor
        /// The class explained for each sample.
        public var targets: [Int]
        /// Each method's result, in the order given.
        public var results: [Result]
        /// Seconds spent: `shared` for the forward pass (and the backward pass the sharing methods
        /// share), and each method's own.
        public var seconds: [String: Double]
    }

    /// Whether this method reads its result from ``SharedGradients`` with these CAM layers and
    /// options: saliency, input × gradient, and the CAM methods that read only their layer, at one
    /// layer without `augSmooth`.
    public func sharesGradients(layers: [String], options: Options) -> Bool {
        fromSharedGradients != nil && (!usesLayer || (layers.count == 1 && !options.augSmooth))
    }

    /// Predicts and explains a batch with several methods at once: the methods that read only
    /// the standard gradients (``SharedGradients``) share one forward and one backward pass per
    /// ``Options/samplesPerPass`` samples, which also gives the prediction; the others run as
    /// ``attribute(_:input:target:options:progress:)`` runs them. Each result equals the
    /// method's own, up to the order of floating-point sums.
    ///
    /// - Parameter targets: the class to explain for each sample; nil for its top class.
    public static func attributeTogether(
        _ methods: [AttributionMethod], model: Module, input: Tensor, targets chosen: [Int?], options: Options = Options()
    ) throws -> Together {
        precondition(input.rank == 4, "attributeTogether: input must be [N, C, H, W]; got \(input.shape)")
        let layers =
            methods.contains(where: \.usesLayer)
            ? (options.layers.isEmpty ? [try model.defaultCAMLayer(inputShape: input.shape)] : options.layers) : []
        let sharing = methods.map { !model.isTraining && $0.sharesGradients(layers: layers, options: options) }
        var seconds: [String: Double] = [:]
        var clock = ContinuousClock.now
        func lap(_ step: String) {
            let now = ContinuousClock.now
            let elapsed = now - clock
            seconds[step, default: 0] += Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            clock = now
        }
        var results = [Result?](repeating: nil, count: methods.count)
        let output: Tensor
        let targets: [Int]
        if sharing.contains(true) {
            let tapped = zip(methods, sharing).contains { $0.usesLayer && $1 } ? layers : []
            var outputs: [Tensor] = [], chosenTargets: [Int] = []
            var parts = [[Result]](repeating: [], count: methods.count)
            let count = input.shape[0], perPass = Swift.max(1, options.samplesPerPass)
            for start in stride(from: 0, to: count, by: perPass) {
                let end = Swift.min(start + perPass, count)
                let part = input.slice(along: 0, from: start, to: end)
                let shared = try SharedGradients(model: model, input: part, layers: tapped, targets: Array(chosen[start..<end]))
                lap("shared")
                outputs.append(shared.output)
                chosenTargets += shared.targets
                let context = Context(
                    model: model, input: part, target: .classes(shared.targets), options: options, layers: layers,
                    progress: { _, _ in })
                for (index, method) in methods.enumerated() where sharing[index] {
                    parts[index].append(try method.fromSharedGradients!(shared, context))
                    lap(method.name)
                }
            }
            output = Tensor.concatenate(outputs, along: 0)
            targets = chosenTargets
            for index in methods.indices where sharing[index] {
                results[index] = Result(
                    attribution: Tensor.concatenate(parts[index].map(\.attribution), along: 0), layers: parts[index][0].layers)
            }
        } else {
            output = model.predictions(for: input, samplesPerPass: options.samplesPerPass)
            targets = try SharedGradients.targets(chosen, output: output)
            lap("shared")
        }
        for (index, method) in methods.enumerated() where !sharing[index] {
            results[index] = try method.attribute(model, input: input, target: .classes(targets), options: options)
            lap(method.name)
        }
        return Together(output: output, targets: targets, results: results.map { $0! }, seconds: seconds)
    }
}
