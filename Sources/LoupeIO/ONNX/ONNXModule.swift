@_spi(Engine) import LoupeNN
import LoupeTensor

/// An ONNX classifier as a ``Module``: one image input, the scores of one chosen graph output
/// (``outputName``; before its softmax, if it has one: ``scoreTensor``), every float tensor of the
/// graph a tap by its ONNX name (and by its node's name).
///
/// Loupe always feeds images as `[N, C, H, W]`. A model whose input is `[N, H, W, C]` (a
/// Keras/TensorFlow export) gets the transpose inside, so explanations and pictures work the
/// same; ``layout`` says which the file uses, for `--input` and `--raw`.
public final class ONNXModule: Module {
    /// The memory order of the model's own image input.
    public enum Layout: String, Codable, Sendable {
        case nchw = "NCHW", nhwc = "NHWC"
    }

    /// The Softmax-like node a graph output comes out of.
    public enum ProbabilityHead: String, Sendable {
        case softmax = "Softmax", logSoftmax = "LogSoftmax"
    }

    public let graph: ONNXGraph
    public let layout: Layout
    /// The image input as `[C, H, W]` (whatever the layout), with unknown sizes filled in.
    public let inputShape: [Int]
    /// Whether the graph leaves the input's height or width open (a symbolic dimension), so the
    /// size comes from the input given, not from the graph.
    public let hasSymbolicSize: Bool
    /// The chosen output's shape for one image (from the checked run at load): `[1, classes]`.
    public let outputShape: [Int]
    /// The graph output classified and explained.
    public let outputName: String
    /// Every graph output with its shape for one image, in the graph's order (for summaries).
    public let outputs: [(name: String, shape: [Int])]
    /// The Softmax or LogSoftmax the chosen output comes out of (looking through Identity,
    /// Reshape and Flatten), if any.
    public let probabilityHead: ProbabilityHead?
    /// The tensor the module returns: the chosen output, or, when that comes out of a
    /// ``probabilityHead`` and the probabilities were not asked for, the head's input (the
    /// logits, reshaped to the output's shape), so that methods explain the scores before the
    /// softmax.
    public let scoreTensor: String
    private let inputName: String
    private var taps: [InnerTap] = []

    /// Whether the module returns probabilities as the graph gives them (a ``probabilityHead``
    /// kept with `explainProbabilities`), which `predict` shows without a softmax of its own.
    public var returnsProbabilities: Bool { probabilityHead != nil && scoreTensor == outputName }

