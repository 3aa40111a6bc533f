import LoupeTensor

/// The inputs and attributes of one node being evaluated, with checked accessors.
struct ONNXArguments {
    let node: ONNXGraph.Node
    let values: [ONNXValue?]
    let opset: Int

    var attributes: ONNXAttributes { node.attributes }
    var count: Int { values.count }

    func has(_ index: Int) -> Bool { index < values.count && values[index] != nil }

    func value(_ index: Int) throws -> ONNXValue {
        guard index < values.count, let value = values[index] else { throw LoupeIOError("input \(index) is missing") }
        return value
    }

    func float(_ index: Int) throws -> Tensor { try value(index).tensor }

    /// An optional integer input (shapes, axes, pads) as a flat list.
    func ints(_ index: Int) throws -> [Int]? {
        has(index) ? try value(index).integers("input \(index)").values : nil
    }

    /// An axis attribute or value in `-rank..<rank`, made non-negative.
    func axis(_ axis: Int, rank: Int) throws -> Int {
        guard (-rank..<Swift.max(rank, 1)).contains(axis) else {
            throw LoupeIOError("axis \(axis) is out of range for rank \(rank)")
        }
        return axis < 0 ? axis + rank : axis
    }
}

extension ONNXGraph {
    /// The operators Loupe runs (default domain).
    public static let supportedOperators: Set<String> = [
        // Elementwise and activations.
        "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Neg", "Exp", "Log", "Abs", "Reciprocal", "Erf", "Relu", "LeakyRelu",
        "Sigmoid", "Tanh", "Clip", "HardSigmoid", "HardSwish", "Identity", "Dropout", "Equal", "Less", "Greater", "Where", "Max",
        "Min",
        // Networks.
        "Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "BatchNormalization", "LayerNormalization",
        "Gemm", "MatMul", "Softmax", "LogSoftmax", "LRN", "Resize",
        // Shapes.
        "Flatten", "Reshape", "Transpose", "Concat", "Split", "Slice", "Gather", "Squeeze", "Unsqueeze", "Pad", "ReduceMean",
        "ReduceSum", "ReduceMax", "Constant", "Shape", "Size", "Cast", "ConstantOfShape", "Expand", "Range",
    ]

    /// One node's outputs from its inputs.
    func evaluate(_ node: Node, _ values: [ONNXValue?]) throws -> [ONNXValue] {
        let arguments = ONNXArguments(node: node, values: values, opset: opset)
        switch node.operation {
        case "Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "Greater", "Max", "Min":
            return [try ONNXGraph.binary(node.operation, arguments)]
        case "Sqrt", "Neg", "Exp", "Log", "Abs", "Reciprocal", "Erf", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid",
            "HardSwish":
            return [try ONNXGraph.unary(node.operation, arguments)]
        case "Identity": return [try arguments.value(0)]
        case "Dropout":
            let ratio = arguments.has(1) ? try arguments.float(1).scalars.first ?? 0.5 : arguments.attributes.float("ratio", 0.5)
            if arguments.has(2), try arguments.float(2).scalars.first != 0, ratio != 0 {
                throw LoupeIOError("Dropout in training mode is not supported; Loupe runs graphs for inference")
            }
            let input = try arguments.value(0)
            return [
                input, .integer(IntegerTensor(shape: input.shape, values: Array(repeating: 1, count: input.shape.reduce(1, *)))),
            ]
        case "Clip": return [try ONNXGraph.clip(arguments)]
        case "Where": return [try ONNXGraph.select(arguments)]
        case "Conv": return [try ONNXGraph.convolution(arguments)]
        case "MaxPool", "AveragePool": return [try ONNXGraph.pool(arguments, maximum: node.operation == "MaxPool")]
        case "GlobalAveragePool":
            return [.float(try arguments.float(0).mean(alongAxes: try ONNXGraph.spatialAxes(arguments), keepingDimensions: true))]
        case "GlobalMaxPool":
            return [.float(try arguments.float(0).max(alongAxes: try ONNXGraph.spatialAxes(arguments), keepingDimensions: true))]
        case "BatchNormalization": return [try ONNXGraph.batchNormalization(arguments)]
        case "LayerNormalization": return try ONNXGraph.layerNormalization(arguments)
        case "Gemm": return [try ONNXGraph.gemm(arguments)]
        case "MatMul": return [try ONNXGraph.matrixProduct(arguments)]
        case "Softmax", "LogSoftmax": return [try ONNXGraph.softmax(arguments, logarithm: node.operation == "LogSoftmax")]
        case "LRN": return [try ONNXGraph.localResponseNormalization(arguments)]
        case "Resize": return [try ONNXGraph.resize(arguments)]
        case "Flatten": return [try ONNXGraph.flatten(arguments)]
        case "Reshape": return [try ONNXGraph.reshape(arguments)]
        case "Transpose": return [try ONNXGraph.transpose(arguments)]
        case "Concat": return [try ONNXGraph.concatenate(arguments)]
        case "Split": return try ONNXGraph.split(arguments)
        case "Slice": return [try ONNXGraph.slice(arguments)]
        case "Gather": return [try ONNXGraph.gather(arguments)]
        case "Squeeze", "Unsqueeze": return [try ONNXGraph.squeeze(arguments, inserting: node.operation == "Unsqueeze")]
        case "Pad": return [try ONNXGraph.pad(arguments)]
        case "ReduceMean", "ReduceSum", "ReduceMax": return [try ONNXGraph.reduce(arguments)]
        case "Constant": return [try ONNXGraph.constant(arguments)]
        case "Shape": return [try ONNXGraph.shapeOf(arguments)]
        case "Size": return [.integer(IntegerTensor(scalar: try arguments.value(0).shape.reduce(1, *)))]
        case "Cast": return [try ONNXGraph.cast(arguments)]
        case "ConstantOfShape": return [try ONNXGraph.constantOfShape(arguments)]
        case "Expand": return [try ONNXGraph.expand(arguments)]
        case "Range": return [try ONNXGraph.range(arguments)]
        default: throw LoupeIOError("operator \(node.operation) is not supported")
        }
    }
}
