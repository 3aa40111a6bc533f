import LoupeTensor

// Elementwise operators: arithmetic with NumPy broadcasting (floats differentiable, integers
// exact for shape arithmetic), comparisons, activations, Clip and Where.
extension ONNXGraph {
    /// The NumPy broadcast of two shapes, or an error naming both.
    static func broadcast(_ a: [Int], _ b: [Int]) throws -> [Int] {
        let rank = Swift.max(a.count, b.count)
        let left = Array(repeating: 1, count: rank - a.count) + a, right = Array(repeating: 1, count: rank - b.count) + b
        let shape = try zip(left, right).map { x, y in
            guard x == y || x == 1 || y == 1 else { throw LoupeIOError("shapes \(a) and \(b) do not broadcast") }
            return x == 1 ? y : x
        }
        _ = try checkedCount(shape)
        return shape
    }

    /// Elementwise `combine` of two integer tensors with broadcasting.
    static func combine(_ a: IntegerTensor, _ b: IntegerTensor, _ combine: (Int, Int) throws -> Int) throws -> IntegerTensor {
        let shape = try broadcast(a.shape, b.shape)
        func strides(_ source: [Int]) -> [Int] {
            let padded = Array(repeating: 1, count: shape.count - source.count) + source
            var result = Array(repeating: 0, count: shape.count), step = 1
            for axis in stride(from: shape.count - 1, through: 0, by: -1) {
                result[axis] = padded[axis] == 1 ? 0 : step
                step *= padded[axis]
            }
            return result
        }
        let (aStrides, bStrides) = (strides(a.shape), strides(b.shape))
        let count = shape.reduce(1, *)
        var values = [Int](repeating: 0, count: count)
        for index in 0..<count {
            var rest = index, aIndex = 0, bIndex = 0
            for axis in stride(from: shape.count - 1, through: 0, by: -1) {
                let coordinate = rest % shape[axis]
                rest /= shape[axis]
                aIndex += coordinate * aStrides[axis]
                bIndex += coordinate * bStrides[axis]
            }
            values[index] = try combine(a.values[aIndex], b.values[bIndex])
        }
        return IntegerTensor(shape: shape, values: values)
    }

    static func binary(_ operation: String, _ arguments: ONNXArguments) throws -> ONNXValue {
        if operation == "Max" || operation == "Min" {
            let values = try (0..<arguments.count).map { try arguments.value($0) }
            let integers = values.compactMap { value -> IntegerTensor? in if case .integer(let x) = value { x } else { nil } }
            if integers.count == values.count {
                return .integer(
                    try integers.dropFirst().reduce(integers[0]) { result, next in
                        try combine(result, next) { operation == "Max" ? Swift.max($0, $1) : Swift.min($0, $1) }
                    })
            }
            var result = try arguments.float(0)
            for index in 1..<arguments.count {
                let next = try arguments.float(index)
                _ = try broadcast(result.shape, next.shape)
                result = operation == "Max" ? Tensor.maximum(result, next) : Tensor.minimum(result, next)
            }
            return .float(result)
        }
        let (left, right) = (try arguments.value(0), try arguments.value(1))
        if case .integer(let a) = left, case .integer(let b) = right, operation != "Pow" {
            return .integer(
                try combine(a, b) { x, y in
                    switch operation {
                    case "Add": return x &+ y
                    case "Sub": return x &- y
                    case "Mul": return x &* y
                    case "Div":
                        guard y != 0 else { throw LoupeIOError("integer division by zero") }
                        return x / y
                    case "Equal": return x == y ? 1 : 0
                    case "Less": return x < y ? 1 : 0
                    default: return x > y ? 1 : 0
                    }
                })
        }
        if operation == "Pow", case .integer(let base) = left {
            // An integer base keeps its type (ONNX's Pow returns the type of X).
            let powers = right.tensor
            _ = try broadcast(base.shape, powers.shape)
            let result = Tensor(shape: base.shape, scalars: base.values.map(Float.init)).pow(powers)
            return .integer(
                IntegerTensor(
                    shape: result.shape,
                    values: result.scalars.map { value in
                        value.isFinite && Swift.abs(value) < 9.0e18 ? Int(value.rounded(.towardZero)) : 0
                    }))
        }
        let (a, b) = (left.tensor, right.tensor)
        _ = try broadcast(a.shape, b.shape)
        switch operation {
        case "Add": return .float(a + b)
        case "Sub": return .float(a - b)
        case "Mul": return .float(a * b)
        case "Div": return .float(a / b)
        case "Pow": return .float(a.pow(b))
        case "Equal": return .integer(truthValues(a .== b))
        case "Less": return .integer(truthValues(a .< b))
        default: return .integer(truthValues(a .> b))
        }
    }