    /// Wraps a loaded graph with one input and at least one output, and runs it once on zeros to
    /// check it and to learn its float tensors.
    ///
    /// - Parameters:
    ///   - spatialSize: the height and width to load at where the graph's are not fixed
    ///     (224 × 224 unless given).
    ///   - output: the graph output to classify; by default the first shaped `[N, K]`.
    ///   - explainProbabilities: keep a softmax the output comes out of, instead of returning the
    ///     logits before it.
    public init(
        _ graph: ONNXGraph, name: String, spatialSize: Size2D? = nil, output chosen: String? = nil,
        explainProbabilities: Bool = false
    ) throws {
        guard graph.inputs.count == 1, let input = graph.inputs.first, !graph.outputs.isEmpty else {
            throw LoupeIOError(
                "\(name) has \(graph.inputs.count) inputs and \(graph.outputs.count) outputs; Loupe explains models with one image input"
            )
        }
        guard input.shape.count == 4 else {
            throw LoupeIOError(
                "\(name): the input '\(input.name)' has rank \(input.shape.count); Loupe needs an image batch [N, C, H, W] or [N, H, W, C]"
            )
        }
        let dims = input.shape
        let channelsLast = (dims[3] == 1 || dims[3] == 3) && !(dims[1] == 1 || dims[1] == 3)
        layout = channelsLast ? .nhwc : .nchw
        let (channels, height, width) = channelsLast ? (dims[3], dims[1], dims[2]) : (dims[1], dims[2], dims[3])
        inputShape = [channels ?? 3, height ?? spatialSize?.height ?? 224, width ?? spatialSize?.width ?? 224]
        hasSymbolicSize = height == nil || width == nil
        self.graph = graph
        inputName = input.name
        // A checked run on zeros: errors surface here as one clear line, not later mid-explanation.
        var produced: [(name: String, shape: [Int])] = []
        let zeros = Tensor.zeros([1] + inputShape)
        let results = try graph.run(
            [input.name: .float(channelsLast ? zeros.permuted([0, 2, 3, 1]) : zeros)],
            offer: { name, tensor in
                produced.append((name, tensor.shape))
                return tensor
            })
        let found = graph.outputs.map { ($0, results[$0]?.shape ?? []) }
        outputs = found
        let listed = found.map { "'\($0.0)' \($0.1)" }.joined(separator: ", ")
        let picked: String
        if let chosen {
            guard graph.outputs.contains(chosen) else {
                throw LoupeIOError("\(name) has no output '\(chosen)'; its outputs are \(listed)")
            }
            picked = chosen
        } else {
            picked = found.first { $0.1.count == 2 }?.0 ?? graph.outputs[0]
        }
        outputName = picked
        let scores = found.first { $0.0 == picked }?.1 ?? []
        guard scores.count == 2, scores[0] == 1, case .float = results[picked] else {
            throw LoupeIOError(
                "\(name): the output '\(picked)' has shape \(scores); expected [1, classes] (outputs: \(listed); choose one with --output)"
            )
        }
        outputShape = scores
        let head = graph.probabilityHead(of: picked)
        probabilityHead = head.map(\.head)
        let shapes = Dictionary(produced.map { ($0.name, $0.shape) }, uniquingKeysWith: { first, _ in first })
        if let head, !explainProbabilities, shapes[head.logits]?.reduce(1, *) == scores.reduce(1, *) {
            scoreTensor = head.logits
        } else {
            scoreTensor = picked
        }
        super.init()

        let floatNames = Set(produced.map(\.name))
        let firstUse = graph.firstConsumers
        // A node's name taps its first output (when that differs from the tensor's name).
        taps = graph.nodeSummaries.flatMap { node in
            node.outputs.enumerated().filter { floatNames.contains($0.element) }.map { index, tensor in
                InnerTap(
                    name: tensor, aliases: index == 0 && node.name != tensor ? [node.name] : [], type: node.operation,
                    parameters: index == 0 ? firstUse[node.name] ?? 0 : 0,
                    rearranges: ONNXGraph.operators[node.operation]?.rearranges ?? false, multiplyAdds: node.multiplyAdds)
            }
        }
    }

    @_spi(Engine) public override var innerTaps: [InnerTap] { taps }

    public override var localChannelBiases: [(tap: String, bias: Tensor)] { graph.channelBiases }

    public override var localParameters: [(name: String, parameter: Parameter)] { graph.parameters }

    public override var randomizableLayers: [RandomizableLayer] { graph.randomizableLayers }

    public override func forward(_ input: Tensor) -> Tensor {
        do {
            return try run(input, offer: { name, tensor in Module.offerToTaps(tensor, named: name) }, observes: Module.isTapped)
        } catch {
            preconditionFailure("the ONNX model failed on input \(input.shape): \(error)")
        }
    }

    /// The shape it was loaded at is known to work; any other is run once on zeros, so that the
    /// graph's own checks speak (an input smaller than a fixed-size layer expects, say).
    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == 4, shape[1] == inputShape[0], shape.allSatisfy({ $0 > 0 }) else {
            throw ShapeError("the model takes [N, \(inputShape.map(String.init).joined(separator: ", "))] images; got \(shape)")
        }
        if Array(shape.dropFirst()) == inputShape { return [shape[0]] + outputShape.dropFirst() }
        let scores = try withoutGradients { try run(Tensor.zeros([1] + shape.dropFirst()), offer: { $1 }) }
        return [shape[0]] + scores.shape.dropFirst()
    }

    /// Runs the graph on `[N, C, H, W]` images and returns the scores: the ``scoreTensor``, shaped
    /// as the chosen output. `offer` and `observes` are ``ONNXGraph/run(_:offer:observes:also:)``'s.
    public func run(
        _ images: Tensor, offer: @escaping (String, Tensor) -> Tensor,
        observes: ((String) -> Bool)? = nil
    ) throws -> Tensor {
        guard images.rank == 4, Array(images.shape.dropFirst()) == inputShape || images.shape[1] == inputShape[0] else {
            throw LoupeIOError(
                "the model takes [N, \(inputShape.map(String.init).joined(separator: ", "))] images; got \(images.shape)")
        }
        let results = try graph.run(
            [inputName: .float(toModelLayout(images))], offer: offer, observes: observes, also: [scoreTensor])
        guard let output = results[outputName], let scores = results[scoreTensor] else {
            throw LoupeIOError("the output '\(outputName)' was not produced")
        }
        return scoreTensor == outputName ? scores.tensor : scores.tensor.reshaped(output.shape)
    }

    /// Images `[N, C, H, W]` in the model's own layout (for `--raw`).
    public func toModelLayout(_ images: Tensor) -> Tensor {
        layout == .nhwc && images.rank == 4 ? images.permuted([0, 2, 3, 1]) : images
    }

    /// Model-layout images (from `--input`) as `[N, C, H, W]`.
    public func fromModelLayout(_ inputs: Tensor) -> Tensor {
        layout == .nhwc && inputs.rank == 4 ? inputs.permuted([0, 3, 1, 2]) : inputs
    }
}

