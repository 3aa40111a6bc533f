/// An n-dimensional array of `Float` values, stored row-major (NCHW for images).
///
/// `Tensor` has value semantics: copies share storage until one of them is written to
/// (copy-on-write). Operations on tensors that track gradients are recorded for reverse-mode
/// differentiation; see ``valueWithGradient(at:of:)`` and ``Tensor/trackingGradients()``.
public struct Tensor: @unchecked Sendable {
    /// The extent of each dimension, outermost first.
    public let shape: [Int]
    var storage: TensorStorage
    /// The recorded operation that produced this tensor, when it takes part in differentiation.
    var gradientNode: GradientNode?

    init(shape: [Int], storage: TensorStorage, gradientNode: GradientNode? = nil) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor shape \(shape) has a negative dimension")
        precondition(
            storage.count == shape.reduce(1, *),
            "Storage of \(storage.count) values does not fit shape \(shape)")
        self.shape = shape
        self.storage = storage
        self.gradientNode = gradientNode
    }

    /// Creates an uninitialized tensor; every element must be written before it is read.
    init(uninitializedShape shape: [Int]) {
        self.init(shape: shape, storage: TensorStorage(count: shape.reduce(1, *)))
    }

    /// Creates a tensor from values listed in row-major order.
    ///
    /// - Parameters:
    ///   - shape: the dimensions; their product must equal `scalars.count`.
    ///   - scalars: the values, last dimension varying fastest.
    public init(shape: [Int], scalars: [Float]) {
        precondition(
            shape.reduce(1, *) == scalars.count,
            "Shape \(shape) holds \(shape.reduce(1, *)) values but \(scalars.count) were given")
        let storage = TensorStorage(count: scalars.count)
        scalars.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { storage.base.update(from: base, count: scalars.count) }
        }
        self.init(shape: shape, storage: storage)
    }

    /// Creates a tensor whose values `body` writes, in row-major order, into its uninitialized
    /// buffer — without the intermediate array ``init(shape:scalars:)`` needs (a decoder filling
    /// a large weight).
    ///
    /// - Parameters:
    ///   - shape: the dimensions.
    ///   - body: writes the buffer's `shape.reduce(1, *)` values; any it leaves unwritten are
    ///     undefined until written (a model built to be loaded leaves its weights so).
    public init(shape: [Int], initializingWith body: (UnsafeMutableBufferPointer<Float>) throws -> Void) rethrows {
        self.init(uninitializedShape: shape)
        try body(UnsafeMutableBufferPointer(start: storage.base, count: storage.count))
    }

    /// Creates a rank-0 tensor holding one value.
    public init(_ scalar: Float) {
        self.init(shape: [], scalars: [scalar])
    }

    /// The number of dimensions.
    public var rank: Int { shape.count }

    /// The number of elements.
    public var count: Int { storage.count }

    /// The elements in row-major order.
    public var scalars: [Float] {
        Array(UnsafeBufferPointer(start: storage.base, count: storage.count))
    }

    /// The single element of a tensor with one element.
    public var scalar: Float {
        precondition(count == 1, "scalar needs a tensor with one element; this one has shape \(shape)")
        return storage.base[0]
    }

    /// Whether this tensor takes part in gradient recording.
    public var isTrackingGradients: Bool { gradientNode != nil }

    /// Whether the two tensors hold the very same elements in memory, not equal copies: while a
    /// caller keeps a tensor, a write to another that shares its storage copies first (copy on
    /// write), so a kept tensor that still shares storage with a current value proves that value
    /// unchanged since (what values computed from parameters are cached on).
    @_spi(Engine) public func sharesStorage(with other: Tensor) -> Bool { storage === other.storage }

    /// Calls `body` with the elements, read-only.
    public func withUnsafeBufferPointer<Result>(
        _ body: (UnsafeBufferPointer<Float>) throws -> Result
    ) rethrows -> Result {
        try body(UnsafeBufferPointer(start: storage.base, count: storage.count))
    }

    /// Calls `body` with the elements for writing, copying shared storage first.
    ///
    /// Writing detaches the tensor from gradient recording.
    public mutating func withUnsafeMutableBufferPointer<Result>(
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> Result
    ) rethrows -> Result {
        if !isKnownUniquelyReferenced(&storage) {
            storage = storage.copy()
        } else {
            storage.makePlainExclusive()
        }
        gradientNode = nil
        return try body(UnsafeMutableBufferPointer(start: storage.base, count: storage.count))
    }

    /// Normalizes a possibly negative axis (`-1` is the last) and checks it.
    func axisIndex(_ axis: Int, function: String = #function) -> Int {
        let resolved = axis < 0 ? axis + rank : axis
        precondition(
            resolved >= 0 && resolved < rank,
            "\(function): axis \(axis) is out of range for a tensor of rank \(rank) (shape \(shape))")
        return resolved
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let shown = scalars.prefix(16).map { String($0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(shown)\(count > 16 ? ", ..." : "")])"
    }
}

/// Products of dimensions before, at and after an axis: the `(outer, extent, inner)` view
/// that most axis-wise kernels loop over.
func splitAround(_ shape: [Int], axis: Int) -> (outer: Int, extent: Int, inner: Int) {
    let outer = shape[..<axis].reduce(1, *)
    let inner = shape[(axis + 1)...].reduce(1, *)
    return (outer, shape[axis], inner)
}

/// Row-major strides of a shape.
func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var running = 1
    for axis in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[axis] = running
        running *= shape[axis]
    }
    return strides
}
