import LoupeTensor

// Shape and data-movement operators. Each is written once on Tensor (differentiable); integer
// tensors move through the same code as the positions of their elements, so their values
// (int64 shapes, sentinels such as INT64_MAX) stay exact.
extension ONNXGraph {
    /// Applies a data-movement operation to one or more values of the same kind: floats
    /// directly, integers by moving their element positions.
    private static func moving(_ values: [ONNXValue], _ operation: ([Tensor]) throws -> Tensor) throws -> ONNXValue {
        let integers = values.compactMap { value -> IntegerTensor? in if case .integer(let x) = value { x } else { nil } }
        guard integers.count == values.count, !values.isEmpty else { return .float(try operation(values.map(\.tensor))) }
        var offset = 0, positions: [Tensor] = []
        for tensor in integers {
            positions.append(Tensor(shape: tensor.shape, scalars: (offset..<offset + tensor.values.count).map(Float.init)))
            offset += tensor.values.count
        }
        let all = integers.flatMap(\.values)
        let moved = try withoutGradients { try operation(positions) }
        return .integer(IntegerTensor(shape: moved.shape, values: moved.scalars.map { all[Int($0)] }))
    }

    static func checkedCount(_ shape: [Int]) throws -> Int {
        guard shape.allSatisfy({ $0 >= 0 }) else { throw LoupeIOError("negative dimension in \(shape)") }
        guard let count = checkedProduct(shape), count <= computedElementBudget else {
            throw LoupeIOError("shape \(shape) has more elements than Loupe allocates (\(computedElementBudget))")
        }
        return count
    }

    static func flatten(_ arguments: ONNXArguments) throws -> ONNXValue {
        let value = try arguments.value(0), shape = value.shape
        let requested = arguments.attributes.int("axis", 1)
        guard (-shape.count...shape.count).contains(requested) else {
            throw LoupeIOError("Flatten axis \(requested) is out of range for rank \(shape.count)")
        }
        let axis = requested < 0 ? requested + shape.count : requested
        let rows = shape.prefix(axis).reduce(1, *)
        return try moving([value]) { $0[0].reshaped([rows, shape.suffix(from: axis).reduce(1, *)]) }
    }

    static func reshape(_ arguments: ONNXArguments) throws -> ONNXValue {
        let value = try arguments.value(0)
        let requested = arguments.opset < 5 ? arguments.attributes.ints("shape") ?? [] : try arguments.ints(1) ?? []
        let allowZero = arguments.attributes.int("allowzero", 0) != 0
        var shape = try requested.enumerated().map { index, size -> Int in
            guard size >= -1 else { throw LoupeIOError("Reshape: invalid size \(size) in \(requested)") }
            guard size == 0 && !allowZero else { return size }
            guard index < value.shape.count else {
                throw LoupeIOError("Reshape: 0 at position \(index) copies a dimension \(value.shape) lacks")
            }
            return value.shape[index]
        }
        let count = value.shape.reduce(1, *)
        if let unknown = shape.firstIndex(of: -1) {
            guard shape.filter({ $0 == -1 }).count == 1 else { throw LoupeIOError("Reshape: more than one -1 in \(requested)") }
            let known = try checkedCount(shape.enumerated().filter { $0.offset != unknown }.map(\.element))
            guard known > 0, count % known == 0 else { throw LoupeIOError("Reshape: \(value.shape) cannot become \(requested)") }
            shape[unknown] = count / known
        }
        guard try checkedCount(shape) == count else {
            throw LoupeIOError("Reshape: \(value.shape) (\(count) elements) cannot become \(shape)")
        }
        return try moving([value]) { $0[0].reshaped(shape) }
    }

    static func transpose(_ arguments: ONNXArguments) throws -> ONNXValue {
        let value = try arguments.value(0), rank = value.shape.count
        let permutation = arguments.attributes.ints("perm") ?? Array((0..<rank).reversed())
        guard permutation.sorted() == Array(0..<rank) else {
            throw LoupeIOError("Transpose: perm \(permutation) is not a permutation of 0..<\(rank)")
        }
        return try moving([value]) { $0[0].permuted(permutation) }
    }

    static func concatenate(_ arguments: ONNXArguments) throws -> ONNXValue {
        let values = try (0..<arguments.count).map { try arguments.value($0) }
        guard let first = values.first else { throw LoupeIOError("Concat needs inputs") }
        let axis = try arguments.axis(arguments.attributes.int("axis", 0), rank: first.shape.count)
        for value in values
        where value.shape.count != first.shape.count
            || zip(value.shape, first.shape).enumerated().contains(where: { $0.offset != axis && $0.element.0 != $0.element.1 })
        {
            throw LoupeIOError("Concat: shapes \(values.map(\.shape)) differ outside axis \(axis)")
        }
        var total = first.shape
        total[axis] = values.reduce(0) { $0 + $1.shape[axis] }
        _ = try checkedCount(total)
        let kept = values.filter { $0.shape[axis] > 0 }
        return try moving(kept.isEmpty ? [values[0]] : kept) { Tensor.concatenate($0, along: axis) }
    }

