// The elementwise kernels every arithmetic, math and activation op is built on.

/// The shape two shapes broadcast to under NumPy's rules.
func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
    let rank = Swift.max(a.count, b.count)
    let paddedA = Array(repeating: 1, count: rank - a.count) + a
    let paddedB = Array(repeating: 1, count: rank - b.count) + b
    return zip(paddedA, paddedB).map { left, right in
        precondition(
            left == right || left == 1 || right == 1,
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

/// The broadcast loop's axes with neighbours merged wherever both operands step through them
/// as one (each operand's stride on the outer axis is its stride on the inner times the inner
/// extent: contiguous, or 0 on both when repeated). Size-1 axes are dropped.
func coalescedAxes(_ extents: [Int], _ stridesA: [Int], _ stridesB: [Int]) -> (extents: [Int], stridesA: [Int], stridesB: [Int]) {
    var merged: [(extent: Int, a: Int, b: Int)] = []
    for axis in extents.indices where extents[axis] != 1 {
        let next = (extent: extents[axis], a: stridesA[axis], b: stridesB[axis])
        if let last = merged.last, last.a == next.a * next.extent, last.b == next.b * next.extent {
            merged[merged.count - 1] = (last.extent * next.extent, next.a, next.b)
        } else {
            merged.append(next)
        }
    }
    if merged.isEmpty { merged = [(1, 0, 0)] }
    return (merged.map(\.extent), merged.map(\.a), merged.map(\.b))
}

/// A function of one element, as a type: the loops below are specialized for each one and
/// inline it. (Given a closure, the compiler calls it once per element from the threads' loop
/// bodies, which kept the hot elementwise ops scalar, several times slower than a vector loop.)
protocol UnaryElementFunction {
    func callAsFunction(_ x: Float) -> Float
}

/// A function of two elements, as a type (see ``UnaryElementFunction``).
protocol BinaryElementFunction {
    func callAsFunction(_ a: Float, _ b: Float) -> Float
}

/// A closure as an element function, for the ops that are not hot enough to have a type.
struct UnaryClosure: UnaryElementFunction {
    let body: (Float) -> Float
    func callAsFunction(_ x: Float) -> Float { body(x) }
}

struct BinaryClosure: BinaryElementFunction {
    let body: (Float, Float) -> Float
    func callAsFunction(_ a: Float, _ b: Float) -> Float { body(a, b) }
}

struct Sum: BinaryElementFunction { func callAsFunction(_ a: Float, _ b: Float) -> Float { a + b } }
struct Difference: BinaryElementFunction { func callAsFunction(_ a: Float, _ b: Float) -> Float { a - b } }
struct Product: BinaryElementFunction { func callAsFunction(_ a: Float, _ b: Float) -> Float { a * b } }
struct Quotient: BinaryElementFunction { func callAsFunction(_ a: Float, _ b: Float) -> Float { a / b } }
struct Rectifier: UnaryElementFunction { func callAsFunction(_ x: Float) -> Float { Swift.max(x, 0) } }
struct Scaling: UnaryElementFunction {
    let factor: Float
    func callAsFunction(_ x: Float) -> Float { x * factor }
}
struct Shift: UnaryElementFunction {
    let offset: Float
    func callAsFunction(_ x: Float) -> Float { x + offset }
}

extension Tensor {
    /// Applies `operation` to every element. Element order does not matter here, so values held
    /// in a oneDNN layout are mapped in it and the result keeps it.
    func mapped(_ operation: (Float) -> Float) -> Tensor {
        withoutActuallyEscaping(operation) { mapped(UnaryClosure(body: $0)) }
    }

    /// Applies `function` to every element (see ``mapped(_:)-(Float)->Float``).
    @inline(__always)
    func mapped<Function: UnaryElementFunction>(_ operation: Function) -> Tensor {
        let source = storage.elementwiseBase
        let result = Tensor(shape: shape, storage: TensorStorage(count: count, layout: storage.native))
        let destination = result.storage.elementwiseBase
        parallelRanges(count) { range in
            for index in range { destination[index] = operation(source[index]) }
        }
        return result
    }

    /// Combines this tensor with `other` elementwise after broadcasting both.
    func zipped(with other: Tensor, _ operation: (Float, Float) -> Float) -> Tensor {
        withoutActuallyEscaping(operation) { zipped(with: other, BinaryClosure(body: $0)) }
    }

    /// Combines this tensor with `other` by `operation` after broadcasting both.
    @inline(__always)
    func zipped<Function: BinaryElementFunction>(with other: Tensor, _ operation: Function) -> Tensor {
        if shape == other.shape, let layout = storage.native ?? other.storage.native {
            // Same shape, at least one side in a oneDNN layout: run in that layout.
            let a = storage.elementwiseBuffer(in: layout), b = other.storage.elementwiseBuffer(in: layout)
            let result = Tensor(shape: shape, storage: TensorStorage(count: count, layout: layout))
            let destination = result.storage.elementwiseBase
            parallelRanges(count) { range in
                for index in range { destination[index] = operation(a[index], b[index]) }
            }
            return result
        }
        if let result = zippedPerChannel(with: other, operation) { return result }
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
        // Axes merged where both operands continue contiguously (or both repeat), so a channel
        // broadcast [N, C, H, W] · [1, C, 1, 1] runs as N·C rows of H·W.
        let (extents, stridesA, stridesB) = coalescedAxes(
            outputShape, broadcastStrides(shape, to: outputShape),
            broadcastStrides(other.shape, to: outputShape))
        let inner = extents.last!, innerA = stridesA.last!, innerB = stridesB.last!
        let rows = result.count / inner
        let outerAxes = extents.count - 1
        parallelRanges(rows, grain: Swift.max(1, 32_768 / inner)) { range in
            for row in range {
                var rest = row, offsetA = 0, offsetB = 0
                var axis = outerAxes - 1
                while axis >= 0 {
                    let coordinate = rest % extents[axis]
                    rest /= extents[axis]
                    offsetA += coordinate * stridesA[axis]
                    offsetB += coordinate * stridesB[axis]
                    axis -= 1
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

    /// `operation` between a channel-blocked `[N, C, H, W]` operand and a per-channel one
    /// (`[N, C, 1, 1]` or `[1, C, 1, 1]`, such as a squeeze-excitation gate), run in the blocked
    /// layout, which the result keeps; `nil` when the operands are not so.
    @inline(__always)
    private func zippedPerChannel<Function: BinaryElementFunction>(with other: Tensor, _ operation: Function) -> Tensor? {
        func isPerChannel(_ small: [Int], of large: [Int]) -> Bool {
            small.count == 4 && large.count == 4 && (small[0] == 1 || small[0] == large[0]) && small[1] == large[1]
                && small[2] == 1 && small[3] == 1
        }
        let blockedFirst: Bool
        if storage.channelBlockWidth != nil, isPerChannel(other.shape, of: shape) {
            blockedFirst = true
        } else if other.storage.channelBlockWidth != nil, isPerChannel(shape, of: other.shape) {
            blockedFirst = false
        } else {
            return nil
        }
        let (large, small) = blockedFirst ? (self, other) : (other, self)
        let width = large.storage.channelBlockWidth!
        let (channels, plane) = (large.shape[1], large.shape[2] * large.shape[3])
        let sampleStride = small.shape[0] == 1 ? 0 : channels
        let source = large.storage.elementwiseBase, factors = small.storage.base
        let result = Tensor(shape: large.shape, storage: TensorStorage(count: large.count, layout: large.storage.native))
        let destination = result.storage.elementwiseBase
        let rowLength = plane * width
        parallelRanges(large.shape[0] * channels / width, grain: Swift.max(1, 32_768 / Swift.max(rowLength, 1))) { rows in
            for row in rows {
                // Row r holds the `width` channels from r·w mod C on, of sample r·w / C, position by position.
                let first = row * width
                let factor = factors + first / channels * sampleStride + first % channels
                let (input, output) = (source + row * rowLength, destination + row * rowLength)
                for position in stride(from: 0, to: rowLength, by: width) {
                    let (from, to) = (input + position, output + position)
                    if blockedFirst {
                        for lane in 0..<width { to[lane] = operation(from[lane], factor[lane]) }
                    } else {
                        for lane in 0..<width { to[lane] = operation(factor[lane], from[lane]) }
                    }
                }
            }
        }
        return result
    }
}
