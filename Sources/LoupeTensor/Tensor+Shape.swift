extension Tensor {
    /// The same values with a new shape; one dimension may be `-1` and is then inferred.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved = newShape
        if let inferred = newShape.firstIndex(of: -1) {
            let known = newShape.enumerated().filter { $0.offset != inferred }.map(\.element).reduce(1, *)
            precondition(
                known > 0 && count % known == 0,
                "reshaped: cannot infer a dimension of \(newShape) from \(count) values (shape \(shape))")
            resolved[inferred] = count / known
        }
        precondition(
            resolved.reduce(1, *) == count,
            "reshaped: shape \(newShape) holds \(resolved.reduce(1, *)) values, but the tensor of shape \(shape) has \(count)")
        let oldShape = shape
        return Tensor.recording(Tensor(shape: resolved, storage: storage), inputs: [self]) { gradient, _ in
            [gradient.reshaped(oldShape)]
        }
    }

    /// Flattens the dimensions from `startAxis` to the end into one (like `torch.flatten`).
    public func flattened(from startAxis: Int = 0) -> Tensor {
        let start = axisIndex(startAxis)
        return reshaped(Array(shape[..<start]) + [shape[start...].reduce(1, *)])
    }

    /// Inserts a dimension of extent 1 at `axis`.
    public func unsqueezed(at axis: Int) -> Tensor {
        let position = axis < 0 ? axis + rank + 1 : axis
        precondition(position >= 0 && position <= rank, "unsqueezed: axis \(axis) is out of range for shape \(shape)")
        var newShape = shape
        newShape.insert(1, at: position)
        return reshaped(newShape)
    }

    /// Removes the dimension at `axis`, which must have extent 1.
    public func squeezed(at axis: Int) -> Tensor {
        let position = axisIndex(axis)
        precondition(shape[position] == 1, "squeezed: dimension \(axis) of shape \(shape) is not 1")
        var newShape = shape
        newShape.remove(at: position)
        return reshaped(newShape)
    }

    /// Reorders the dimensions: result dimension `i` is this tensor's dimension `permutation[i]`.
    public func permuted(_ permutation: [Int]) -> Tensor {
        precondition(
            permutation.sorted() == Array(0..<rank),
            "permuted: \(permutation) is not a permutation of the \(rank) axes of shape \(shape)")
        let strides = contiguousStrides(shape)
        let result = stridedGather(
            shape: permutation.map { shape[$0] },
            strides: permutation.map { strides[$0] }, offset: 0)
        var inverse = [Int](repeating: 0, count: rank)
        for (position, axis) in permutation.enumerated() { inverse[axis] = position }
        return Tensor.recording(result, inputs: [self]) { gradient, _ in [gradient.permuted(inverse)] }
    }

    /// Swaps two dimensions.
    public func transposed(_ first: Int = -2, _ second: Int = -1) -> Tensor {
        var permutation = Array(0..<rank)
        permutation.swapAt(axisIndex(first), axisIndex(second))
        return permuted(permutation)
    }

    /// The elements `start, start + step, ...` below `end` along `axis`; other axes are kept.
    public func slice(along axis: Int, from start: Int, to end: Int, step: Int = 1) -> Tensor {
        let axis = axisIndex(axis)
        precondition(
            step > 0 && start >= 0 && end <= shape[axis] && start <= end,
            "slice: range \(start)..<\(end) step \(step) does not fit dimension \(axis) of shape \(shape)")
        var newShape = shape
        newShape[axis] = (end - start + step - 1) / step
        var strides = contiguousStrides(shape)
        let offset = start * strides[axis]
        strides[axis] *= step
        let result =
            channelBlocks(from: start, to: end, step: step, axis: axis)
            ?? stridedGather(shape: newShape, strides: strides, offset: offset)
        let inputShape = shape
        return Tensor.recording(result, inputs: [self]) { gradient, _ in
            [gradient.scattered(intoShape: inputShape, along: axis, start: start, step: step)]
        }
    }

    /// Channels `start..<end` of a channel-blocked tensor when both ends fall on block
    /// boundaries: per batch item one run of whole blocks, copied and kept blocked (the gradient
    /// of a concatenation, split for SqueezeNet's two expand branches). `nil` otherwise.
    private func channelBlocks(from start: Int, to end: Int, step: Int, axis: Int) -> Tensor? {
        guard axis == 1, rank == 4, step == 1, let width = storage.channelBlockWidth,
            start % width == 0, end % width == 0
        else { return nil }
        let newShape = [shape[0], end - start, shape[2], shape[3]]
        let plane = shape[2] * shape[3]
        let result = Tensor(shape: newShape, storage: TensorStorage(channelBlocked: newShape, width: width))
        let (source, destination) = (storage.elementwiseBase, result.storage.elementwiseBase)
        let chunk = (end - start) * plane
        for item in 0..<shape[0] {
            (destination + item * chunk).update(from: source + (item * shape[1] + start) * plane, count: chunk)
        }
        return result
    }

    /// The sub-tensor at `index` of the first dimension (which is removed).
    public subscript(index: Int) -> Tensor {
        precondition(
            rank > 0 && index >= 0 && index < shape[0],
            "Index \(index) is out of range for shape \(shape)")
        return slice(along: 0, from: index, to: index + 1).squeezed(at: 0)
    }

    /// This tensor repeated along dimensions of extent 1 (and new leading ones) to `newShape`,
    /// following NumPy broadcasting.
    public func broadcast(to newShape: [Int]) -> Tensor {
        if newShape == shape { return self }
        precondition(newShape.count >= rank, "broadcast: cannot broadcast shape \(shape) to \(newShape)")
        let lead = newShape.count - rank
        let ownStrides = contiguousStrides(shape)
        var strides = [Int](repeating: 0, count: newShape.count)
        for axis in 0..<rank {
            precondition(
                shape[axis] == newShape[lead + axis] || shape[axis] == 1,
                "broadcast: cannot broadcast shape \(shape) to \(newShape)")
            strides[lead + axis] = shape[axis] == 1 ? 0 : ownStrides[axis]
        }
        let result = stridedGather(shape: newShape, strides: strides, offset: 0)
        let inputShape = shape
        return Tensor.recording(result, inputs: [self]) { gradient, _ in [gradient.summed(toShape: inputShape)] }
    }

    /// Sums a broadcast result back to `target`, the shape it was broadcast from.
    func summed(toShape target: [Int]) -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        var reduced = self
        if lead > 0 { reduced = reduced.sum(alongAxes: Array(0..<lead)) }
        let ones = target.indices.filter { target[$0] == 1 && reduced.shape[$0] != 1 }
        if !ones.isEmpty { reduced = reduced.sum(alongAxes: ones, keepingDimensions: true) }
        return reduced.reshaped(target)
    }

    /// Joins tensors along an existing axis; all other dimensions must agree.
    public static func concatenate(_ tensors: [Tensor], along axis: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "concatenate: needs at least one tensor")
        let axis = tensors[0].axisIndex(axis)
        var newShape = tensors[0].shape
        for tensor in tensors.dropFirst() {
            precondition(
                tensor.rank == newShape.count
                    && tensor.shape.enumerated().allSatisfy { $0.offset == axis || $0.element == newShape[$0.offset] },
                "concatenate: shape \(tensor.shape) does not match \(tensors[0].shape) off axis \(axis)")
        }
        newShape[axis] = tensors.map { $0.shape[axis] }.reduce(0, +)
        // Channels of parts blocked alike stay blocked: per batch item each part is one run of
        // whole blocks, so the parts' buffers are copied as they are, and the next convolution
        // reads the result without a reorder (SqueezeNet's Fire, Inception).
        let width = tensors[0].storage.channelBlockWidth
        let blocked =
            axis == 1 && newShape.count == 4 && width != nil
            && tensors.allSatisfy { $0.storage.channelBlockWidth == width }
        let result =
            blocked
            ? Tensor(shape: newShape, storage: TensorStorage(channelBlocked: newShape, width: width!))
            : Tensor(uninitializedShape: newShape)
        let (outer, _, inner) = splitAround(newShape, axis: axis)
        let rowLength = newShape[axis] * inner
        let sources = tensors.map { blocked ? $0.storage.elementwiseBase : $0.storage.base }
        let destination = blocked ? result.storage.elementwiseBase : result.storage.base
        let chunks = tensors.map { $0.shape[axis] * inner }
        let columns = chunks.reduce(into: [0]) { $0.append($0.last! + $1) }
        parallelRanges(outer * tensors.count, grain: Swift.max(1, 65_536 / Swift.max(rowLength / tensors.count, 1))) { pieces in
            for piece in pieces {
                let (row, part) = piece.quotientAndRemainder(dividingBy: tensors.count)
                (destination + row * rowLength + columns[part]).update(
                    from: sources[part] + row * chunks[part], count: chunks[part])
            }
        }
        let extents = tensors.map { $0.shape[axis] }
        return Tensor.recording(result, inputs: tensors) { gradient, needed in
            var start = 0
            return extents.enumerated().map { index, extent in
                defer { start += extent }
                return needed[index] ? gradient.slice(along: axis, from: start, to: start + extent) : nil
            }
        }
    }

    /// Joins equally shaped tensors along a new axis.
    public static func stack(_ tensors: [Tensor], along axis: Int = 0) -> Tensor {
        concatenate(tensors.map { $0.unsqueezed(at: axis) }, along: axis)
    }

    /// The strided view `element[offset + Σ iₖ·strides[k]]` of this tensor's elements, copied
    /// into a new tensor of `shape` (`torch.as_strided(...).contiguous()`), as weight files
    /// describe their tensors. The result is not recorded for differentiation.
    public func strided(shape newShape: [Int], strides: [Int], offset: Int) -> Tensor {
        precondition(
            newShape.count == strides.count && offset >= 0 && strides.allSatisfy { $0 >= 0 },
            "strided: shape \(newShape), strides \(strides) and offset \(offset) do not describe a view")
        let last = zip(newShape, strides).reduce(offset) { $0 + Swift.max($1.0 - 1, 0) * $1.1 }
        precondition(
            newShape.contains(0) || last < count,
            "strided: the view reaches element \(last) of a tensor with \(count)")
        return stridedGather(shape: newShape, strides: strides, offset: offset)
    }

    /// Copies `source[offset + Σ iₖ·strides[k]]` into a new contiguous tensor of `shape`.
    ///
    /// The one kernel behind permute, slice and broadcast: each is a choice of strides.
    func stridedGather(shape newShape: [Int], strides: [Int], offset: Int) -> Tensor {
        let result = Tensor(uninitializedShape: newShape)
        let total = result.count
        guard total > 0 else { return result }
        let source = storage.base + offset
        let destination = result.storage.base
        guard let innerExtent = newShape.last else {
            destination[0] = source[0]
            return result
        }
        let innerStride = strides[strides.count - 1]
        let outerShape = Array(newShape.dropLast())
        let outerStrides = Array(strides.dropLast())
        let rows = total / Swift.max(innerExtent, 1)
        parallelRanges(rows, grain: Swift.max(1, 65_536 / Swift.max(innerExtent, 1))) { range in
            var index = unravel(range.lowerBound, outerShape)
            var sourceOffset = zip(index, outerStrides).reduce(0) { $0 + $1.0 * $1.1 }
            for row in range {
                let from = source + sourceOffset
                let to = destination + row * innerExtent
                if innerStride == 1 {
                    to.update(from: from, count: innerExtent)
                } else {
                    for column in 0..<innerExtent { to[column] = from[column * innerStride] }
                }
                // Advance the multi-index of the outer dimensions.
                var axis = outerShape.count - 1
                while axis >= 0 {
                    index[axis] += 1
                    sourceOffset += outerStrides[axis]
                    if index[axis] < outerShape[axis] { break }
                    sourceOffset -= outerStrides[axis] * outerShape[axis]
                    index[axis] = 0
                    axis -= 1
                }
            }
        }
        return result
    }

    /// The gradient of a slice: zeros of `inputShape` with this tensor added at the sliced places.
    func scattered(intoShape inputShape: [Int], along axis: Int, start: Int, step: Int) -> Tensor {
        let result = Tensor.zeros(inputShape)
        let (outer, extent, inner) = splitAround(shape, axis: axis)
        let inputExtent = inputShape[axis]
        for row in 0..<outer {
            for position in 0..<extent {
                let to = result.storage.base + (row * inputExtent + start + position * step) * inner
                let from = storage.base + (row * extent + position) * inner
                for element in 0..<inner { to[element] += from[element] }
            }
        }
        return result
    }
}

