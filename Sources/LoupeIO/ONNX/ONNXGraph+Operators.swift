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

/// One ONNX operator Loupe runs (default domain), declared once: how it is evaluated, whether it
/// only rearranges values, what multiply-adds it does, and the opsets whose form it reads. The
/// supported-operator list, `loupe summary`'s counts, the taps' view of rearranging nodes and
/// docs/onnx.md's list all come from ``ONNXGraph/operators``.
public struct ONNXOperator: Sendable {
    public let name: String
    /// Moves, copies or reshapes values without computing new ones (a transpose, a reshape): a
    /// tap there need not be `[N, C, h, w]` at rank 4, and no CAM layer is chosen there.
    public let rearranges: Bool
    /// The first opset that defines the operator; Loupe reads each later opset's form of it
    /// (verified to opset 21).
    public let firstOpset: Int
    /// Multiply-adds for an output shape, given the node's weight shape when it has one; `nil`
    /// for an operator whose arithmetic is not counted.
    let multiplyAdds: (@Sendable (_ node: ONNXGraph.Node, _ weight: [Int]?) -> (([Int]) -> Int)?)?
    let evaluate: @Sendable (ONNXArguments) throws -> [ONNXValue]

    init(
        _ name: String, rearranges: Bool = false, since firstOpset: Int = 1,
        multiplyAdds: (@Sendable (ONNXGraph.Node, [Int]?) -> (([Int]) -> Int)?)? = nil,
        _ evaluate: @escaping @Sendable (ONNXArguments) throws -> [ONNXValue]
    ) {
        self.name = name
        self.rearranges = rearranges
        self.firstOpset = firstOpset
        self.multiplyAdds = multiplyAdds
        self.evaluate = evaluate
    }

    /// Several operators evaluated by one function of the operator's name.
    static func family(
        _ names: [String], _ evaluate: @escaping @Sendable (String, ONNXArguments) throws -> ONNXValue
    ) -> [ONNXOperator] {
        names.map { name in ONNXOperator(name) { [try evaluate(name, $0)] } }
    }
}

extension ONNXGraph {
    /// Every operator Loupe runs, by name.
    public static let operators: [String: ONNXOperator] = Dictionary(
        uniqueKeysWithValues: operatorTable.map { ($0.name, $0) })

    /// The names of the operators Loupe runs (default domain).
    public static var supportedOperators: Set<String> { Set(operators.keys) }

