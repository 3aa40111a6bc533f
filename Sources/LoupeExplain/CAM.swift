@_spi(Engine) import LoupeNN
@_spi(Engine) import LoupeTensor

/// What a class activation map method works from: the model and its input, the targets, the
/// layer, its activations, and the targets' gradients at the layer when the method needs them.
public struct CAMContext {
    public let model: Module
    /// `[N, C, H, W]`.
    public let input: Tensor
    public let target: ExplanationTarget
    public let layer: String
    /// The layer's output `[N, C, h, w]`, detached.
    public let activations: Tensor
    /// The gradient of the target scores at the layer `[N, C, h, w]`; `nil` for a method that
    /// does not need gradients.
    public let gradients: Tensor?
    public let options: AttributionMethod.Options
    /// Told the perturbed copies run and in all (``perturbedScores(ofSample:count:copies:)``).
    public let progress: (Int, Int) -> Void

    /// The gradients, for a method that declared it needs them.
    public var requiredGradients: Tensor {
        guard let gradients else { preconditionFailure("CAMContext: a method that reads gradients must need them") }
        return gradients
    }
}

/// What a CAM method gives the family, which turns it into the map.
public enum CAMOutput {
    /// Per-sample channel weights `[N, C]`: the map is `ReLU(Σ_c w_c · A_c)`.
    case channelWeights(Tensor)
    /// Per-channel contributions `[N, C, h, w]`: the map is `ReLU(Σ_c contribution_c)`.
    case contributions(Tensor)
    /// The map itself `[N, h, w]`, before the ReLU.
    case map(Tensor)
}

/// Class activation maps: a method supplies only what is its own — channel weights, per-channel
/// contributions or the map — and the family does the rest: the tap at the layer, the
/// gradients when asked for, the weighted sum (or, with ``AttributionMethod/Options/eigenSmooth``,
/// the first principal component, as pytorch-grad-cam's `eigen_smooth`), and the ReLU, giving
/// the raw map `[N, h, w]` at the layer's resolution.
public protocol CAMMethod: Sendable {
    /// Whether the method reads ``CAMContext/gradients`` (`true` unless it says otherwise).
    var needsGradients: Bool { get }
    /// Whether the method reads nothing but the layer's activations and gradients (no perturbed
    /// copies, `false` unless it says otherwise): it can then share one forward and backward pass
    /// with other methods (``SharedGradients``).
    var readsOnlyTheLayer: Bool { get }
    /// The method's part of the map.
    func explain(_ context: CAMContext) throws -> CAMOutput
}

extension CAMMethod {
    public var needsGradients: Bool { true }
    public var readsOnlyTheLayer: Bool { false }

    /// The map `[N, h, w]` (after ReLU) at the module `layer`, for the target scores.
    ///
    /// - Parameter progress: told the perturbed copies run and in all, for methods that perturb.
    public func attribute(
        _ model: Module, layer: String, input: Tensor, target: ExplanationTarget,
        options: AttributionMethod.Options = AttributionMethod.Options(), progress: @escaping (Int, Int) -> Void = { _, _ in }
    ) throws -> Tensor {
        try attribute(model, layers: [layer], input: input, target: target, options: options, progress: progress)[0]
    }

    /// The map `[N, h, w]` (after ReLU) at each of `layers`, at that layer's resolution, from one
    /// pass through the model (and one backward pass, for a method that needs gradients).
    public func attribute(
        _ model: Module, layers: [String], input: Tensor, target: ExplanationTarget,
        options: AttributionMethod.Options = AttributionMethod.Options(), progress: @escaping (Int, Int) -> Void = { _, _ in }
    ) throws -> [Tensor] {
        let (output, activations) = try model.withTaps(layers, gradients: needsGradients) {
            needsGradients ? model(input) : withoutGradients { model(input) }
        }
        let tapped = try layers.map { layer in
            guard let activation = activations[layer], activation.rank == 4 else {
                throw ExplanationError("layer '\(layer)' has no [N, C, h, w] output for a class activation map")
            }
            return activation
        }
        let gradients = needsGradients ? LoupeTensor.gradients(of: target.scores(output).sum(), at: tapped) : nil
        return try layers.indices.map { index in
            let values = tapped[index].detached()
            let context = CAMContext(
                model: model, input: input, target: target, layer: layers[index], activations: values,
                gradients: gradients?[index], options: options,
                // Each layer's perturbations count as an equal share of the whole.
                progress: { done, all in progress(index * all + done, layers.count * all) })
            return try map(context)
        }
    }

