#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
@_spi(Engine) public func releaseIdleMemory() {
    BufferPool.shared.drain()
}
