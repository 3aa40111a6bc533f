/// How ``Tensor/padded(_:mode:)`` fills the new border.
public enum PaddingMode: Sendable, Equatable {
    /// A constant value (`F.pad(mode="constant")`).
    case constant(Float)
    /// Mirror without repeating the edge: `d c b | a b c d | c b a` (`mode="reflect"`).
    case reflect
    /// Repeat the edge value (`mode="replicate"`).
    case replicate
}

extension Tensor {
    /// Pads each dimension by `widths[axis] = (before, after)` elements.
    ///
    /// `widths` may list fewer entries than the rank; they then apply to the trailing dimensions
    /// (so `[(1, 1), (2, 2)]` pads H by 1 and W by 2 of an NCHW tensor).
    public func padded(_ widths: [(before: Int, after: Int)], mode: PaddingMode = .constant(0)) -> Tensor {
        precondition(widths.count <= rank, "padded: \(widths.count) padding pairs for a tensor of rank \(rank)")
        let lead = rank - widths.count
        let allWidths = Array(repeating: (before: 0, after: 0), count: lead) + widths
        // For each axis, the source position of every output position (-1: constant fill).
        let sources: [[Int]] = shape.indices.map { axis in
            let extent = shape[axis]
            let (before, after) = allWidths[axis]
            precondition(before >= 0 && after >= 0, "padded: negative padding \(allWidths[axis]) on axis \(axis)")
            if mode == .reflect {
                precondition(
                    before < extent && after < extent,
                    "padded: reflect padding \(allWidths[axis]) must be smaller than dimension \(axis) of shape \(shape)")
            }
            if mode == .replicate {
                precondition(extent > 0, "padded: cannot replicate an empty dimension")
            }
            return (-before..<(extent + after)).map { position in
                if position >= 0 && position < extent { return position }
                switch mode {
                case .constant: return -1
                case .replicate: return Swift.min(Swift.max(position, 0), extent - 1)
                case .reflect: return position < 0 ? -position : 2 * (extent - 1) - position
                }
            }
        }
        let newShape = sources.map(\.count)
        let fill: Float = if case .constant(let value) = mode { value } else { 0 }
        let result = Tensor.full(newShape, value: fill)
        let strides = contiguousStrides(shape)
        forEachMappedPosition(sources, strides: strides) { destination, source in
            result.storage.base[destination] = storage.base[source]
        }
        let inputShape = shape
        return Tensor.recording(result, inputs: [self]) { gradient, _ in
            let inputGradient = Tensor.zeros(inputShape)
            forEachMappedPosition(sources, strides: strides) { destination, source in
                inputGradient.storage.base[source] += gradient.storage.base[destination]
            }
            return [inputGradient]
        }
    }
}

/// Visits every output position whose source lies inside the input, with both flat offsets.
private func forEachMappedPosition(_ sources: [[Int]], strides: [Int], _ body: (Int, Int) -> Void) {
    let shape = sources.map(\.count)
    let total = shape.reduce(1, *)
    guard total > 0 else { return }
    var index = [Int](repeating: 0, count: shape.count)
    for flat in 0..<total {
        var source = 0
        var inside = true
        for axis in shape.indices {
            let position = sources[axis][index[axis]]
            if position < 0 { inside = false; break }
            source += position * strides[axis]
        }
        if inside { body(flat, source) }
        var axis = shape.count - 1
        while axis >= 0 {
            index[axis] += 1
            if index[axis] < shape[axis] { break }
            index[axis] = 0
            axis -= 1
        }
    }
}
