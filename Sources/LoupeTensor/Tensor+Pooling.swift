// 2-D pooling on NCHW tensors. Max pooling runs on oneDNN (in the channel-blocked layout
// convolutions leave), with PyTorch's window rules (ceil_mode, dilation); average pooling is
// Swift loops over planes so that PyTorch's count_include_pad divisors hold to the letter.

/// The geometry shared by the pooling kernels.
private struct PoolingWindow {
    let kernel: Size2D, stride: Size2D, padding: Size2D, dilation: Size2D
    let inputHeight: Int, inputWidth: Int, outputHeight: Int, outputWidth: Int

    init(
        input: [Int], kernel: Size2D, stride: Size2D?, padding: Size2D, dilation: Size2D, ceilMode: Bool,
        function: String
    ) {
        precondition(input.count == 4, "\(function): input must be [N, C, H, W]; got \(input)")
        let stride = stride ?? kernel
        precondition(
            kernel.height > 0 && kernel.width > 0 && stride.height > 0 && stride.width > 0,
            "\(function): kernel \(kernel) and stride \(stride) must be positive")
        precondition(
            padding.height >= 0 && padding.width >= 0
                && padding.height <= kernel.height / 2 && padding.width <= kernel.width / 2,
            "\(function): padding \(padding) must be between 0 and half the kernel \(kernel)")
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        inputHeight = input[2]
        inputWidth = input[3]
        let output = requiringShapes {
            try ShapeRules.pooling(
                input: input, kernel: kernel, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
        }
        outputHeight = output[2]
        outputWidth = output[3]
    }
}

extension Tensor {
    /// Max pooling over `kernelSize` windows (`F.max_pool2d`).
    ///
    /// - Parameters:
    ///   - stride: defaults to the kernel size.
    ///   - padding: implicit −∞ padding on both sides, at most half the kernel.
    ///   - ceilMode: round the output size up, as PyTorch's `ceil_mode=True`.
    /// - Returns: `[N, C, H', W']`. The gradient goes to the (first) maximal element of each window.
    ///   Unlike PyTorch, a NaN inside a window does not win the maximum (oneDNN's rule).
    public func maxPooled2D(
        kernelSize: Size2D, stride: Size2D? = nil, padding: Size2D = 0,
        dilation: Size2D = 1, ceilMode: Bool = false
    ) -> Tensor {
        let window = PoolingWindow(
            input: shape, kernel: kernelSize, stride: stride, padding: padding,
            dilation: dilation, ceilMode: ceilMode, function: "maxPooled2D")
        // Right/bottom padding that makes oneDNN's window count PyTorch's (ceil_mode adds windows
        // reaching past the input; padded positions never win a max).
        func paddingAfter(_ input: Int, _ output: Int, _ kernel: Int, _ stride: Int, _ dilation: Int, _ before: Int) -> Int {
            Swift.max(0, (output - 1) * stride + (kernel - 1) * dilation + 1 - input - before)
        }
        let geometry = PoolingGeometry(
            input: shape, output: [shape[0], shape[1], window.outputHeight, window.outputWidth],
            kernel: window.kernel.array, stride: window.stride.array, dilation: window.dilation.array,
            paddingBefore: window.padding.array,
            paddingAfter: [
                paddingAfter(
                    window.inputHeight, window.outputHeight, window.kernel.height, window.stride.height,
                    window.dilation.height, window.padding.height),
                paddingAfter(
                    window.inputWidth, window.outputWidth, window.kernel.width, window.stride.width,
                    window.dilation.width, window.padding.width),
            ],
            inference: !GradientRecording.isEnabled || !isTrackingGradients)
        if DNNL.referenceOnlyReason(geometry) != nil { return maxPooledBySwift(geometry) }
        let (output, workspace) = DNNL.maxPoolingForward(geometry, input: storage)
        let result = Tensor(shape: geometry.output, storage: output)
        return Tensor.recording(result, inputs: [self]) { gradient, _ in
            [
                Tensor(
                    shape: geometry.input,
                    storage: DNNL.maxPoolingBackward(
                        geometry, outputGradient: gradient.storage,
                        workspace: workspace!))
            ]
        }
    }