/// The multi-index of a flat row-major position.
func unravel(_ flat: Int, _ shape: [Int]) -> [Int] {
    var index = [Int](repeating: 0, count: shape.count)
    var rest = flat
    for axis in stride(from: shape.count - 1, through: 0, by: -1) where shape[axis] > 0 {
        index[axis] = rest % shape[axis]
        rest /= shape[axis]
    }
    return index
}

extension Tensor {
    /// The slices at `indices` along `axis`, in that order (`index_select`); a permutation of
    /// ``gathered(_:)`` along the first dimension, so differentiable the same way.
    public func gathered(_ indices: [Int], along axis: Int) -> Tensor {
        let axis = axisIndex(axis)
        guard axis != 0 else { return gathered(indices) }
        var order = Array(0..<rank)
        order.remove(at: axis)
        order.insert(axis, at: 0)
        var inverse = Array(repeating: 0, count: rank)
        for (position, source) in order.enumerated() { inverse[source] = position }
        return permuted(order).gathered(indices).permuted(inverse)
    }

    /// The sub-tensors at `indices` of the first dimension, in that order (`x[indices]`,
    /// `index_select` along 0). Indices may repeat; their gradients add up.
    public func gathered(_ indices: [Int]) -> Tensor {
        precondition(rank >= 1, "gathered: needs a tensor of rank ≥ 1")
        let rowSize = count / Swift.max(shape[0], 1)
        for index in indices {
            precondition(index >= 0 && index < shape[0], "gathered: index \(index) is out of range for shape \(shape)")
        }
        let result = Tensor(uninitializedShape: [indices.count] + shape.dropFirst())
        for (row, index) in indices.enumerated() {
            (result.storage.base + row * rowSize).update(from: storage.base + index * rowSize, count: rowSize)
        }
        let inputShape = shape
        return Tensor.recording(result, inputs: [self]) { gradient, _ in
            let inputGradient = Tensor.zeros(inputShape)
            for (row, index) in indices.enumerated() {
                let target = inputGradient.storage.base + index * rowSize
                let source = gradient.storage.base + row * rowSize
                for offset in 0..<rowSize { target[offset] += source[offset] }
            }
            return [inputGradient]
        }
    }
}

extension Tensor {
    /// The tensor shifted cyclically by `shift` along `axis` (`torch.roll`).
    public func rolled(by shift: Int, along axis: Int) -> Tensor {
        let axis = axisIndex(axis)
        let extent = shape[axis]
        let amount = ((shift % extent) + extent) % extent
        guard amount != 0 else { return self }
        return Tensor.concatenate(
            [
                slice(along: axis, from: extent - amount, to: extent),
                slice(along: axis, from: 0, to: extent - amount),
            ], along: axis)
    }
}
