#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CDNNL
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
        #if os(Linux)
        // On the OpenMP threads oneDNN runs on (see CDNNL/shim.h).
        var job = UnsafeSendable((count: count, body: body))
        withUnsafeMutablePointer(to: &job) { pointer in
            GOMP_parallel({ raw in
                let job = raw!.assumingMemoryBound(to: UnsafeSendable<(count: Int, body: (Range<Int>) -> Void)>.self).pointee.value
                let (thread, threads) = (Int(omp_get_thread_num()), Int(omp_get_num_threads()))
                let start = job.count * thread / threads, end = job.count * (thread + 1) / threads
                if start < end { job.body(start..<end) }
            }, pointer, UInt32(chunks), 0)
        }
        #else
        let box = UnsafeSendable(body)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let start = count * chunk / chunks
            let end = count * (chunk + 1) / chunks
            box.value(start..<end)
        }
        #endif
    }
}

/// Wraps a value that is shared across worker threads whose writes never overlap.
struct UnsafeSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