    /// Max pooling by Swift loops over planes, for the geometries oneDNN runs only on its
    /// reference kernel (see `DNNL.referenceOnlyReason`), with its rules: padded positions never
    /// win, nor does a NaN, and the gradient goes to the first maximal element of each window.
    private func maxPooledBySwift(_ geometry: PoolingGeometry) -> Tensor {
        let (height, width) = (geometry.input[2], geometry.input[3])
        let (outputHeight, outputWidth) = (geometry.output[2], geometry.output[3])
        let planes = geometry.input[0] * geometry.input[1]
        // The input rows (columns) each output row (column) reads, inside the input.
        func taps(_ axis: Int, extent: Int, outputs: Int) -> [[Int]] {
            (0..<outputs).map { position in
                (0..<geometry.kernel[axis]).map {
                    position * geometry.stride[axis] - geometry.paddingBefore[axis] + $0 * geometry.dilation[axis]
                }
                .filter { (0..<extent).contains($0) }
            }
        }
        let (rowTaps, columnTaps) = (taps(0, extent: height, outputs: outputHeight), taps(1, extent: width, outputs: outputWidth))
        let result = Tensor(uninitializedShape: geometry.output)
        // Each output's winner, as an offset in its plane (−1: the window held no number).
        let winners = UnsafeMutablePointer<Int32>.allocate(capacity: Swift.max(result.count, 1))
        let source = storage.base, destination = result.storage.base
        parallelRanges(planes, grain: Swift.max(1, 16_384 / Swift.max(height * width, 1))) { range in
            for plane in range {
                let input = source + plane * height * width
                for row in 0..<outputHeight {
                    for column in 0..<outputWidth {
                        var best = -Float.infinity, winner: Int32 = -1
                        for inputRow in rowTaps[row] {
                            for inputColumn in columnTaps[column] {
                                let offset = inputRow * width + inputColumn, value = input[offset]
                                if value > best || (winner < 0 && !value.isNaN) { (best, winner) = (value, Int32(offset)) }
                            }
                        }
                        let index = (plane * outputHeight + row) * outputWidth + column
                        destination[index] = best
                        winners[index] = winner
                    }
                }
            }
        }
        let owner = WinnerIndices(winners)
        return Tensor.recording(result, inputs: [self]) { gradient, _ in
            let inputGradient = Tensor.zeros(geometry.input)
            let (target, outputGradient) = (inputGradient.storage.base, gradient.storage.base)
            let perPlane = outputHeight * outputWidth
            parallelRanges(planes, grain: Swift.max(1, 16_384 / Swift.max(height * width, 1))) { range in
                for plane in range {
                    for index in plane * perPlane..<(plane + 1) * perPlane where owner.indices[index] >= 0 {
                        target[plane * height * width + Int(owner.indices[index])] += outputGradient[index]
                    }
                }
            }
            return [inputGradient]
        }
    }

    /// Average pooling (`F.avg_pool2d`).
    ///
    /// - Parameter countIncludePad: divide by the window size including zero padding (PyTorch's
    ///   default), or by the number of input elements covered.
    /// - Returns: `[N, C, H', W']`; each input element gets `gradient / divisor` from each window.
    public func averagePooled2D(
        kernelSize: Size2D, stride: Size2D? = nil, padding: Size2D = 0,
        ceilMode: Bool = false, countIncludePad: Bool = true
    ) -> Tensor {
        let window = PoolingWindow(
            input: shape, kernel: kernelSize, stride: stride, padding: padding,
            dilation: 1, ceilMode: ceilMode, function: "averagePooled2D")
        // Each output cell's covered input rectangle and divisor, as PyTorch's CPU kernel.
        func cell(_ outputRow: Int, _ outputColumn: Int) -> (rows: Range<Int>, columns: Range<Int>, divisor: Float) {
            var rowStart = outputRow * window.stride.height - window.padding.height
            var columnStart = outputColumn * window.stride.width - window.padding.width
            var rowEnd = Swift.min(rowStart + window.kernel.height, window.inputHeight + window.padding.height)
            var columnEnd = Swift.min(columnStart + window.kernel.width, window.inputWidth + window.padding.width)
            let paddedSize = (rowEnd - rowStart) * (columnEnd - columnStart)
            rowStart = Swift.max(rowStart, 0)
            columnStart = Swift.max(columnStart, 0)
            rowEnd = Swift.min(rowEnd, window.inputHeight)
            columnEnd = Swift.min(columnEnd, window.inputWidth)
            let divisor = countIncludePad ? paddedSize : (rowEnd - rowStart) * (columnEnd - columnStart)
            return (rowStart..<rowEnd, columnStart..<columnEnd, Float(divisor))
        }
        return pooledByCells(outputHeight: window.outputHeight, outputWidth: window.outputWidth, cell: cell)
    }

