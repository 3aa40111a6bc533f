import CAtomics
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The 64-byte aligned, uniquely owned values behind a ``Tensor``.
///
/// The values are row-major (plain) as the tensor's shape says, except that an activation a
/// oneDNN primitive wrote in its own layout (such as ``ChannelBlocking``'s) stays in that layout, its ``native``
/// buffer, until code asks for ``base``: the plain buffer is then made from it once. Between
/// layers run by oneDNN, and through the elementwise ops (which are blind to element order), the
/// values never leave the blocked layout. Copies in other formats (a weight reordered for a
/// primitive) are kept until the values change or die.
///
/// Large buffers come from and return to ``BufferPool``, so repeated passes over a network reuse
/// memory instead of faulting in fresh pages each time.
final class TensorStorage: @unchecked Sendable {
    let count: Int
    /// The values in a oneDNN layout with no padding (`byteCount == count · 4`), when a primitive
    /// wrote them so. Set at creation; cleared only by ``makePlainExclusive()``.
    private(set) var native: FormattedBuffer?
    /// Holds the plain buffer's address once it exists (read and set atomically: a tensor may
    /// be read by several threads, and the first read makes the buffer).
    let plainSlot: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    /// Copies of these values in other formats, keyed by format; touched only under
    /// ``DNNLContext``'s lock.
    var formattedCopies: [MemoryFormat: FormattedBuffer] = [:]
    /// Values computed from these (a convolution weight flipped for the input gradient), by
    /// name, kept until these values change or die; touched only under ``DNNLContext``'s lock.
    var derivedValues: [String: TensorStorage] = [:]
    /// Convolution shapes these values (a weight) have run at with Winograd inference kernels,
    /// which keep a copy per shape; touched only under ``DNNLContext``'s lock.
    var inferenceShapes: Set<ConvolutionGeometry> = []

    var plainByteCount: Int { Swift.max(count, 1) * MemoryLayout<Float>.stride }

    init(count: Int) {
        precondition(count >= 0, "Tensor storage cannot hold \(count) values")
        self.count = count
        plainSlot = .allocate(capacity: 1)
        plainSlot.initialize(to: BufferPool.shared.allocate(byteCount: plainByteCount))
    }

    /// Storage whose values will be written in `native`'s format (which must have no padding).
    init(count: Int, native: FormattedBuffer) {
        precondition(
            native.byteCount == count * MemoryLayout<Float>.stride,
            "A native layout must hold exactly \(count) values; it has \(native.byteCount) bytes")
        self.count = count
        self.native = native
        plainSlot = .allocate(capacity: 1)
        plainSlot.initialize(to: nil)
    }

    /// Storage holding `count` copies of `value`.
    convenience init(count: Int, repeating value: Float) {
        self.init(count: count)
        base.initialize(repeating: value, count: count)
    }

    /// Storage for the result of an elementwise op on values laid out as `layout` (`nil`: plain).
    convenience init(count: Int, layout: FormattedBuffer?) {
        if let layout {
            self.init(count: count, native: FormattedBuffer(allocating: layout.format))
        } else {
            self.init(count: count)
        }
    }

    /// The values, row-major; made from the native layout on first use.
    var base: UnsafeMutablePointer<Float> {
        if let plain = loupe_atomic_load_pointer(plainSlot) { return plain.assumingMemoryBound(to: Float.self) }
        return DNNLContext.shared.locked { plainWhileLocked() }
    }

    /// The buffer elementwise kernels run over: the native one when there is one (element order
    /// does not matter to them), else the plain values. A result created with
    /// ``init(count:layout:)`` is written through it.
    var elementwiseBase: UnsafeMutablePointer<Float> {
        native.map { $0.pointer.assumingMemoryBound(to: Float.self) } ?? base
    }

    /// Makes the plain buffer the only one, before the values are written in place (the caller
    /// holds the only reference).
    func makePlainExclusive() {
        guard native != nil || !formattedCopies.isEmpty || !derivedValues.isEmpty || !inferenceShapes.isEmpty else { return }
        DNNLContext.shared.locked {
            _ = plainWhileLocked()
            derivedValues = [:]
            inferenceShapes = []
            native?.release()
            native = nil
            formattedCopies.values.forEach { $0.release() }
            formattedCopies = [:]
        }
    }

    func copy() -> TensorStorage {
        let copy = TensorStorage(count: count)
        copy.base.update(from: base, count: count)
        return copy
    }

    deinit {
        native?.release()
        formattedCopies.values.forEach { $0.release() }
        if let plain = plainSlot.pointee { BufferPool.shared.release(plain, byteCount: plainByteCount) }
        plainSlot.deallocate()
    }
}
