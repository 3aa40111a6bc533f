import Foundation
import LoupeNN
import LoupeTensor
import SwiftProtobuf

/// An ONNX model's main graph, decoded and checked, that runs on LoupeTensor: every float
/// operation is differentiable, so gradients reach the inputs and any intermediate tensor.
///
/// Shape-only subgraphs (Shape, Gather, Concat, Cast, ... over shapes and constants) are folded:
/// the first run at a given input shape computes them and later runs at that shape reuse the
/// values.
public final class ONNXGraph {
    struct Node {
        let name: String
        let operation: String
        /// Input tensor names; `""` marks an omitted optional input.
        let inputs: [String]
        let outputs: [String]
        let attributes: ONNXAttributes
        /// The operator set's domain (`""` or `ai.onnx` for ONNX's own operators).
        let domain: String
    }

    /// The graph's nodes in execution order.
    let nodes: [Node]
    /// Float initializers and float Constant nodes' values, as parameters (so summaries count them
    /// and training could update them).
    let parameters: [(name: String, parameter: Parameter)]
    /// Integer initializers.
    let integerConstants: [String: IntegerTensor]
    /// Inputs that are not initializers: what a caller feeds.
    public let inputs: [(name: String, shape: [Int?])]
    public let outputs: [String]
    /// The default-domain operator set version.
    public let opset: Int
    /// Conv → Relu and Conv → Add → Relu chains run as one fused convolution, by node index
    /// (each node of a chain maps to the chain).
    private(set) var fusions: [Int: ConvolutionFusion] = [:]
    private var parameterIndex: [String: Parameter] = [:]
    private var folded: [[[Int]]: [String: ONNXValue]] = [:]
    private let foldingLock = NSLock()

    /// The most elements Loupe loads for one initializer (about 4 GB of floats); the file must
    /// hold them, so a small file cannot claim this much.
    static let elementBudget = 1 << 30
    /// The most elements an operator may create from sizes the file declares (ConstantOfShape,
    /// Expand, Range, Pad, Resize, Reshape): 512 MB of floats, far above any classifier's
    /// activation, so a 1 KB model cannot make Loupe allocate gigabytes.
    static let computedElementBudget = 1 << 27

