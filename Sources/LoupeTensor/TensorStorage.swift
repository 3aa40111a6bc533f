#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A 64-byte aligned, uniquely owned buffer of `Float`s behind a ``Tensor``.
///
/// The alignment lets oneDNN and vectorized loops use aligned loads. Large buffers come from
/// and return to ``BufferPool``, so repeated passes over a network reuse memory instead of
/// faulting in fresh pages each time.
final class TensorStorage: @unchecked Sendable {
    let count: Int
    let base: UnsafeMutablePointer<Float>
    /// Copies of these values in other memory formats (a weight reordered into the blocked layout
    /// a oneDNN primitive chose), keyed by format, kept until the values change or die.
    /// Only touched under ``DNNLContext``'s lock.
    private var formattedCopies: [FormatKey: UnsafeMutableRawPointer] = [:]

    init(count: Int) {
        precondition(count >= 0, "Tensor storage cannot hold \(count) values")
        self.count = count
        base = BufferPool.shared.allocate(byteCount: Swift.max(count, 1) * MemoryLayout<Float>.stride)
            .bindMemory(to: Float.self, capacity: Swift.max(count, 1))
    }

    /// Storage holding `count` copies of `value`.
    convenience init(count: Int, repeating value: Float) {
        self.init(count: count)
        base.initialize(repeating: value, count: count)
    }

    /// The copy of these values in `format` (`byteCount` bytes), made by `make` the first time
    /// (caller holds ``DNNLContext``'s lock).
    func formattedCopy(in format: FormatKey, byteCount: Int,
                       make: (UnsafeMutableRawPointer) -> Void) -> UnsafeMutableRawPointer {
        if let kept = formattedCopies[format] { return kept }
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
        make(pointer)
        formattedCopies[format] = pointer
        return pointer
    }

    /// Drops the formatted copies; called before the values are written in place.
    func discardFormattedCopies() {
        guard !formattedCopies.isEmpty else { return }
        DNNLContext.shared.locked {
            formattedCopies.values.forEach { $0.deallocate() }
            formattedCopies = [:]
        }
    }

    func copy() -> TensorStorage {
        let copy = TensorStorage(count: count)
        copy.base.update(from: base, count: count)
        return copy
    }

    deinit {
        formattedCopies.values.forEach { $0.deallocate() }
        BufferPool.shared.release(UnsafeMutableRawPointer(base),
                                  byteCount: Swift.max(count, 1) * MemoryLayout<Float>.stride)
    }
}

/// Keeps freed large buffers for reuse by exact size, up to a byte budget.
///
/// Tensors of the same shapes recur on every pass through a model; handing back a buffer that
/// is already mapped saves the kernel's page faults and zeroing, which cost as much as a
/// memory-bound kernel itself.
final class BufferPool: @unchecked Sendable {
    static let shared = BufferPool()

    /// Buffers smaller than this go straight to the allocator.
    let minimumPooledBytes = 256 * 1024
    /// The most bytes kept idle in the pool.
    let budgetBytes = 1 << 30

    private var mutex = pthread_mutex_t()
    private var idle: [Int: [UnsafeMutableRawPointer]] = [:]
    private var idleBytes = 0

    private init() {
        pthread_mutex_init(&mutex, nil)
    }

    func allocate(byteCount: Int) -> UnsafeMutableRawPointer {
        if byteCount >= minimumPooledBytes {
            pthread_mutex_lock(&mutex)
            let reused = idle[byteCount]?.popLast()
            if reused != nil { idleBytes -= byteCount }
            pthread_mutex_unlock(&mutex)
            if let reused { return reused }
        }
        return UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
    }

    func release(_ pointer: UnsafeMutableRawPointer, byteCount: Int) {
        if byteCount >= minimumPooledBytes {
            pthread_mutex_lock(&mutex)
            let kept = idleBytes + byteCount <= budgetBytes
            if kept {
                idle[byteCount, default: []].append(pointer)
                idleBytes += byteCount
            }
            pthread_mutex_unlock(&mutex)
            if kept { return }
        }
        pointer.deallocate()
    }

    /// Returns every idle buffer to the system allocator.
    func drain() {
        pthread_mutex_lock(&mutex)
        let buffers = idle.values.flatMap { $0 }
        idle = [:]
        idleBytes = 0
        pthread_mutex_unlock(&mutex)
        buffers.forEach { $0.deallocate() }
    }
}