    /// The map `[N, h, w]` (after ReLU) from the tapped layer's activations (and gradients) in `context`.
    func map(_ context: CAMContext) throws -> Tensor {
        let map: Tensor
        switch try explain(context) {
        case .channelWeights(let weights):
            let values = context.activations
            map = Self.combined(
                values * weights.reshaped([weights.shape[0], weights.shape[1], 1, 1]), options: context.options)
        case .contributions(let contributions): map = Self.combined(contributions, options: context.options)
        case .map(let given): map = given
        }
        return map.relu()
    }

    /// The map `[N, H, W]` at the input's resolution, as pytorch-grad-cam returns it: each
    /// layer's map min–max scaled and resized to the input (`scaledToInput(_:size:)`), and
    /// with ``AttributionMethod/Options/augSmooth`` averaged over the augmented inputs
    /// (`augmentationSmoothed(_:enabled:map:)`).
    public func scaledMap(
        _ model: Module, layers: [String], input: Tensor, target: ExplanationTarget,
        options: AttributionMethod.Options = AttributionMethod.Options(), progress: @escaping (Int, Int) -> Void = { _, _ in }
    ) throws -> Tensor {
        let size = Size2D(input.shape[2], input.shape[3])
        return try augmentationSmoothed(input, enabled: options.augSmooth) { augmented, index, count in
            let maps = try attribute(
                model, layers: layers, input: augmented, target: target, options: options,
                progress: { done, all in progress(index * all + done, count * all) })
            return scaledToInput(maps, size: size)
        }
    }

    /// The channels' contributions summed, or projected on their first principal component.
    private static func combined(_ contributions: Tensor, options: AttributionMethod.Options) -> Tensor {
        options.eigenSmooth ? firstPrincipalProjection(contributions) : contributions.sum(along: 1)
    }
}

extension CAMContext {
    /// The target score of each of `count` perturbed copies of sample `sample` of the input, for
    /// methods that score masked inputs or ablated channels: `copies(range)` makes the copies in
    /// `range` (`[range.count, ...]`), `forward` takes them to the model's output (the model
    /// itself unless given: the layers after an ablated one, say), and they run without gradients
    /// at most ``AttributionMethod/Options/copiesPerPass`` at a time, so memory stays bounded; a
    /// last, shorter pass runs as a shape-varying one (no per-shape kernels made for it).
    /// Progress counts the copies of every sample of the batch.
    public func perturbedScores(
        ofSample sample: Int, count: Int, through forward: ((Tensor) throws -> Tensor)? = nil,
        copies: (Range<Int>) -> Tensor
    ) throws -> [Float] {
        let perPass = Swift.max(1, options.copiesPerPass), samples = input.shape[0]
        var scores: [Float] = []
        scores.reserveCapacity(count)
        for start in stride(from: 0, to: count, by: perPass) {
            let range = start..<Swift.min(start + perPass, count)
            let batch = copies(range)
            let run = {
                try withoutGradients {
                    target.subset(sample..<sample + 1).repeated(range.count).scores(try forward?(batch) ?? model(batch))
                }
            }
            scores += (range.count == perPass ? try run() : try withShapeVaryingConvolutions(run)).scalars
            progress(sample * count + range.upperBound, samples * count)
        }
        return scores
    }
}