    static func split(_ arguments: ONNXArguments) throws -> [ONNXValue] {
        let value = try arguments.value(0), shape = value.shape
        let axis = try arguments.axis(arguments.attributes.int("axis", 0), rank: shape.count)
        let outputs = arguments.node.outputs.count
        var sizes = arguments.opset < 13 ? arguments.attributes.ints("split") : try arguments.ints(1)
        if sizes == nil {
            let parts = arguments.attributes.int("num_outputs", outputs)
            guard parts > 0 else { throw LoupeIOError("Split into \(parts) parts") }
            let size = (shape[axis] + parts - 1) / parts
            sizes = (0..<parts).map { Swift.min(size, Swift.max(shape[axis] - $0 * size, 0)) }
        }
        guard let sizes, sizes.count == outputs, sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == shape[axis] else {
            throw LoupeIOError("Split sizes \(sizes ?? []) do not add up to \(shape[axis]) for \(outputs) outputs")
        }
        var start = 0
        return try sizes.map { size in
            defer { start += size }
            return try moving([value]) { [start] in $0[0].slice(along: axis, from: start, to: start + size) }
        }
    }

    static func slice(_ arguments: ONNXArguments) throws -> ONNXValue {
        let value = try arguments.value(0), shape = value.shape
        let starts: [Int], ends: [Int], axes: [Int]?, steps: [Int]?
        if arguments.opset < 10 {
            (starts, ends) = (arguments.attributes.ints("starts") ?? [], arguments.attributes.ints("ends") ?? [])
            (axes, steps) = (arguments.attributes.ints("axes"), nil)
        } else {
            (starts, ends) = (try arguments.ints(1) ?? [], try arguments.ints(2) ?? [])
            (axes, steps) = (try arguments.ints(3), try arguments.ints(4))
        }
        let chosen = try (axes ?? Array(0..<starts.count)).map { try arguments.axis($0, rank: shape.count) }
        let strides = steps ?? Array(repeating: 1, count: starts.count)
        guard starts.count == ends.count, chosen.count == starts.count, strides.count == starts.count,
            Set(chosen).count == chosen.count
        else {
            throw LoupeIOError("Slice: starts \(starts), ends \(ends), axes \(chosen) and steps \(strides) differ in length")
        }
        var indices: [Int: [Int]] = [:]
        for (position, axis) in chosen.enumerated() {
            let (dimension, step) = (shape[axis], strides[position])
            guard step != 0 else { throw LoupeIOError("Slice: step 0") }
            func clampedIndex(_ index: Int, low: Int, high: Int) -> Int {
                let resolved = index < 0 ? (index < -dimension ? -dimension : index) + dimension : index
                return Swift.min(Swift.max(resolved, low), high)
            }
            let start =
                step > 0
                ? clampedIndex(starts[position], low: 0, high: dimension)
                : clampedIndex(starts[position], low: 0, high: dimension - 1)
            let end =
                step > 0
                ? clampedIndex(ends[position], low: 0, high: dimension)
                : (ends[position] < -dimension ? -1 : clampedIndex(ends[position], low: -1, high: dimension - 1))
            indices[axis] = Array(Swift.stride(from: start, to: end, by: step))
        }
        return try moving([value]) { tensors in
            var x = tensors[0]
            for (axis, selected) in indices.sorted(by: { $0.key < $1.key }) {
                if let first = selected.first, selected == Array(first..<(first + selected.count)) {
                    x = x.slice(along: axis, from: first, to: first + selected.count)
                } else {
                    x = x.gathered(selected, along: axis)
                }
            }
            return x
        }
    }

    static func gather(_ arguments: ONNXArguments) throws -> ONNXValue {
        let value = try arguments.value(0), indices = try arguments.value(1).integers("Gather indices")
        let axis = try arguments.axis(arguments.attributes.int("axis", 0), rank: value.shape.count)
        let dimension = value.shape[axis]
        let flat = try indices.values.map { index -> Int in
            guard (-dimension..<dimension).contains(index) else {
                throw LoupeIOError("Gather index \(index) is outside 0..<\(dimension)")
            }
            return index < 0 ? index + dimension : index
        }
        let shape = Array(value.shape.prefix(axis)) + indices.shape + Array(value.shape.suffix(from: axis + 1))
        _ = try checkedCount(shape)
        return try moving([value]) { $0[0].gathered(flat, along: axis).reshaped(shape) }
    }

