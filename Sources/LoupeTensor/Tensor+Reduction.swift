// Reductions over axes. Multi-axis reductions apply the one-axis kernel axis by axis.

extension Tensor {
    /// The sum of all elements, as a rank-0 tensor.
    public func sum() -> Tensor { sum(alongAxes: Array(0..<rank)) }

    /// Sums over `axes`; `keepingDimensions` leaves them with extent 1.
    /// Derivative: the gradient broadcast back over the summed axes.
    public func sum(alongAxes axes: [Int], keepingDimensions: Bool = false) -> Tensor {
        if rank == 4, Set(axes.map { axisIndex($0) }) == [2, 3], let width = storage.channelBlockWidth {
            let sums = positionSums(blockWidth: width)
            return keepingDimensions ? sums : sums.reshaped([shape[0], shape[1]])
        }
        return reduced(alongAxes: axes, keepingDimensions: keepingDimensions) { $0.summedAlong($1) }
    }

    /// Sums over one axis.
    public func sum(along axis: Int, keepingDimensions: Bool = false) -> Tensor {
        sum(alongAxes: [axis], keepingDimensions: keepingDimensions)
    }

    /// The mean of all elements.
    public func mean() -> Tensor { mean(alongAxes: Array(0..<rank)) }

    /// Means over `axes`.
    public func mean(alongAxes axes: [Int], keepingDimensions: Bool = false) -> Tensor {
        let reducedCount = Set(axes.map { axisIndex($0) }).map { shape[$0] }.reduce(1, *)
        return sum(alongAxes: axes, keepingDimensions: keepingDimensions) / Float(reducedCount)
    }

    /// Mean over one axis.
    public func mean(along axis: Int, keepingDimensions: Bool = false) -> Tensor {
        mean(alongAxes: [axis], keepingDimensions: keepingDimensions)
    }

    /// The variance over `axes`: Σ(x − mean)² / (n − correction). `correction: 1` is the
    /// unbiased estimate (`torch.var`'s default), `0` the population variance.
    public func variance(alongAxes axes: [Int], correction: Int = 1, keepingDimensions: Bool = false) -> Tensor {
        let reducedCount = Set(axes.map { axisIndex($0) }).map { shape[$0] }.reduce(1, *)
        let deviation = self - mean(alongAxes: axes, keepingDimensions: true)
        return (deviation * deviation).sum(alongAxes: axes, keepingDimensions: keepingDimensions)
            / Float(reducedCount - correction)
    }

    /// The largest element.
    public func max() -> Tensor { max(alongAxes: Array(0..<rank)) }

    /// The largest value over `axes`. The gradient goes to the first maximal element.
    public func max(alongAxes axes: [Int], keepingDimensions: Bool = false) -> Tensor {
        reduced(alongAxes: axes, keepingDimensions: keepingDimensions) { $0.extremeAlong($1, largest: true) }
    }

    /// The largest value over one axis.
    public func max(along axis: Int, keepingDimensions: Bool = false) -> Tensor {
        max(alongAxes: [axis], keepingDimensions: keepingDimensions)
    }

    /// The smallest element.
    public func min() -> Tensor { min(alongAxes: Array(0..<rank)) }

    /// The smallest value over `axes`. The gradient goes to the first minimal element.
    public func min(alongAxes axes: [Int], keepingDimensions: Bool = false) -> Tensor {
        reduced(alongAxes: axes, keepingDimensions: keepingDimensions) { $0.extremeAlong($1, largest: false) }
    }

    /// The smallest value over one axis.
    public func min(along axis: Int, keepingDimensions: Bool = false) -> Tensor {
        min(alongAxes: [axis], keepingDimensions: keepingDimensions)
    }

    /// The index of the first largest value along `axis`, as a tensor without that axis.
    public func argmax(along axis: Int) -> [Int] {
        let axis = axisIndex(axis)
        return extremeIndices(along: axis, largest: true)
    }

    /// The flat index of the first largest element.
    public func argmax() -> Int {
        reshaped([count]).argmax(along: 0)[0]
    }

    /// Applies a one-axis reduction (which keeps the axis with extent 1) to each of `axes`.
    private func reduced(
        alongAxes axes: [Int], keepingDimensions: Bool,
        _ reduceOne: (Tensor, Int) -> Tensor
    ) -> Tensor {
        let resolved = Set(axes.map { axisIndex($0) }).sorted()
        var result = self
        for axis in resolved { result = reduceOne(result, axis) }
        if keepingDimensions { return result }
        return result.reshaped(shape.indices.filter { !resolved.contains($0) }.map { shape[$0] })
    }