extension AttributionMethod {
    /// A CAM method as a registered method: a map `[N, h, w]` at the chosen layer, or at the
    /// input's resolution for several layers or `--aug-smooth` (``CAMMethod/scaledMap(_:layers:input:target:options:progress:)``).
    /// It reads `--eigen-smooth` unless it makes the map itself (`smooths: false`).
    static func camMethod(
        _ method: some CAMMethod, name: String, summary: String, smooths: Bool = true, isInDefaultReport: Bool = true
    ) -> AttributionMethod {
        var fromShared: (@Sendable (SharedGradients, Context) throws -> Result)? = nil
        if method.readsOnlyTheLayer {
            fromShared = { @Sendable shared, context in
                let layer = context.layers[0]
                let camContext = CAMContext(
                    model: context.model, input: shared.input, target: context.target, layer: layer,
                    activations: shared.activations[layer]!,
                    gradients: method.needsGradients ? shared.layerGradients[layer] : nil,
                    options: context.options, progress: context.progress)
                return Result(attribution: try method.map(camContext), layers: context.layers)
            }
        }
        return AttributionMethod(
            name: name, summary: summary, output: .layer, needsGradients: method.needsGradients,
            settings: smooths ? [.layer, .eigenSmooth, .augSmooth] : [.layer, .augSmooth], isInDefaultReport: isInDefaultReport,
            fromSharedGradients: fromShared
        ) { context in
            let (layers, options) = (context.layers, context.options)
            let map =
                layers.count == 1 && !options.augSmooth
                ? try method.attribute(
                    context.model, layer: layers[0], input: context.input, target: context.target, options: options,
                    progress: context.progress)
                : try method.scaledMap(
                    context.model, layers: layers, input: context.input, target: context.target, options: options,
                    progress: context.progress)
            return Result(attribution: map, layers: layers)
        }
    }
}

extension Module {
    /// The default layer for class activation maps: the layer the architecture declares
    /// (``LoupeNN/Module/camLayer``); elsewhere (ONNX graphs, layer stacks) the last module or
    /// tensor, in execution order, whose output is `[N, C, h, w]` with more than one spatial
    /// position and that is not a pooling's output or a mere transpose or reshape — the last
    /// convolutional activation before global pooling or flatten. Found by running one sample of
    /// zeros shaped like `inputShape` `[N, C, H, W]` (the choice does not depend on the batch size).
    public func defaultCAMLayer(inputShape: [Int]) throws -> String {
        if let camLayer, module(at: camLayer) != nil { return camLayer }
        guard let layer = try camLayerCandidates(inputShape: inputShape).last else {
            throw ExplanationError("the model has no layer with a spatial output; give --layer")
        }
        return layer
    }

    /// The layers a class activation map can use, in execution order: every module or tensor
    /// whose output is `[N, C, h, w]` with more than one spatial position, except pooling outputs
    /// and mere transposes or reshapes.
    public func camLayerCandidates(inputShape: [Int]) throws -> [String] {
        let poolingTypes: Set = ["MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "LpPool"]
        let skippedInner = namedModules().flatMap { entry in
            entry.module.innerTaps.filter { $0.rearranges || poolingTypes.contains($0.type) }.flatMap { [$0.name] + $0.aliases }
        }
        // A pooling module, or a container whose output is its last stage's, a pooling's.
        let skippedModules = namedModules().filter { entry in
            let last = entry.module.flattenedStages.last ?? entry.module
            return last is MaxPool2d || last is AvgPool2d || last is AdaptiveAvgPool2d
        }.map(\.path)
        let skipped = Set(skippedInner + skippedModules)
        let probe = [1] + inputShape.dropFirst()
        let (_, shapes, order) = try withTapShapesInOrder(tapNames.filter { !skipped.contains($0) }) {
            withoutGradients { self(Tensor.zeros(probe)) }
        }
        // A module run twice counts where it last finished.
        var seen = Set<String>()
        return order.reversed().filter { path in
            guard let shape = shapes[path], shape.count == 4, shape[2] * shape[3] > 1 else { return false }
            return seen.insert(path).inserted
        }.reversed()
    }
}