    /// Squeeze and Unsqueeze; axes are an attribute before opset 13 and an input from 13.
    static func squeeze(_ arguments: ONNXArguments, inserting: Bool) throws -> ONNXValue {
        let value = try arguments.value(0)
        let axes = arguments.opset < 13 ? arguments.attributes.ints("axes") : try arguments.ints(1)
        var shape = value.shape
        if inserting {
            guard let axes else { throw LoupeIOError("Unsqueeze needs axes") }
            let rank = shape.count + axes.count
            for axis in try axes.map({ try arguments.axis($0, rank: rank) }).sorted() { shape.insert(1, at: axis) }
        } else if let axes {
            let removed = Set(try axes.map { try arguments.axis($0, rank: shape.count) })
            guard removed.allSatisfy({ shape[$0] == 1 }) else {
                throw LoupeIOError("Squeeze: axes \(axes) of \(shape) are not all 1")
            }
            shape = shape.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
        } else {
            shape = shape.filter { $0 != 1 }
        }
        return try moving([value]) { $0[0].reshaped(shape) }
    }

    /// Pad: constant, reflect or edge; pads as an attribute before opset 11, inputs from 11.
    /// Negative pads crop.
    static func pad(_ arguments: ONNXArguments) throws -> ONNXValue {
        let value = try arguments.value(0), rank = value.shape.count
        let pads = arguments.opset < 11 ? arguments.attributes.ints("pads") ?? [] : try arguments.ints(1) ?? []
        let fill =
            arguments.opset < 11
            ? arguments.attributes.float("value", 0) : (arguments.has(2) ? try arguments.float(2).scalars.first ?? 0 : 0)
        let axes =
            try (arguments.opset >= 18 ? try arguments.ints(3) : nil)?.map { try arguments.axis($0, rank: rank) }
            ?? Array(0..<rank)
        guard pads.count == 2 * axes.count else { throw LoupeIOError("Pad: \(pads.count) pads for \(axes.count) axes") }
        let mode: PaddingMode
        switch arguments.attributes.string("mode", "constant") {
        case "constant": mode = .constant(fill)
        case "reflect": mode = .reflect
        case "edge": mode = .replicate
        case let other: throw LoupeIOError("Pad mode '\(other)' is not supported (constant, reflect, edge)")
        }
        var widths = Array(repeating: (before: 0, after: 0), count: rank)
        for (position, axis) in axes.enumerated() { widths[axis] = (pads[position], pads[position + axes.count]) }
        for (axis, width) in widths.enumerated() {
            let size = value.shape[axis] + width.before + width.after
            guard size >= 0, width.before <= 1 << 20, width.after <= 1 << 20 else {
                throw LoupeIOError("Pad: pads \(pads) do not fit \(value.shape)")
            }
            if mode == .reflect, Swift.max(width.before, width.after) >= value.shape[axis] {
                throw LoupeIOError("Pad: reflect padding \(width) needs a dimension longer than it; \(value.shape) is too small")
            }
            if mode == .replicate, value.shape[axis] == 0, size > 0 {
                throw LoupeIOError("Pad: edge padding of an empty dimension")
            }
        }
        _ = try checkedCount(zip(value.shape, widths).map { $0 + $1.before + $1.after })
        return try moving([value]) { tensors in
            var x = tensors[0]
            let crop = widths.map { (Swift.max(-$0.before, 0), Swift.max(-$0.after, 0)) }
            for (axis, (front, back)) in crop.enumerated() where front > 0 || back > 0 {
                x = x.slice(along: axis, from: front, to: x.shape[axis] - back)
            }
            let grow = widths.map { (before: Swift.max($0.before, 0), after: Swift.max($0.after, 0)) }
            return grow.allSatisfy({ $0.before == 0 && $0.after == 0 }) ? x : x.padded(grow, mode: mode)
        }
    }

    /// ReduceMean, ReduceSum and ReduceMax; axes as an attribute, or an input (ReduceSum from
    /// opset 13, the others from 18).
    static func reduce(_ arguments: ONNXArguments) throws -> ONNXValue {
        let x = try arguments.float(0), operation = arguments.node.operation
        let axesAsInput = operation == "ReduceSum" ? arguments.opset >= 13 : arguments.opset >= 18
        let given = axesAsInput ? try arguments.ints(1) : arguments.attributes.ints("axes")
        let keep = arguments.attributes.int("keepdims", 1) != 0
        var axes = try (given ?? []).map { try arguments.axis($0, rank: x.rank) }
        if axes.isEmpty {
            if arguments.attributes.int("noop_with_empty_axes", 0) != 0 { return .float(x) }
            axes = Array(0..<x.rank)
        }
        switch operation {
        case "ReduceMean": return .float(x.mean(alongAxes: axes, keepingDimensions: keep))
        case "ReduceSum": return .float(x.sum(alongAxes: axes, keepingDimensions: keep))
        default: return .float(x.max(alongAxes: axes, keepingDimensions: keep))
        }
    }

