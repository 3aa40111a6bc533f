/// A 64-byte aligned, uniquely owned buffer of `Float`s behind a ``Tensor``.
///
/// The alignment lets oneDNN and vectorized loops use aligned loads.
final class TensorStorage: @unchecked Sendable {
    let count: Int
    let base: UnsafeMutablePointer<Float>

    init(count: Int) {
        precondition(count >= 0, "Tensor storage cannot hold \(count) values")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: Swift.max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: Swift.max(count, 1))
    }

    /// Storage holding `count` copies of `value`.
    convenience init(count: Int, repeating value: Float) {
        self.init(count: count)
        base.initialize(repeating: value, count: count)
    }

    func copy() -> TensorStorage {
        let copy = TensorStorage(count: count)
        copy.base.update(from: base, count: count)
        return copy
    }

    deinit {
        UnsafeMutableRawPointer(base).deallocate()
    }
}