    /// Decodes a model file.
    public static func load(_ path: String) throws -> ONNXGraph {
        let data = try readFile(path, what: "ONNX model")
        let model: Onnx_ModelProto
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 64
            model = try Onnx_ModelProto(serializedBytes: data, options: options)
        } catch {
            throw LoupeIOError("\(path) is not a valid ONNX model (\(error)); is it a .onnx file?")
        }
        return try ONNXGraph(model, directory: (path as NSString).deletingLastPathComponent, name: path)
    }

    /// The operator types a model file uses, without building it (for conformance tables).
    public static func operatorTypes(inModelAt path: String) throws -> [String] {
        try Onnx_ModelProto(serializedBytes: readFile(path, what: "ONNX model")).graph.node.map(\.opType)
    }

    init(_ model: Onnx_ModelProto, directory: String?, name: String) throws {
        guard model.hasGraph, !model.graph.node.isEmpty else { throw LoupeIOError("\(name) holds no graph") }
        let graph = model.graph
        opset = Int(model.opsetImport.first { $0.domain.isEmpty || $0.domain == "ai.onnx" }?.version ?? 0)
        guard opset >= 7 else {
            throw LoupeIOError("\(name) uses ONNX opset \(opset); Loupe reads opsets 7 to 21 (re-export with a newer opset)")
        }

        var parameters: [(String, Parameter)] = [], integers: [String: IntegerTensor] = [:]
        for initializer in graph.initializer {
            switch try ONNXValue(initializer, directory: directory, budget: ONNXGraph.elementBudget) {
            case .float(let tensor): parameters.append((initializer.name, Parameter(tensor)))
            case .integer(let values): integers[initializer.name] = values
            }
        }
        // Float Constant nodes are weights as converters write them (PaddlePaddle's, say):
        // lifted to initializers, they count as parameters and serve as initializers do everywhere.
        let graphOutputs = Set(graph.output.map(\.name))
        var lifted = Set<Int>()
        for (index, node) in graph.node.enumerated()
        where node.opType == "Constant" && node.output.count == 1 && !graphOutputs.contains(node.output[0])
            && (node.domain.isEmpty || node.domain == "ai.onnx")
        {
            let attributes = ONNXAttributes(node.attribute)
            guard let tensor = attributes.tensor("value"),
                case .float(let value) = try ONNXValue(tensor, directory: directory, budget: ONNXGraph.elementBudget)
            else { continue }
            parameters.append((node.output[0], Parameter(value)))
            lifted.insert(index)
        }
        self.parameters = parameters
        integerConstants = integers
        let initialized = Set(graph.initializer.map(\.name)).union(lifted.map { graph.node[$0].output[0] })
        inputs = graph.input.filter { !initialized.contains($0.name) }.map { input in
            (input.name, input.type.tensorType.shape.dim.map { $0.dimValue > 0 ? Int($0.dimValue) : nil })
        }
        outputs = graph.output.map(\.name)
        nodes = graph.node.enumerated().filter { !lifted.contains($0.offset) }.map { index, node in
            Node(
                name: node.name.isEmpty ? "\(node.opType)_\(index)" : node.name, operation: node.opType, inputs: node.input,
                outputs: node.output, attributes: ONNXAttributes(node.attribute), domain: node.domain)
        }
        for (name, parameter) in parameters { parameterIndex[name] = parameter }

        // Every operator must be known, and every input produced before it is used.
        let unsupported = nodes.filter {
            !ONNXGraph.supportedOperators.contains($0.operation) || !($0.domain.isEmpty || $0.domain == "ai.onnx")
        }
        if !unsupported.isEmpty {
            // Every unsupported type, each with its first node names.
            var types: [String] = []
            for node in unsupported where !types.contains(node.operation) { types.append(node.operation) }
            let listed = types.map { type in
                let names = unsupported.filter { $0.operation == type }.map(\.name)
                return
                    "\(type) (\(names.prefix(3).joined(separator: ", "))\(names.count > 3 ? " and \(names.count - 3) more" : ""))"
            }
            throw LoupeIOError("\(name) uses operators Loupe does not support: \(listed.joined(separator: ", "))")
        }
        if let early = nodes.first(where: { (ONNXGraph.operators[$0.operation]?.firstOpset ?? 0) > opset }) {
            throw LoupeIOError(
                "\(name): node \(early.name) uses \(early.operation), which ONNX defines from opset \(ONNXGraph.operators[early.operation]!.firstOpset), in a graph of opset \(opset)"
            )
        }
        var available = Set(initialized).union(inputs.map(\.name)).union([""])
        for node in nodes {
            if let missing = node.inputs.first(where: { !available.contains($0) }) {
                throw LoupeIOError(
                    "\(name): node \(node.name) (\(node.operation)) reads '\(missing)', which no earlier node produces")
            }
            available.formUnion(node.outputs)
        }
        if let missing = outputs.first(where: { !available.contains($0) }) {
            throw LoupeIOError("\(name): the graph output '\(missing)' is never produced")
        }
        for fusion in ConvolutionFusion.chains(in: nodes, outputs: outputs) {
            for index in [fusion.convolution, fusion.add, fusion.last].compactMap({ $0 }) { fusions[index] = fusion }
        }
    }

    /// The nodes that read float parameters, in execution order, each with the parameters it is
    /// the first to read: what a model-randomization test resets, node by node.
    var randomizableLayers: [RandomizableLayer] {
        var claimed = Set<String>()
        return nodes.compactMap { node in
            let names = node.inputs.filter { parameterIndex[$0] != nil && claimed.insert($0).inserted }
            guard !names.isEmpty else { return nil }
            // BatchNormalization(X, scale, B, mean, var): a reset sets scale and var to 1.
            let ones = node.operation == "BatchNormalization" && node.inputs.count == 5 ? [node.inputs[1], node.inputs[4]] : []
            return RandomizableLayer(
                name: node.name.isEmpty ? node.outputs.first ?? "" : node.name,
                parameters: names.map { ($0, parameterIndex[$0]!) }, ones: Set(ones))
        }
    }

    /// The operator type of each node, in execution order.
    public var operations: [String] { nodes.map(\.operation) }

    /// Every tensor name a node produces, and every node name, in execution order.
    public var tensorNames: [String] { nodes.flatMap { $0.outputs.filter { !$0.isEmpty } } }

    /// The folded values at an input shape, if a run at that shape has made them.
    func foldedValues(for signature: [[Int]]) -> [String: ONNXValue]? { foldingLock.withLock { folded[signature] } }

    /// Keeps a run's folded values for later runs at the same input shape.
    func keepFolded(_ values: [String: ONNXValue], for signature: [[Int]]) { foldingLock.withLock { folded[signature] = values } }
}

