import LoupeTensor

// Network operators: convolution, pooling, normalization, matrix products, softmax, LRN and
// resizing. 1-D convolutions and pools run as 2-D ones of height 1. Shapes are checked here,
// so a malformed model fails with an error instead of tripping an engine precondition.
extension ONNXGraph {
    /// The 2-D window geometry of a Conv or pool node: kernel, strides, dilations and the
    /// padding before and after each spatial axis (auto_pad resolved).
    struct Window {
        var kernel: [Int], strides: [Int], dilations: [Int], before: [Int], after: [Int]

        init(_ arguments: ONNXArguments, inputSpatial: [Int], kernel: [Int]) throws {
            let attributes = arguments.attributes, count = inputSpatial.count
            self.kernel = attributes.ints("kernel_shape") ?? kernel
            strides = attributes.ints("strides") ?? Array(repeating: 1, count: count)
            dilations = attributes.ints("dilations") ?? Array(repeating: 1, count: count)
            let pads = attributes.ints("pads") ?? Array(repeating: 0, count: 2 * count)
            guard self.kernel.count == count, strides.count == count, dilations.count == count, pads.count == 2 * count,
                self.kernel.allSatisfy({ $0 > 0 }), strides.allSatisfy({ $0 > 0 }), dilations.allSatisfy({ $0 > 0 }),
                pads.allSatisfy({ $0 >= 0 })
            else {
                throw LoupeIOError(
                    "kernel \(self.kernel), strides \(strides), dilations \(dilations) or pads \(pads) do not fit a \(count)-D window"
                )
            }
            before = Array(pads.prefix(count))
            after = Array(pads.suffix(count))
            let autoPad = attributes.string("auto_pad", "NOTSET")
            if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
                for axis in 0..<count {
                    let output = (inputSpatial[axis] + strides[axis] - 1) / strides[axis]
                    let total = Swift.max(
                        (output - 1) * strides[axis] + (self.kernel[axis] - 1) * dilations[axis] + 1 - inputSpatial[axis], 0)
                    before[axis] = autoPad == "SAME_UPPER" ? total / 2 : total - total / 2
                    after[axis] = total - before[axis]
                }
            } else if autoPad == "VALID" {
                before = Array(repeating: 0, count: count)
                after = before
            } else if autoPad != "NOTSET" {
                throw LoupeIOError("auto_pad '\(autoPad)' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID")
            }
            for axis in 0..<count
            where inputSpatial[axis] + before[axis] + after[axis] < (self.kernel[axis] - 1) * dilations[axis] + 1 {
                throw LoupeIOError("window \(self.kernel) does not fit the input \(inputSpatial) padded by \(before)/\(after)")
            }
            guard (self.kernel + strides + dilations + before + after).allSatisfy({ $0 <= 1 << 16 }) else {
                throw LoupeIOError("window sizes \(self.kernel), strides, dilations or pads beyond 65536 are not supported")
            }
        }

        var isSymmetric: Bool { before == after }

