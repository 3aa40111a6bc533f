import CAtomics
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Values in one oneDNN memory format: a buffer, its format and its size.
struct FormattedBuffer {
    let format: MemoryFormat
    let pointer: UnsafeMutableRawPointer
    var byteCount: Int { format.byteCount }

    /// A new pooled buffer for values in `format`.
    init(allocating format: MemoryFormat) {
        self.format = format
        pointer = BufferPool.shared.allocate(byteCount: Swift.max(format.byteCount, 64))
    }

    func release() {
        BufferPool.shared.release(pointer, byteCount: Swift.max(byteCount, 64))
    }
}

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
    private let plainSlot: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    /// Copies of these values in other formats, keyed by format; touched only under
    /// ``DNNLContext``'s lock.
    private var formattedCopies: [MemoryFormat: FormattedBuffer] = [:]
    /// Values computed from these (a convolution weight flipped for the input gradient), by
    /// name, kept until these values change or die; touched only under ``DNNLContext``'s lock.
    private var derivedValues: [String: TensorStorage] = [:]
    /// Convolution shapes these values (a weight) have run at with Winograd inference kernels,
    /// which keep a copy per shape; touched only under ``DNNLContext``'s lock.
    private var inferenceShapes: Set<ConvolutionGeometry> = []

    private var plainByteCount: Int { Swift.max(count, 1) * MemoryLayout<Float>.stride }

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

    /// ``base`` for a caller that holds ``DNNLContext``'s lock.
    func plainWhileLocked() -> UnsafeMutablePointer<Float> {
        if let plain = loupe_atomic_load_pointer(plainSlot) { return plain.assumingMemoryBound(to: Float.self) }
        let plain = BufferPool.shared.allocate(byteCount: plainByteCount)
        let native = native!
        DNNLContext.shared.reorder(from: native.format, native.pointer, to: plainDescriptor(native.format.dimensions), plain)
        loupe_atomic_store_pointer(plainSlot, plain)
        return plain.assumingMemoryBound(to: Float.self)
    }

    /// The values in `format`, or `nil` when no buffer holds them so yet (caller holds
    /// ``DNNLContext``'s lock).
    func existingBuffer(in format: MemoryFormat) -> UnsafeMutableRawPointer? {
        if let native, native.format == format { return native.pointer }
        return formattedCopies[format]?.pointer
    }

    /// The copy of these values in `format`, made by a reorder from the plain values the first
    /// time and kept (caller holds ``DNNLContext``'s lock).
    func formattedCopy(in format: MemoryFormat) -> UnsafeMutableRawPointer {
        if let existing = existingBuffer(in: format) { return existing }
        let copy = FormattedBuffer(allocating: format)
        DNNLContext.shared.reorder(from: plainDescriptor(format.dimensions), plainWhileLocked(), to: format, copy.pointer)
        formattedCopies[format] = copy
        return copy.pointer
    }

    /// The buffer elementwise kernels run over: the native one when there is one (element order
    /// does not matter to them), else the plain values. A result created with
    /// ``init(count:layout:)`` is written through it.
    var elementwiseBase: UnsafeMutablePointer<Float> {
        native.map { $0.pointer.assumingMemoryBound(to: Float.self) } ?? base
    }

    /// The values in `layout` (a native layout of some storage of the same shape), for an
    /// elementwise kernel: this storage's own native buffer, or a copy kept with it.
    func elementwiseBuffer(in layout: FormattedBuffer) -> UnsafeMutablePointer<Float> {
        if let native, native.format == layout.format { return native.pointer.assumingMemoryBound(to: Float.self) }
        return DNNLContext.shared.locked { formattedCopy(in: layout.format).assumingMemoryBound(to: Float.self) }
    }

    /// The values named `name` computed from these by `make` the first time, then kept. When
    /// `family` is given, making them drops the kept values whose names start with it (one
    /// folded weight per weight, whatever scales came before).
    func derived(_ name: String, family: String? = nil, make: () -> TensorStorage) -> TensorStorage {
        if let kept = DNNLContext.shared.locked({ derivedValues[name] }) { return kept }
        let made = make()
        return DNNLContext.shared.locked {
            if let kept = derivedValues[name] { return kept }  // another thread was first
            if let family { derivedValues = derivedValues.filter { !$0.key.hasPrefix(family) } }
            derivedValues[name] = made
            return made
        }
    }

    /// Records that these values (a weight) run at `geometry`, and says whether they had before
    /// (caller holds ``DNNLContext``'s lock).
    func recordInferenceShape(_ geometry: ConvolutionGeometry) -> Bool {
        !inferenceShapes.insert(geometry).inserted
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

/// The machine's memory in bytes (4 GiB when unknown).
var physicalMemoryBytes: Int {
    let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
    return pages > 0 && pageSize > 0 ? pages * pageSize : 4 << 30
}

/// Keeps freed large buffers for reuse by size class, up to a byte budget.
///
/// Tensors of the same shapes recur on every pass through a model; handing back a buffer that
/// is already mapped saves the kernel's page faults and zeroing, which cost as much as a
/// memory-bound kernel itself.
@_spi(Testing) public final class BufferPool: @unchecked Sendable {
    static let shared = BufferPool()

    /// Buffers smaller than this go straight to the allocator.
    let minimumPooledBytes = 256 * 1024
    /// The most bytes kept idle in the pool: a sixth of the machine's memory, at most 8 GiB. It
    /// must hold the buffers one large pass frees (a batch-16 gradient pass over vgg16 frees and
    /// allocates gigabytes): a pool too small to hold them hands out fresh pages whose zeroing
    /// costs as much as the kernels, at the same peak memory.
    let budgetBytes = Swift.min(8 << 30, physicalMemoryBytes / 6)

    private var mutex = pthread_mutex_t()
    private var idle: [Int: [UnsafeMutableRawPointer]] = [:]
    private var idleBytes = 0
    /// Buffers handed out for a smaller size class than their own, with their own.
    private var lentLarger: [UnsafeMutableRawPointer: Int] = [:]

    /// A pool of its own (tests); Loupe's tensors use ``shared``.
    public init() {
        pthread_mutex_init(&mutex, nil)
    }

    /// The size a pooled buffer of `byteCount` bytes really has: rounded up to a quarter of
    /// the power of two below it (at most 25% more), so a buffer freed by one shape serves
    /// requests of nearby sizes too, and the pool holds few distinct sizes.
    public func sizeClass(_ byteCount: Int) -> Int {
        guard byteCount >= minimumPooledBytes else { return byteCount }
        let step = 1 << (Int.bitWidth - 1 - byteCount.leadingZeroBitCount - 2)
        return (byteCount + step - 1) / step * step
    }

    public func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        let size = sizeClass(byteCount)
        if size >= minimumPooledBytes {
            pthread_mutex_lock(&mutex)
            // The request's own size class, else the next one up (at most 25% larger), lent and
            // recorded so that it returns to its own class. Shapes that vary a little (occlusion's
            // crops, a shorter last pass) reuse mapped memory instead of faulting in fresh pages,
            // which lowers occlusion's and IG's peaks. Lending buffers up to 1.5 or 2 times
            // larger lost on fixed passes: a large buffer lent to a small request made the next
            // large one fresh, raising the peak.
            var reusedSize = idle[size]?.isEmpty == false ? size : nil
            if reusedSize == nil {
                reusedSize = idle.keys.filter { $0 > size && 4 * $0 <= 5 * size && idle[$0]?.isEmpty == false }.min()
            }
            let reused = reusedSize.flatMap { idle[$0]?.popLast() }
            if let reused, let reusedSize {
                idleBytes -= reusedSize
                if reusedSize != size { lentLarger[reused] = reusedSize }
            }
            pthread_mutex_unlock(&mutex)
            if let reused { return reused }
        }
        return UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    }

    /// Takes back a buffer from ``allocate(byteCount:)``, given the same `byteCount`.
    public func release(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        var size = sizeClass(byteCount)
        if size >= minimumPooledBytes {
            pthread_mutex_lock(&mutex)
            if let actual = lentLarger.removeValue(forKey: pointer) { size = actual }
            let kept = idleBytes + size <= budgetBytes
            if kept {
                idle[size, default: []].append(pointer)
                idleBytes += size
            }
            pthread_mutex_unlock(&mutex)
            if kept { return }
        }
        pointer.deallocate()
    }

    /// Returns every idle buffer to the system allocator.
    public func drain() {
        pthread_mutex_lock(&mutex)
        let buffers = idle.values.flatMap { $0 }
        idle = [:]
        idleBytes = 0
        pthread_mutex_unlock(&mutex)
        buffers.forEach { $0.deallocate() }
    }
}

/// Hands the memory of freed tensors that Loupe keeps for reuse back to the system.
///
/// Call it after a burst of allocations that will not recur, such as building a model and
/// replacing its initial weights with loaded ones: otherwise the discarded weights stay resident
/// as idle buffers of sizes later passes may never ask for.
public func releaseIdleMemory() {
    BufferPool.shared.drain()
}