    /// A 0/1 float mask as integers.
    private static func truthValues(_ mask: Tensor) -> IntegerTensor {
        IntegerTensor(shape: mask.shape, values: mask.scalars.map { $0 != 0 ? 1 : 0 })
    }

    /// An integer tensor broadcast to `shape` (which must be a broadcast of its shape).
    static func expand(_ integers: IntegerTensor, to shape: [Int]) throws -> IntegerTensor {
        try combine(integers, IntegerTensor(shape: shape, values: Array(repeating: 0, count: shape.reduce(1, *)))) { value, _ in
            value
        }
    }

    static func unary(_ operation: String, _ arguments: ONNXArguments) throws -> ONNXValue {
        let x = try arguments.float(0), attributes = arguments.attributes
        switch operation {
        case "Sqrt": return .float(x.sqrt())
        case "Neg":
            if case .integer(let integers) = try arguments.value(0) {
                return .integer(IntegerTensor(shape: integers.shape, values: integers.values.map { 0 &- $0 }))
            }
            return .float(-x)
        case "Exp": return .float(x.exp())
        case "Log": return .float(x.log())
        case "Abs": return .float(x.abs())
        case "Reciprocal": return .float(1 / x)
        case "Erf": return .float(x.erf())
        case "Relu": return .float(x.relu())
        case "LeakyRelu": return .float(x.leakyRelu(negativeSlope: attributes.float("alpha", 0.01)))
        case "Sigmoid": return .float(x.sigmoid())
        case "Tanh": return .float(x.tanh())
        case "HardSigmoid":
            return .float((x * attributes.float("alpha", 0.2) + attributes.float("beta", 0.5)).clamped(min: 0, max: 1))
        default: return .float(x.hardswish())
        }
    }

    /// Clip: bounds as attributes before opset 11, as optional scalar inputs from 11.
    static func clip(_ arguments: ONNXArguments) throws -> ONNXValue {
        if case .integer(let integers) = try arguments.value(0), arguments.opset >= 11 {
            let low = try arguments.ints(1)?.first ?? Int.min, high = try arguments.ints(2)?.first ?? Int.max
            return .integer(
                IntegerTensor(shape: integers.shape, values: integers.values.map { Swift.min(Swift.max($0, low), high) }))
        }
        let x = try arguments.float(0)
        var (low, high) = (-Float.infinity, Float.infinity)
        if arguments.opset < 11 {
            low = arguments.attributes.float("min", low)
            high = arguments.attributes.float("max", high)
        } else {
            if arguments.has(1) { low = try arguments.float(1).scalars.first ?? low }
            if arguments.has(2) { high = try arguments.float(2).scalars.first ?? high }
        }
        // A clip from 0 is a ReLU (ReLU6 exports as Clip(0, 6)): the backward rules apply to it.
        return .float(low == 0 && high > 0 ? x.relu(maximum: high) : x.clamped(min: low, max: high))
    }

    /// Where(condition, X, Y) with broadcasting.
    static func select(_ arguments: ONNXArguments) throws -> ONNXValue {
        let condition = try arguments.value(0).integers("Where condition")
        let (a, b) = (try arguments.value(1), try arguments.value(2))
        let shape = try broadcast(try broadcast(condition.shape, a.shape), b.shape)
        if case .integer(let x) = a, case .integer(let y) = b {
            let (mask, left, right) = (try expand(condition, to: shape), try expand(x, to: shape), try expand(y, to: shape))
            return .integer(
                IntegerTensor(
                    shape: shape, values: mask.values.indices.map { mask.values[$0] != 0 ? left.values[$0] : right.values[$0] }))
        }
        let mask = Tensor(shape: condition.shape, scalars: condition.values.map { $0 != 0 ? 1 : 0 })
        return .float(Tensor.where(mask, a.tensor, b.tensor))
    }
}