/// A node's attributes by name.
struct ONNXAttributes {
    private let values: [String: Onnx_AttributeProto]

    init(_ attributes: [Onnx_AttributeProto]) {
        values = Dictionary(attributes.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
    }

    func has(_ name: String) -> Bool { values[name] != nil }
    func int(_ name: String, _ fallback: Int) -> Int { values[name].map { Int($0.i) } ?? fallback }
    func float(_ name: String, _ fallback: Float) -> Float { values[name]?.f ?? fallback }
    func ints(_ name: String) -> [Int]? { values[name].map { $0.ints.map(Int.init) } }
    func floats(_ name: String) -> [Float]? { values[name]?.floats }
    func string(_ name: String, _ fallback: String) -> String {
        values[name].map { String(decoding: $0.s, as: UTF8.self) } ?? fallback
    }
    func tensor(_ name: String) -> Onnx_TensorProto? { values[name].flatMap { $0.hasT ? $0.t : nil } }
}

/// A convolution and the nodes after it that run fused into it: `Relu(Conv(…))` or
/// `Relu(Add(Conv(…), addend))` (a residual block's end), where each inner tensor feeds only the
/// next node of the chain and is no graph output. ONNX exports of eval-mode networks have their
/// batch norms folded into the convolutions already, so these chains are what remains.
struct ConvolutionFusion {
    /// Node indices.
    let convolution: Int, add: Int?, last: Int
    /// The Add's other operand.
    let addend: String?

    /// The names of what the fused convolution never forms: the inner nodes and their outputs.
    func inner(_ nodes: [ONNXGraph.Node]) -> [String] {
        [convolution, add].compactMap { $0 }.flatMap { [nodes[$0].name] + nodes[$0].outputs }
    }

    static func chains(in nodes: [ONNXGraph.Node], outputs: [String]) -> [ConvolutionFusion] {
        var readers: [String: Int] = [:], producer: [String: Int] = [:]
        for (index, node) in nodes.enumerated() {
            for input in node.inputs where !input.isEmpty { readers[input, default: 0] += 1 }
            for output in node.outputs { producer[output] = index }
        }
        for output in outputs { readers[output, default: 0] += 1 }
        /// The node making `name` when it is a single-output node of `operation` read only once.
        func soleSource(_ name: String, _ operation: String) -> Int? {
            guard let index = producer[name], nodes[index].operation == operation, nodes[index].outputs.count == 1,
                readers[name] == 1
            else { return nil }
            return index
        }
        var chains: [ConvolutionFusion] = []
        for (index, node) in nodes.enumerated() where node.operation == "Relu" && node.inputs.count == 1 {
            if let convolution = soleSource(node.inputs[0], "Conv") {
                chains.append(ConvolutionFusion(convolution: convolution, add: nil, last: index, addend: nil))
            } else if let add = soleSource(node.inputs[0], "Add"), nodes[add].inputs.count == 2 {
                let operands = nodes[add].inputs
                for side in 0..<2 where operands[0] != operands[1] {
                    if let convolution = soleSource(operands[side], "Conv") {
                        chains.append(
                            ConvolutionFusion(convolution: convolution, add: add, last: index, addend: operands[1 - side]))
                        break
                    }
                }
            }
        }
        return chains
    }
}