    private static let operatorTable: [ONNXOperator] =
        ONNXOperator.family(["Add", "Sub", "Mul", "Div", "Pow", "Equal", "Less", "Greater", "Max", "Min"]) {
            try binary($0, $1)
        }
        + ONNXOperator.family(
            [
                "Sqrt", "Neg", "Exp", "Log", "Abs", "Reciprocal", "Erf", "Relu", "LeakyRelu", "Sigmoid", "Tanh",
                "HardSigmoid",
            ]
        ) { try unary($0, $1) }
        + [
            ONNXOperator("HardSwish", since: 14) { [try unary("HardSwish", $0)] },
            ONNXOperator("Identity") { [try $0.value(0)] },
            ONNXOperator("Dropout") { try dropout($0) },
            ONNXOperator("Clip") { [try clip($0)] },
            ONNXOperator("PRelu") { arguments in
                // max(0, x) + slope · min(0, x), the slope broadcast to x's shape.
                let (x, slope) = (try arguments.float(0), try arguments.float(1))
                guard try broadcast(x.shape, slope.shape) == x.shape else {
                    throw LoupeIOError("PRelu: the slope \(slope.shape) does not broadcast to the input \(x.shape)")
                }
                return [.float(x.relu() - (x * -1).relu() * slope)]
            },
            ONNXOperator("Where", since: 9) { [try select($0)] },
            ONNXOperator(
                "Conv",
                multiplyAdds: { _, weight in
                    guard let weight, weight.count >= 3 else { return nil }
                    return { output in output.reduce(1, *) * weight.dropFirst().reduce(1, *) }
                }
            ) { [try convolution($0)] },
            ONNXOperator("MaxPool") { [try pool($0, maximum: true)] },
            ONNXOperator("AveragePool") { [try pool($0, maximum: false)] },
            ONNXOperator("GlobalAveragePool") {
                [.float(try $0.float(0).mean(alongAxes: try spatialAxes($0), keepingDimensions: true))]
            },
            ONNXOperator("GlobalMaxPool") {
                [.float(try $0.float(0).max(alongAxes: try spatialAxes($0), keepingDimensions: true))]
            },
            ONNXOperator("BatchNormalization") { [try batchNormalization($0)] },
            ONNXOperator("LayerNormalization", since: 17) { try layerNormalization($0) },
            ONNXOperator("Gemm", multiplyAdds: matrixMultiplyAdds) { [try gemm($0)] },
            ONNXOperator("MatMul", multiplyAdds: matrixMultiplyAdds) { [try matrixProduct($0)] },
            ONNXOperator("Softmax") { [try softmax($0, logarithm: false)] },
            ONNXOperator("LogSoftmax") { [try softmax($0, logarithm: true)] },
            ONNXOperator("LRN") { [try localResponseNormalization($0)] },
            ONNXOperator("Resize", since: 10) { [try resize($0)] },
            ONNXOperator("Upsample") { [try upsample($0)] },
            ONNXOperator("Flatten", rearranges: true) { [try flatten($0)] },
            ONNXOperator("Reshape", rearranges: true) { [try reshape($0)] },
            ONNXOperator("Transpose", rearranges: true) { [try transpose($0)] },
            ONNXOperator("Concat") { [try concatenate($0)] },
            ONNXOperator("Split") { try split($0) },
            ONNXOperator("Slice") { [try slice($0)] },
            ONNXOperator("Gather") { [try gather($0)] },
            ONNXOperator("Squeeze", rearranges: true) { [try squeeze($0, inserting: false)] },
            ONNXOperator("Unsqueeze", rearranges: true) { [try squeeze($0, inserting: true)] },
            ONNXOperator("Expand", rearranges: true, since: 8) { [try expand($0)] },
            ONNXOperator("Pad") { [try pad($0)] },
            ONNXOperator("ReduceMean") { [try reduce($0)] },
            ONNXOperator("ReduceSum") { [try reduce($0)] },
            ONNXOperator("ReduceMax") { [try reduce($0)] },
            ONNXOperator("Constant") { [try constant($0)] },
            ONNXOperator("Shape") { [try shapeOf($0)] },
            ONNXOperator("Size") { [.integer(IntegerTensor(scalar: try $0.value(0).shape.reduce(1, *)))] },
            ONNXOperator("Cast") { [try cast($0)] },
            ONNXOperator("ConstantOfShape", since: 9) { [try constantOfShape($0)] },
            ONNXOperator("Range", since: 11) { [try range($0)] },
        ]

    /// Gemm's and MatMul's multiply-adds from a 2-D weight: the output's size times the inner dimension.
    private static func matrixMultiplyAdds(_ node: Node, _ weight: [Int]?) -> (([Int]) -> Int)? {
        guard let weight, weight.count == 2 else { return nil }
        let inner = node.operation == "Gemm" && node.attributes.int("transB", 0) != 0 ? weight[1] : weight[0]
        return { output in output.reduce(1, *) * inner }
    }

    /// Dropout at inference: the input, and a mask of ones.
    private static func dropout(_ arguments: ONNXArguments) throws -> [ONNXValue] {
        let ratio = arguments.has(1) ? try arguments.float(1).scalars.first ?? 0.5 : arguments.attributes.float("ratio", 0.5)
        if arguments.has(2), try arguments.float(2).scalars.first != 0, ratio != 0 {
            throw LoupeIOError("Dropout in training mode is not supported; Loupe runs graphs for inference")
        }
        let input = try arguments.value(0)
        return [input, .integer(IntegerTensor(shape: input.shape, values: Array(repeating: 1, count: input.shape.reduce(1, *))))]
    }

    /// One node's outputs from its inputs.
    func evaluate(_ node: Node, _ values: [ONNXValue?]) throws -> [ONNXValue] {
        guard let definition = ONNXGraph.operators[node.operation] else {
            throw LoupeIOError("operator \(node.operation) is not supported")
        }
        return try definition.evaluate(ONNXArguments(node: node, values: values, opset: opset))
    }
}
