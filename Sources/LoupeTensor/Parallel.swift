#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch

/// The number of worker threads elementwise kernels split large loops across.
let workerCount = Swift.max(1, System.activeProcessorCount)

enum System {
    static var activeProcessorCount: Int {
        #if canImport(Glibc) || canImport(Darwin)
        return Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        #else
        return 1
        #endif
    }
}

/// Calls `body` on consecutive ranges covering `0..<count`, in parallel when `count` is large.
///
/// - Parameters:
///   - count: the number of items.
///   - grain: the fewest items worth handing to one thread.
///   - body: receives a half-open range of item indices; ranges never overlap.
@inline(__always)
func parallelRanges(_ count: Int, grain: Int = 32_768, _ body: (Range<Int>) -> Void) {
    let chunks = Swift.min(workerCount, count / Swift.max(grain, 1))
    if chunks <= 1 {
        if count > 0 { body(0..<count) }
        return
    }
    withoutActuallyEscaping(body) { body in
        guard let openMP = OpenMP.runtime else {
            let box = UnsafeSendable(body)
            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                box.value((count * chunk / chunks)..<(count * (chunk + 1) / chunks))
            }
            return
        }
        var job = UnsafeSendable((count: count, body: body, openMP: openMP))
        withUnsafeMutablePointer(to: &job) { pointer in
            openMP.parallel(
                { raw in
                    let job = raw!.assumingMemoryBound(
                        to: UnsafeSendable<(count: Int, body: (Range<Int>) -> Void, openMP: OpenMP)>.self
                    )
                    .pointee.value
                    let (thread, threads) = (Int(job.openMP.threadNumber()), Int(job.openMP.threadCount()))
                    let start = job.count * thread / threads, end = job.count * (thread + 1) / threads
                    if start < end { job.body(start..<end) }
                }, pointer, UInt32(chunks), 0)
        }
    }
}

/// The OpenMP runtime oneDNN runs its kernels on, when it is one that exports libgomp's entry
/// points (GNU libgomp; LLVM's libomp exports them too), found in the running process.
///
/// Loupe's own loops run on the same threads as a parallel region (what `#pragma omp parallel`
/// compiles to). On a second pool of threads (Dispatch) they competed for the cores with the
/// OpenMP workers, which spin for a while after each oneDNN call: libgomp was 25% of a resnet50
/// forward profile that way.
struct OpenMP: @unchecked Sendable {
    typealias Region = @convention(c) (UnsafeMutableRawPointer?) -> Void
    let parallel: @convention(c) (Region, UnsafeMutableRawPointer?, UInt32, UInt32) -> Void
    let threadNumber: @convention(c) () -> Int32
    let threadCount: @convention(c) () -> Int32

    static let runtime: OpenMP? = {
        #if canImport(Glibc)
        let everywhere: UnsafeMutableRawPointer? = nil  // RTLD_DEFAULT
        #else
        let everywhere = UnsafeMutableRawPointer(bitPattern: -2)  // RTLD_DEFAULT
        #endif
        guard let parallel = dlsym(everywhere, "GOMP_parallel"), let number = dlsym(everywhere, "omp_get_thread_num"),
            let count = dlsym(everywhere, "omp_get_num_threads")
        else { return nil }
        return OpenMP(
            parallel: unsafeBitCast(
                parallel, to: (@convention(c) (Region, UnsafeMutableRawPointer?, UInt32, UInt32) -> Void).self),
            threadNumber: unsafeBitCast(number, to: (@convention(c) () -> Int32).self),
            threadCount: unsafeBitCast(count, to: (@convention(c) () -> Int32).self))
    }()
}

/// Wraps a value that is shared across worker threads whose writes never overlap.
struct UnsafeSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