    /// Sums along one axis, keeping it with extent 1.
    private func summedAlong(_ axis: Int) -> Tensor {
        let (outer, extent, inner) = splitAround(shape, axis: axis)
        var newShape = shape
        newShape[axis] = 1
        let result = Tensor.zeros(newShape)
        let source = storage.base
        let destination = result.storage.base
        parallelRanges(outer, grain: Swift.max(1, 65_536 / Swift.max(extent * inner, 1))) { rows in
            for row in rows {
                let out = destination + row * inner
                for position in 0..<extent {
                    let from = source + (row * extent + position) * inner
                    for element in 0..<inner { out[element] += from[element] }
                }
            }
        }
        let inputShape = shape
        return Tensor.recording(result, inputs: [self]) { gradient, _ in [gradient.broadcast(to: inputShape)] }
    }

    /// Each channel's sum over all positions, `[N, C, H, W] → [N, C, 1, 1]`, read straight from
    /// values a oneDNN primitive left channel-blocked (width `width`), so they stay in that layout.
    private func positionSums(blockWidth width: Int) -> Tensor {
        let result = Tensor(uninitializedShape: [shape[0], shape[1], 1, 1])
        ChannelBlocking.withLanes(
            width: width,
            PositionSumKernel(
                source: storage.elementwiseBase, destination: result.storage.base, rows: shape[0] * shape[1] / width,
                plane: shape[2] * shape[3]))
        let inputShape = shape
        return Tensor.recording(result, inputs: [self]) { gradient, _ in [gradient.broadcast(to: inputShape)] }
    }

    /// The position along `axis` of the first extreme value, for every other index.
    private func extremeIndices(along axis: Int, largest: Bool) -> [Int] {
        let (outer, extent, inner) = splitAround(shape, axis: axis)
        precondition(extent > 0, "Cannot take the extreme of an empty dimension (shape \(shape))")
        var indices = [Int](repeating: 0, count: outer * inner)
        let source = storage.base
        for row in 0..<outer {
            for element in 0..<inner {
                var best = source[row * extent * inner + element]
                var bestIndex = 0
                for position in 1..<Swift.max(extent, 1) {
                    let value = source[(row * extent + position) * inner + element]
                    // NaN wins, as in PyTorch's max.
                    if (largest ? value > best : value < best) || (value.isNaN && !best.isNaN) {
                        best = value
                        bestIndex = position
                    }
                }
                indices[row * inner + element] = bestIndex
            }
        }
        return indices
    }

    /// The extreme along one axis, keeping it with extent 1.
    private func extremeAlong(_ axis: Int, largest: Bool) -> Tensor {
        let (_, extent, inner) = splitAround(shape, axis: axis)
        let indices = extremeIndices(along: axis, largest: largest)
        var newShape = shape
        newShape[axis] = 1
        let result = Tensor(uninitializedShape: newShape)
        // Flat source offset of each selected element.
        let offsets = indices.enumerated().map { flat, position in
            (flat / inner * extent + position) * inner + flat % inner
        }
        for (flat, offset) in offsets.enumerated() { result.storage.base[flat] = storage.base[offset] }
        let inputShape = shape
        return Tensor.recording(result, inputs: [self]) { gradient, _ in
            let inputGradient = Tensor.zeros(inputShape)
            for (flat, offset) in offsets.enumerated() {
                inputGradient.storage.base[offset] += gradient.storage.base[flat]
            }
            return [inputGradient]
        }
    }
}

/// Sums of channel-blocked rows over their positions: row r's `width` sums are channels r·w on.
private struct PositionSumKernel: ChannelLaneKernel {
    let source: UnsafeMutablePointer<Float>, destination: UnsafeMutablePointer<Float>
    let rows: Int, plane: Int

    func run<Lanes: SIMD>(_: Lanes.Type) where Lanes.Scalar == Float {
        let width = Lanes.scalarCount
        parallelRanges(rows, grain: Swift.max(1, 65_536 / Swift.max(plane * width, 1))) { range in
            for row in range {
                let input = source + row * plane * width
                var total = Lanes()
                for position in 0..<plane { total += UnsafeRawPointer(input + position * width).loadUnaligned(as: Lanes.self) }
                UnsafeMutableRawPointer(destination + row * width).storeBytes(of: total, as: Lanes.self)
            }
        }
    }
}
