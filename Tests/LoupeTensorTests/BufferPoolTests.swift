@_spi(Testing) import LoupeTensor
import Testing

/// The pool that keeps freed tensor buffers for reuse (a pool of the test's own, so that other
/// tests' tensors do not take its buffers).
@Suite("Buffer pool")
struct BufferPoolTests {
    @Test func aFreedBufferServesItsOwnSizeClassAndTheOneBelow() {
        let pool = BufferPool()
        let size = 4 << 20  // a size class: 4 MiB
        let buffer = pool.allocate(byteCount: size)
        pool.release(buffer, byteCount: size)
        #expect(pool.allocate(byteCount: size - 1000) == buffer, "the same size class")
        pool.release(buffer, byteCount: size - 1000)

        let below = size - size / 8  // the class just below: 3.5 MiB
        #expect(pool.sizeClass(below) == below && pool.sizeClass(below + 1) == size)
        #expect(pool.allocate(byteCount: below) == buffer, "lent to the next class down")
        pool.release(buffer, byteCount: below)
        // Back in its own class: a full-size request gets it again.
        #expect(pool.allocate(byteCount: size) == buffer)
        pool.release(buffer, byteCount: size)

        let muchSmaller = pool.allocate(byteCount: size / 2)
        #expect(muchSmaller != buffer, "not lent to a request under 80% of its size")
        pool.release(muchSmaller, byteCount: size / 2)
        pool.drain()
    }
}