        /// Refuses windows whose padded input would exceed the allocation budget.
        func checkPadded(_ shape: [Int]) throws {
            let spatial = shape.dropFirst(2).enumerated().map { $0.element + before[$0.offset] + after[$0.offset] }
            _ = try checkedCount(Array(shape.prefix(2)) + spatial)
        }
        func size(_ values: [Int]) -> Size2D { Size2D(values[0], values[1]) }
    }

    /// Spatial inputs of rank 3 (1-D) become rank 4 with height 1.
    private static func lifted(_ x: Tensor) throws -> Tensor {
        switch x.rank {
        case 4: return x
        case 3: return x.unsqueezed(at: 2)
        default: throw LoupeIOError("input \(x.shape) is not [N, C, W] or [N, C, H, W]; Loupe runs 1-D and 2-D windows")
        }
    }

    private static func lifted(_ window: Window) -> Window {
        guard window.kernel.count == 1 else { return window }
        var result = window
        result.kernel = [1] + window.kernel
        result.strides = [1] + window.strides
        result.dilations = [1] + window.dilations
        result.before = [0] + window.before
        result.after = [0] + window.after
        return result
    }

    static func spatialAxes(_ arguments: ONNXArguments) throws -> [Int] {
        let rank = try arguments.value(0).shape.count
        guard rank >= 3 else { throw LoupeIOError("global pooling needs [N, C, spatial...]; got rank \(rank)") }
        return Array(2..<rank)
    }

    /// Conv, followed by `epilogue` (see ``Tensor/convolved2D(with:bias:stride:padding:dilation:groups:then:)``);
    /// `nil` when the epilogue's addend does not have the output's shape (it would broadcast).
    static func convolution(_ arguments: ONNXArguments, then epilogue: ConvolutionEpilogue) throws -> ONNXValue? {
        try convolution(arguments, epilogue: epilogue)
    }

    static func convolution(_ arguments: ONNXArguments) throws -> ONNXValue {
        try convolution(arguments, epilogue: ConvolutionEpilogue())!
    }

    private static func convolution(_ arguments: ONNXArguments, epilogue: ConvolutionEpilogue) throws -> ONNXValue? {
        let input = try arguments.float(0), weight = try arguments.float(1)
        let bias = arguments.has(2) ? try arguments.float(2) : nil
        let groups = arguments.attributes.int("group", 1)
        guard input.rank == weight.rank, input.rank == 3 || input.rank == 4 else {
            throw LoupeIOError("Conv input \(input.shape) and weight \(weight.shape) must both be 1-D or 2-D (rank 3 or 4)")
        }
        guard groups >= 1, input.shape[1] == weight.shape[1] * groups, weight.shape[0] % groups == 0 else {
            throw LoupeIOError("Conv weight \(weight.shape) with group \(groups) does not fit input channels \(input.shape[1])")
        }
        if let bias, bias.shape != [weight.shape[0]] {
            throw LoupeIOError("Conv bias \(bias.shape) must be [\(weight.shape[0])]")
        }
        let window = lifted(
            try Window(arguments, inputSpatial: Array(input.shape.dropFirst(2)), kernel: Array(weight.shape.dropFirst(2))))
        guard window.kernel == Array(weight.shape.dropFirst(2)) || window.kernel == [1] + weight.shape.dropFirst(2) else {
            throw LoupeIOError("kernel_shape \(window.kernel) differs from the weight \(weight.shape)")
        }
        try window.checkPadded(try lifted(input).shape)
        var x = try lifted(input)
        let w = try lifted(weight)
        var padding = window.before
        if !window.isSymmetric {
            x = x.padded([(0, 0), (0, 0), (window.before[0], window.after[0]), (window.before[1], window.after[1])])
            padding = [0, 0]
        }
        let (stride, dilation) = (window.size(window.strides), window.size(window.dilations))
        if let addend = epilogue.addend {
            let (strides, dilations) = ([stride.height, stride.width], [dilation.height, dilation.width])
            let extent = { (axis: Int, size: Int) in
                (x.shape[axis + 2] + 2 * size - dilations[axis] * (w.shape[axis + 2] - 1) - 1) / strides[axis] + 1
            }
            let outputShape = [x.shape[0], w.shape[0], extent(0, padding[0]), extent(1, padding[1])]
            guard input.rank == 4, addend.shape == outputShape else { return nil }
        }
        let output = x.convolved2D(
            with: w, bias: bias, stride: stride, padding: window.size(padding), dilation: dilation,
            groups: groups, then: epilogue)
        return .float(input.rank == 3 ? output.squeezed(at: 2) : output)
    }

    static func pool(_ arguments: ONNXArguments, maximum: Bool) throws -> ONNXValue {
        let input = try arguments.float(0)
        // Max pooling of integers (uint8 images) stays integer: the maximum is one of the inputs.
        if maximum, case .integer = try arguments.value(0) {
            let pooled = try pool(
                ONNXArguments(node: arguments.node, values: [.float(input)], opset: arguments.opset), maximum: true)
            return .integer(try pooled.integers("MaxPool"))
        }
        guard arguments.node.outputs.count < 2 || arguments.node.outputs[1].isEmpty else {
            throw LoupeIOError("MaxPool's Indices output is not supported")
        }
        guard input.rank == 3 || input.rank == 4 else { throw LoupeIOError("pooling input \(input.shape) must be rank 3 or 4") }
        guard arguments.attributes.ints("kernel_shape") != nil else { throw LoupeIOError("kernel_shape is missing") }
        let window = lifted(try Window(arguments, inputSpatial: Array(input.shape.dropFirst(2)), kernel: []))
        let ceilMode = arguments.attributes.int("ceil_mode", 0) != 0
        let includePad = arguments.attributes.int("count_include_pad", 0) != 0
        var x = try lifted(input)
        try window.checkPadded(x.shape)
        let kernel = window.size(window.kernel), stride = window.size(window.strides)
        let builtInPadding = window.isSymmetric && zip(window.before, window.kernel).allSatisfy { $0 <= $1 / 2 }
        let output: Tensor
        if maximum {
            if builtInPadding {
                output = x.maxPooled2D(
                    kernelSize: kernel, stride: stride, padding: window.size(window.before),
                    dilation: window.size(window.dilations), ceilMode: ceilMode)
            } else {
                x = x.padded(paddingWidths(window), mode: .constant(-.infinity))
                output = x.maxPooled2D(
                    kernelSize: kernel, stride: stride, dilation: window.size(window.dilations), ceilMode: ceilMode)
            }
        } else {
            guard window.dilations.allSatisfy({ $0 == 1 }) else {
                throw LoupeIOError("AveragePool with dilations is not supported")
            }
            if builtInPadding {
                output = x.averagePooled2D(
                    kernelSize: kernel, stride: stride, padding: window.size(window.before),
                    ceilMode: ceilMode, countIncludePad: includePad)
            } else {
                // Sum over the window divided by the count of cells that count.
                let padded = x.padded(paddingWidths(window))
                let sums = padded.averagePooled2D(kernelSize: kernel, stride: stride, ceilMode: ceilMode)
                let mask = includePad ? Tensor.ones(padded.shape) : Tensor.ones(x.shape).padded(paddingWidths(window))
                output = sums / mask.averagePooled2D(kernelSize: kernel, stride: stride, ceilMode: ceilMode)
            }
        }
        return .float(input.rank == 3 ? output.squeezed(at: 2) : output)
    }

    private static func paddingWidths(_ window: Window) -> [(before: Int, after: Int)] {
        [(0, 0), (0, 0), (window.before[0], window.after[0]), (window.before[1], window.after[1])]
    }

    /// Inference-mode batch normalization over axis 1.
    static func batchNormalization(_ arguments: ONNXArguments) throws -> ONNXValue {
        guard arguments.attributes.int("training_mode", 0) == 0, arguments.node.outputs.filter({ !$0.isEmpty }).count == 1 else {
            throw LoupeIOError("BatchNormalization in training mode is not supported; Loupe runs graphs for inference")
        }
        let x = try arguments.float(0)
        let parameters = try (1...4).map { try arguments.float($0) }
        // Before opset 9, spatial = 0 gives each position of each channel its own statistics:
        // parameters shaped like one sample, [C, D1, ...].
        let perPosition = arguments.opset < 9 && arguments.attributes.int("spatial", 1) == 0
        let expected = x.rank >= 2 ? (perPosition ? Array(x.shape.dropFirst()) : [x.shape[1]]) : [0]
        guard x.rank >= 2, parameters.allSatisfy({ $0.shape == expected }) else {
            throw LoupeIOError("BatchNormalization parameters \(parameters.map(\.shape)) must all be \(expected)")
        }
        let epsilon = arguments.attributes.float("epsilon", 1e-5)
        let shape = perPosition ? [1] + expected : [1, x.shape[1]] + Array(repeating: 1, count: x.rank - 2)
        let (scale, bias, mean, variance) = (
            parameters[0].reshaped(shape), parameters[1].reshaped(shape),
            parameters[2].reshaped(shape), parameters[3].reshaped(shape)
        )
        return .float((x - mean) * (scale / (variance + epsilon).sqrt()) + bias)
    }

    /// Layer normalization over the axes from `axis` on; outputs Y, and Mean and InvStdDev when asked.
    static func layerNormalization(_ arguments: ONNXArguments) throws -> [ONNXValue] {
        let x = try arguments.float(0), scale = try arguments.float(1)
        let axis = try arguments.axis(arguments.attributes.int("axis", -1), rank: x.rank)
        let axes = Array(axis..<x.rank)
        _ = try broadcast(x.shape, scale.shape)
        var bias: Tensor?
        if arguments.has(2) {
            bias = try arguments.float(2)
            _ = try broadcast(x.shape, bias!.shape)
        }
        let (y, mean, inverse) = x.layerNormalizedWithStatistics(
            alongAxes: axes, scale: scale, bias: bias, epsilon: arguments.attributes.float("epsilon", 1e-5))
        return [.float(y), .float(mean), .float(inverse)]
    }

    /// Y = α · op(A) · op(B) + β · C.
    static func gemm(_ arguments: ONNXArguments) throws -> ONNXValue {
        var a = try arguments.float(0), b = try arguments.float(1)
        guard a.rank == 2, b.rank == 2 else { throw LoupeIOError("Gemm needs 2-D A and B; got \(a.shape) and \(b.shape)") }
        let alpha = arguments.attributes.float("alpha", 1), beta = arguments.attributes.float("beta", 1)
        // The fully connected layer PyTorch exports (A·Bᵀ + c) runs as one linear, with no copy of B.
        if arguments.attributes.int("transA", 0) == 0, arguments.attributes.int("transB", 0) != 0, alpha == 1, beta == 1,
            a.shape[1] == b.shape[1]
        {
            let bias = arguments.has(2) ? try arguments.float(2) : nil
            if bias == nil || bias!.shape == [b.shape[0]] { return .float(a.linear(weight: b, bias: bias)) }
        }
        if arguments.attributes.int("transA", 0) != 0 { a = a.transposed() }
        if arguments.attributes.int("transB", 0) != 0 { b = b.transposed() }
        guard a.shape[1] == b.shape[0] else { throw LoupeIOError("Gemm: A \(a.shape) and B \(b.shape) do not multiply") }
        _ = try checkedCount([a.shape[0], b.shape[1]])
        var y = a.matmul(b)
        if alpha != 1 { y = y * alpha }
        if arguments.has(2) {
            let c = try arguments.float(2)
            guard try broadcast(y.shape, c.shape) == y.shape else {
                throw LoupeIOError("Gemm: C \(c.shape) does not broadcast to \(y.shape)")
            }
            y = y + (beta == 1 ? c : c * beta)
        }
        return .float(y)
    }

    /// NumPy matmul: 1-D operands gain and then lose a unit dimension; batch dimensions broadcast.
    static func matrixProduct(_ arguments: ONNXArguments) throws -> ONNXValue {
        let a = try arguments.float(0), b = try arguments.float(1)
        guard a.rank >= 1, b.rank >= 1 else { throw LoupeIOError("MatMul needs tensors, not scalars") }
        let left = a.rank == 1 ? a.unsqueezed(at: 0) : a, right = b.rank == 1 ? b.unsqueezed(at: 1) : b
        guard left.shape[left.rank - 1] == right.shape[right.rank - 2] else {
            throw LoupeIOError("MatMul: \(a.shape) and \(b.shape) do not multiply")
        }
        let batch = try broadcast(Array(left.shape.dropLast(2)), Array(right.shape.dropLast(2)))
        _ = try checkedCount(batch + [left.shape[left.rank - 2], right.shape[right.rank - 1]])
        var y = left.matmul(right)
        if a.rank == 1 { y = y.squeezed(at: y.rank - 2) }
        if b.rank == 1 { y = y.squeezed(at: y.rank - 1) }
        return .float(y)
    }

    /// Softmax and LogSoftmax: over one axis from opset 13; before, over the input flattened
    /// to 2-D at `axis` (default 1).
    static func softmax(_ arguments: ONNXArguments, logarithm: Bool) throws -> ONNXValue {
        let x = try arguments.float(0)
        let function = { (t: Tensor, axis: Int) in logarithm ? t.logSoftmax(along: axis) : t.softmax(along: axis) }
        if arguments.opset >= 13 {
            return .float(function(x, try arguments.axis(arguments.attributes.int("axis", -1), rank: x.rank)))
        }
        let axis = try arguments.axis(arguments.attributes.int("axis", 1), rank: x.rank)
        let rows = x.shape.prefix(axis).reduce(1, *)
        return .float(function(x.reshaped([rows, x.count / Swift.max(rows, 1)]), 1).reshaped(x.shape))
    }

    /// Local response normalization across channels:
    /// y = x / (bias + α/size · Σ x²)^β over `size` neighbouring channels.
    static func localResponseNormalization(_ arguments: ONNXArguments) throws -> ONNXValue {
        let x = try arguments.float(0), attributes = arguments.attributes
        let size = attributes.int("size", 0)
        guard x.rank >= 3, size >= 1 else { throw LoupeIOError("LRN needs [N, C, ...] input and a positive size") }
        let (low, high) = ((size - 1) / 2, size - 1 - (size - 1) / 2)
        let squares = (x * x).padded([(0, 0), (low, high)] + Array(repeating: (0, 0), count: x.rank - 2))
        var sum = squares.slice(along: 1, from: 0, to: x.shape[1])
        for offset in 1..<size { sum = sum + squares.slice(along: 1, from: offset, to: offset + x.shape[1]) }
        let denominator = (sum * (attributes.float("alpha", 1e-4) / Float(size)) + attributes.float("bias", 1)).pow(
            attributes.float("beta", 0.75))
        return .float(x / denominator)
    }
}
