@_spi(Engine) import LoupeNN
import LoupeTensor

/// An ONNX classifier as a ``Module``: one image input, one score output, every float tensor
/// of the graph a tap by its ONNX name (and by its node's name).
///
/// Loupe always feeds images as `[N, C, H, W]`. A model whose input is `[N, H, W, C]` (a
/// Keras/TensorFlow export) gets the transpose inside, so explanations and pictures work the
/// same; ``layout`` says which the file uses, for `--input` and `--raw`.
public final class ONNXModule: Module {
    /// The memory order of the model's own image input.
    public enum Layout: String, Codable, Sendable {
        case nchw = "NCHW", nhwc = "NHWC"
    }

    public let graph: ONNXGraph
    public let layout: Layout
    /// The image input as `[C, H, W]` (whatever the layout), with unknown sizes filled in.
    public let inputShape: [Int]
    /// The first output's shape for one image (from the checked run at load): `[1, classes]`.
    public let outputShape: [Int]
    private let inputName: String
    private let outputName: String
    private var taps: [InnerTap] = []

    /// Wraps a loaded graph with one input and at least one output (the first is the scores),
    /// and runs it once on zeros to check it and to learn its float tensors.
    ///
    /// - Parameter defaultSize: the spatial size to assume where the input's is not fixed.
    public init(_ graph: ONNXGraph, name: String, defaultSize: Int = 224) throws {
        guard graph.inputs.count == 1, let input = graph.inputs.first, let output = graph.outputs.first else {
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
        inputShape = [channels ?? 3, height ?? defaultSize, width ?? defaultSize]
        self.graph = graph
        inputName = input.name
        outputName = output
        // A checked run on zeros: errors surface here as one clear line, not later mid-explanation.
        var produced: [(name: String, shape: [Int])] = []
        let (modelLayout, zeros) = (layout, Tensor.zeros([1] + inputShape))
        let scores = try ONNXModule.run(
            graph, input: input.name, output: output, layout: modelLayout, images: zeros,
            offer: { name, tensor in
                produced.append((name, tensor.shape))
                return tensor
            }, observes: nil)
        guard scores.rank >= 1, scores.shape[0] == 1 else {
            throw LoupeIOError("\(name): the output '\(output)' has shape \(scores.shape); expected [1, classes]")
        }
        outputShape = scores.shape
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

    /// Runs the graph on `[N, C, H, W]` images and returns the first output as floats.
    /// `offer` and `observes` are ``ONNXGraph/run(_:offer:observes:)``'s.
    public func run(
        _ images: Tensor, offer: @escaping (String, Tensor) -> Tensor,
        observes: ((String) -> Bool)? = nil
    ) throws -> Tensor {
        guard images.rank == 4, Array(images.shape.dropFirst()) == inputShape || images.shape[1] == inputShape[0] else {
            throw LoupeIOError(
                "the model takes [N, \(inputShape.map(String.init).joined(separator: ", "))] images; got \(images.shape)")
        }
        return try ONNXModule.run(
            graph, input: inputName, output: outputName, layout: layout, images: images, offer: offer,
            observes: observes)
    }

    private static func run(
        _ graph: ONNXGraph, input: String, output: String, layout: Layout, images: Tensor,
        offer: @escaping (String, Tensor) -> Tensor, observes: ((String) -> Bool)?
    ) throws -> Tensor {
        let fed = layout == .nhwc ? images.permuted([0, 2, 3, 1]) : images
        guard let scores = try graph.run([input: .float(fed)], offer: offer, observes: observes)[output] else {
            throw LoupeIOError("the output '\(output)' was not produced")
        }
        return scores.tensor
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