    static func constant(_ arguments: ONNXArguments) throws -> ONNXValue {
        let attributes = arguments.attributes
        if let tensor = attributes.tensor("value") { return try ONNXValue(tensor, directory: nil, budget: elementBudget) }
        if attributes.has("value_float") { return .float(Tensor(shape: [], scalars: [attributes.float("value_float", 0)])) }
        if let floats = attributes.floats("value_floats") { return .float(Tensor(shape: [floats.count], scalars: floats)) }
        if attributes.has("value_int") { return .integer(IntegerTensor(scalar: attributes.int("value_int", 0))) }
        if let ints = attributes.ints("value_ints") { return .integer(IntegerTensor(vector: ints)) }
        throw LoupeIOError("Constant has no value Loupe reads (value, value_float(s), value_int(s))")
    }

    static func shapeOf(_ arguments: ONNXArguments) throws -> ONNXValue {
        let shape = try arguments.value(0).shape, rank = shape.count
        func clamp(_ index: Int) -> Int { Swift.min(Swift.max(index < 0 ? index + rank : index, 0), rank) }
        let start = clamp(arguments.attributes.int("start", 0)), end = clamp(arguments.attributes.int("end", rank))
        return .integer(IntegerTensor(vector: start < end ? Array(shape[start..<end]) : []))
    }

    static func cast(_ arguments: ONNXArguments) throws -> ONNXValue {
        let value = try arguments.value(0)
        guard let type = ONNXDataType(rawValue: arguments.attributes.int("to", 1)), type != .string else {
            throw LoupeIOError("Cast to type \(arguments.attributes.int("to", 0)) is not supported")
        }
        if type.isFloatingPoint { return .float(value.tensor) }
        if type == .bool, case .float(let tensor) = value {
            return .integer(IntegerTensor(shape: tensor.shape, values: tensor.scalars.map { $0 != 0 ? 1 : 0 }))
        }
        return .integer(try value.integers("Cast"))
    }

    static func constantOfShape(_ arguments: ONNXArguments) throws -> ONNXValue {
        let shape = try arguments.ints(0) ?? []
        let count = try checkedCount(shape)
        let fill =
            try arguments.attributes.tensor("value").map { try ONNXValue($0, directory: nil, budget: 1) }
            ?? .float(Tensor(shape: [1], scalars: [0]))
        switch fill {
        case .float(let tensor): return .float(Tensor.full(shape, value: tensor.scalars.first ?? 0))
        case .integer(let integers):
            return .integer(IntegerTensor(shape: shape, values: Array(repeating: integers.values.first ?? 0, count: count)))
        }
    }

    static func expand(_ arguments: ONNXArguments) throws -> ONNXValue {
        let value = try arguments.value(0), requested = try arguments.ints(1) ?? []
        let shape = try broadcast(value.shape, requested)
        _ = try checkedCount(shape)
        return try moving([value]) { $0[0].broadcast(to: shape) }
    }

    static func range(_ arguments: ONNXArguments) throws -> ONNXValue {
        let values = try (0..<3).map { try arguments.value($0) }
        if values.allSatisfy({ if case .integer = $0 { true } else { false } }) {
            let (start, limit, delta) = try (
                values[0].integers("Range").values[0], values[1].integers("Range").values[0],
                values[2].integers("Range").values[0]
            )
            guard delta != 0 else { throw LoupeIOError("Range with delta 0") }
            let count = Swift.max(0, (limit - start + delta + (delta > 0 ? -1 : 1)) / delta)
            guard count <= computedElementBudget else { throw LoupeIOError("Range of \(count) elements") }
            return .integer(IntegerTensor(vector: (0..<count).map { start + $0 * delta }))
        }
        let (start, limit, delta) = (values[0].tensor.scalars[0], values[1].tensor.scalars[0], values[2].tensor.scalars[0])
        let count = Swift.max(0, ((limit - start) / delta).rounded(.up))
        guard delta != 0, count.isFinite, count <= Float(computedElementBudget) else {
            throw LoupeIOError("Range \(start)..<\(limit) by \(delta)")
        }
        return .float(Tensor(shape: [Int(count)], scalars: (0..<Int(count)).map { start + Float($0) * delta }))
    }
}
