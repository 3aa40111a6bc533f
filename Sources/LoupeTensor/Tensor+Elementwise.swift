// The elementwise kernels every arithmetic, math and activation op is built on.

/// The shape two shapes broadcast to under NumPy's rules.
func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
    let rank = Swift.max(a.count, b.count)
    let paddedA = Array(repeating: 1, count: rank - a.count) + a
    let paddedB = Array(repeating: 1, count: rank - b.count) + b
    return zip(paddedA, paddedB).map { left, right in
        precondition(left == right || left == 1 || right == 1,
                     "Shapes \(a) and \(b) cannot be broadcast together")
        return Swift.max(left, right)
    }
}

/// Strides that read a tensor of `shape` as if broadcast to `target` (0 along repeated axes).
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
    let own = contiguousStrides(shape)
    let lead = target.count - shape.count
    return target.indices.map { axis in
        axis < lead || shape[axis - lead] == 1 ? 0 : own[axis - lead]
    }
}

extension Tensor {
    /// Applies `operation` to every element.
    @inline(__always)
    func mapped(_ operation: (Float) -> Float) -> Tensor {
        let result = Tensor(uninitializedShape: shape)
        let source = storage.base
        let destination = result.storage.base
        parallelRanges(count) { range in
            for index in range { destination[index] = operation(source[index]) }
        }
        return result
    }

    /// Combines this tensor with `other` elementwise after broadcasting both.
    @inline(__always)
    func zipped(with other: Tensor, _ operation: (Float, Float) -> Float) -> Tensor {
        let a = storage.base
        let b = other.storage.base
        if shape == other.shape {
            let result = Tensor(uninitializedShape: shape)
            let destination = result.storage.base
            parallelRanges(count) { range in
                for index in range { destination[index] = operation(a[index], b[index]) }
            }
            return result
        }
        let outputShape = broadcastShape(shape, other.shape)
        let result = Tensor(uninitializedShape: outputShape)
        guard result.count > 0 else { return result }
        let destination = result.storage.base
        let stridesA = broadcastStrides(shape, to: outputShape)
        let stridesB = broadcastStrides(other.shape, to: outputShape)
        let inner = outputShape.last ?? 1
        let innerA = stridesA.last ?? 0
        let innerB = stridesB.last ?? 0
        let outerShape = Array(outputShape.dropLast())
        let rows = result.count / inner
        parallelRanges(rows, grain: Swift.max(1, 32_768 / inner)) { range in
            for row in range {
                let index = unravel(row, outerShape)
                var offsetA = 0
                var offsetB = 0
                for axis in outerShape.indices {
                    offsetA += index[axis] * stridesA[axis]
                    offsetB += index[axis] * stridesB[axis]
                }
                let rowA = a + offsetA
                let rowB = b + offsetB
                let out = destination + row * inner
                switch (innerA, innerB) {
                case (0, 0): let value = operation(rowA[0], rowB[0]); for i in 0..<inner { out[i] = value }
                case (0, _): let left = rowA[0]; for i in 0..<inner { out[i] = operation(left, rowB[i]) }
                case (_, 0): let right = rowB[0]; for i in 0..<inner { out[i] = operation(rowA[i], right) }
                default: for i in 0..<inner { out[i] = operation(rowA[i], rowB[i]) }
                }
            }
        }
        return result
    }
}