extension ONNXGraph {
    struct NodeSummary {
        let name: String
        let operation: String
        let outputs: [String]
        let multiplyAdds: ([Int]) -> Int
    }

    /// Each node's name, type, outputs and a multiply-add count from its output shape.
    var nodeSummaries: [NodeSummary] {
        let weights = Dictionary(parameters.map { ($0.name, $0.parameter.shape) }, uniquingKeysWith: { first, _ in first })
        return nodes.map { node in
            let weight = node.inputs.count > 1 ? weights[node.inputs[1]] : nil
            let multiplyAdds = ONNXGraph.operators[node.operation]?.multiplyAdds?(node, weight) ?? { _ in 0 }
            return NodeSummary(
                name: node.name, operation: node.operation, outputs: node.outputs.filter { !$0.isEmpty },
                multiplyAdds: multiplyAdds)
        }
    }

    /// The Softmax or LogSoftmax that `output` comes out of, looking back through Identity,
    /// Reshape and Flatten (which keep the values in order), with the tensor it normalizes.
    func probabilityHead(of output: String) -> (head: ONNXModule.ProbabilityHead, logits: String)? {
        var producer: [String: Node] = [:]
        for node in nodes { for name in node.outputs where !name.isEmpty { producer[name] = node } }
        var tensor = output
        for _ in nodes.indices {
            guard let node = producer[tensor], let first = node.inputs.first, !first.isEmpty else { return nil }
            switch node.operation {
            case "Identity", "Reshape", "Flatten": tensor = first
            case "Softmax": return (.softmax, first)
            case "LogSoftmax": return (.logSoftmax, first)
            default: return nil
            }
        }
        return nil
    }

    /// The per-channel constants the graph adds, by the tensor they end up in: every Conv's bias
    /// input and every BatchNormalization's shift `B − mean · scale / √(var + ε)`, where they are
    /// initializers, or Identity nodes of initializers (as exporters share equal tensors)
    /// (FullGrad's bias layers; see ``LoupeNN/Module/channelBiases``).
    var channelBiases: [(tap: String, bias: Tensor)] {
        var values = Dictionary(parameters.map { ($0.name, $0.parameter.value) }, uniquingKeysWith: { first, _ in first })
        for node in nodes where node.operation == "Identity" && node.inputs.count == 1 && node.outputs.count == 1 {
            values[node.outputs[0]] = values[node.inputs[0]]
        }
        let stored = values
        return nodes.compactMap { node in
            guard let output = node.outputs.first, !output.isEmpty else { return nil }
            switch node.operation {
            case "Conv":
                guard node.inputs.count > 2, let bias = stored[node.inputs[2]] else { return nil }
                return (output, bias)
            case "BatchNormalization":
                let values = node.inputs.dropFirst().prefix(4).compactMap { stored[$0] }
                guard values.count == 4 else { return nil }
                let affine = Tensor.batchNormalizationAffine(
                    scale: values[0], offset: values[1], runningMean: values[2], runningVariance: values[3],
                    epsilon: node.attributes.float("epsilon", 1e-5))
                return (output, affine.shift)
            default: return nil
            }
        }
    }

    /// Elements of float initializers, counted at the first node that reads each.
    var firstConsumers: [String: Int] {
        let sizes = Dictionary(parameters.map { ($0.name, $0.parameter.value.count) }, uniquingKeysWith: { first, _ in first })
        var seen = Set<String>(), result: [String: Int] = [:]
        for node in nodes {
            for input in node.inputs where sizes[input] != nil && !seen.contains(input) {
                seen.insert(input)
                result[node.name, default: 0] += sizes[input]!
            }
        }
        return result
    }
}