    /// Adaptive average pooling to a fixed output size (`F.adaptive_avg_pool2d`): output cell
    /// `i` averages input rows `⌊i·H/H'⌋ ..< ⌈(i+1)·H/H'⌉`, and likewise for columns.
    public func adaptiveAveragePooled2D(outputSize: Size2D) -> Tensor {
        precondition(
            rank == 4 && outputSize.height > 0 && outputSize.width > 0,
            "adaptiveAveragePooled2D: needs [N, C, H, W] input and a positive size; got \(shape), \(outputSize)")
        if outputSize == Size2D(integerLiteral: 1) { return globalAveragePooled2D() }
        let (height, width) = (shape[2], shape[3])
        func cell(_ outputRow: Int, _ outputColumn: Int) -> (rows: Range<Int>, columns: Range<Int>, divisor: Float) {
            let rows = adaptiveCell(outputRow, of: outputSize.height, over: height)
            let columns = adaptiveCell(outputColumn, of: outputSize.width, over: width)
            return (rows, columns, Float(rows.count * columns.count))
        }
        return pooledByCells(outputHeight: outputSize.height, outputWidth: outputSize.width, cell: cell)
    }

    /// The mean of each channel: `[N, C, H, W] → [N, C, 1, 1]` (`AdaptiveAvgPool2d(1)`).
    public func globalAveragePooled2D() -> Tensor {
        precondition(rank == 4, "globalAveragePooled2D: input must be [N, C, H, W]; got \(shape)")
        return mean(alongAxes: [2, 3], keepingDimensions: true)
    }

    /// Averages each output cell's input rectangle; the shared body of the average poolings.
    private func pooledByCells(
        outputHeight: Int, outputWidth: Int,
        cell: (Int, Int) -> (rows: Range<Int>, columns: Range<Int>, divisor: Float)
    ) -> Tensor {
        let planes = shape[0] * shape[1]
        let (height, width) = (shape[2], shape[3])
        let cells = (0..<outputHeight).flatMap { row in (0..<outputWidth).map { cell(row, $0) } }
        let result = Tensor(uninitializedShape: [shape[0], shape[1], outputHeight, outputWidth])
        let source = storage.base, destination = result.storage.base
        parallelRanges(planes, grain: Swift.max(1, 16_384 / Swift.max(height * width, 1))) { range in
            for plane in range {
                let input = source + plane * height * width
                for (index, cell) in cells.enumerated() {
                    var total: Float = 0
                    for row in cell.rows { for column in cell.columns { total += input[row * width + column] } }
                    destination[plane * cells.count + index] = total / cell.divisor
                }
            }
        }
        let inputShape = shape
        return Tensor.recording(result, inputs: [self]) { gradient, _ in
            let inputGradient = Tensor.zeros(inputShape)
            for plane in 0..<planes {
                let target = inputGradient.storage.base + plane * height * width
                for (index, cell) in cells.enumerated() {
                    let share = gradient.storage.base[plane * cells.count + index] / cell.divisor
                    for row in cell.rows { for column in cell.columns { target[row * width + column] += share } }
                }
            }
            return [inputGradient]
        }
    }
}

/// The winners of a Swift max pooling, kept for its pullback.
private final class WinnerIndices: @unchecked Sendable {
    let indices: UnsafeMutablePointer<Int32>
    init(_ indices: UnsafeMutablePointer<Int32>) { self.indices = indices }
    deinit { indices.deallocate() }
}

/// Cell `index` of `cells` that split `extent` positions as PyTorch's adaptive pooling does.
private func adaptiveCell(_ index: Int, of cells: Int, over extent: Int) -> Range<Int> {
    let start = index * extent / cells
    let end = ((index + 1) * extent + cells - 1) / cells
    return start..<end
}
