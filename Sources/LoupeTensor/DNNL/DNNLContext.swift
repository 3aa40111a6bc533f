import CDNNL
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Every call into oneDNN lives in this folder, behind `DNNL.convolution*`, `DNNL.maxPooling*` and
// `DNNL.sgemm`. It builds against oneDNN 2.x and 3.x alike: where their APIs differ it calls the
// `loupe_` functions of Sources/CDNNL/shim.h, which pick the generation from `dnnl_version.h`.

/// The process-wide oneDNN CPU engine and stream, and a cache of built primitives.
final class DNNLContext: @unchecked Sendable {
    static let shared = DNNLContext()

    let engine: dnnl_engine_t
    let stream: dnnl_stream_t
    private var mutex = pthread_mutex_t()
    private var convolutions: [ConvolutionGeometry: ConvolutionPrimitives] = [:]
    private var poolings: [PoolingGeometry: PoolingPrimitives] = [:]
    private var reorders: [ReorderKey: dnnl_primitive_t] = [:]

    private struct ReorderKey: Hashable {
        let from: MemoryFormat, to: MemoryFormat
    }

    private init() {
        var engine: dnnl_engine_t?
        checkDNNL(dnnl_engine_create(&engine, dnnl_cpu, 0), "creating the CPU engine")
        var stream: dnnl_stream_t?
        checkDNNL(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "creating a stream")
        self.engine = engine!
        self.stream = stream!
        pthread_mutex_init(&mutex, nil)
    }

    /// Address space reserved for scratch memory, its pages faulted in on first use only.
    private lazy var scratchReservation: (pointer: UnsafeMutableRawPointer, byteCount: Int)? = {
        let byteCount = physicalMemoryBytes
        let pointer = mmap(nil, byteCount, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
        guard let pointer, pointer != MAP_FAILED else { return nil }
        return (pointer, byteCount)
    }()
    private var scratch: (pointer: UnsafeMutableRawPointer, byteCount: Int)?

    /// Scratch memory of at least `byteCount` bytes for one primitive execution (caller holds
    /// the lock). One buffer serves every primitive, since executions are serialized, and it
    /// only grows: it is the start of an address range reserved once, so growing it faults in
    /// only the new pages. (Reallocating at each growth faulted the whole buffer in again, and a
    /// cold occlusion run grows it many times.)
    func scratchpad(byteCount: Int) -> UnsafeMutableRawPointer {
        if let scratch, scratch.byteCount >= byteCount { return scratch.pointer }
        if let scratchReservation, byteCount <= scratchReservation.byteCount {
            scratch = (scratchReservation.pointer, scratchReservation.byteCount)
            return scratchReservation.pointer
        }
        // No reservation (the system refused one) or a request beyond it: a buffer of its own.
        if let scratch, scratch.pointer != scratchReservation?.pointer { scratch.pointer.deallocate() }
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(byteCount, 64), alignment: 64)
        scratch = (pointer, byteCount)
        return pointer
    }

    /// Runs `body` holding the context's lock; oneDNN execution on the one stream is serialized.
    func locked<Result>(_ body: () -> Result) -> Result {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body()
    }

    /// The primitives for a convolution geometry, built on first use (caller holds the lock).
    func convolutionPrimitives(for geometry: ConvolutionGeometry) -> ConvolutionPrimitives {
        if let cached = convolutions[geometry] { return cached }
        let built = ConvolutionPrimitives(geometry: geometry, engine: engine)
        convolutions[geometry] = built
        return built
    }

    /// Copies values between two formats of the same dimensions (caller holds the lock); the
    /// reorder primitive is built once per pair of formats.
    func reorder(
        from source: MemoryFormat, _ sourceBuffer: UnsafeMutableRawPointer,
        to destination: MemoryFormat, _ destinationBuffer: UnsafeMutableRawPointer
    ) {
        let key = ReorderKey(from: source, to: destination)
        let primitive: dnnl_primitive_t
        if let cached = reorders[key] {
            primitive = cached
        } else {
            var descriptor: dnnl_primitive_desc_t?
            checkDNNL(loupe_reorder_pd_create(&descriptor, source.handle, destination.handle, engine), "describing a reorder")
            var created: dnnl_primitive_t?
            checkDNNL(dnnl_primitive_create(&created, descriptor), "creating a reorder")
            dnnl_primitive_desc_destroy(descriptor)
            primitive = created!
            reorders[key] = primitive
        }
        execute(primitive, [(DNNL_ARG_FROM, sourceBuffer, source), (DNNL_ARG_TO, destinationBuffer, destination)])
    }

    /// The primitives for a pooling geometry, built on first use (caller holds the lock).
    func poolingPrimitives(for geometry: PoolingGeometry) -> PoolingPrimitives {
        if let cached = poolings[geometry] { return cached }
        let built = PoolingPrimitives(geometry: geometry, engine: engine)
        poolings[geometry] = built
        return built
    }

    /// Executes `primitive` with `arguments` (oneDNN argument index, buffer, memory descriptor)
    /// and waits for it (caller holds the lock).
    func execute(
        _ primitive: dnnl_primitive_t,
        _ arguments: [(Int32, UnsafeMutableRawPointer, MemoryFormat)]
    ) {
        var memories: [dnnl_memory_t] = []
        defer { memories.forEach { dnnl_memory_destroy($0) } }
        var executionArguments: [dnnl_exec_arg_t] = []
        for (index, buffer, format) in arguments {
            var memory: dnnl_memory_t?
            checkDNNL(loupe_memory_create(&memory, format.handle, engine, buffer), "creating a memory object")
            memories.append(memory!)
            executionArguments.append(dnnl_exec_arg_t(arg: index, memory: memory))
        }
        checkDNNL(
            dnnl_primitive_execute(primitive, stream, Int32(executionArguments.count), executionArguments),
            "executing a primitive")
        checkDNNL(dnnl_stream_wait(stream), "waiting for the stream")
    }
}

/// Stops with a message naming the failed oneDNN call; these indicate a bug in Loupe or an
/// unusable oneDNN installation, not bad user input (shapes are checked before any call).
func checkDNNL(_ status: dnnl_status_t, _ action: String) {
    guard status == dnnl_success else {
        fatalError("oneDNN failed while \(action) (status \(status.rawValue))")
    }
}
