import CDNNL
import Foundation

/// A memory format Loupe asks oneDNN for, for a primitive's activations.
enum ActivationFormat: Hashable, CustomStringConvertible {
    /// nChw`w`c (see ``ChannelBlocking``).
    case blocked(width: Int)
    /// NHWC.
    case channelsLast
    /// NCHW, row-major.
    case plain
    /// Whatever oneDNN's best implementation for the shape wants.
    case chosenByOneDNN

    var tag: dnnl_format_tag_t {
        switch self {
        case .blocked(let width): ChannelBlocking.tag(width: width)
        case .channelsLast: dnnl_acdb
        case .plain: dnnl_abcd
        case .chosenByOneDNN: dnnl_format_tag_any
        }
    }

    var description: String {
        switch self {
        case .blocked(let width): "nChw\(width)c"
        case .channelsLast: "nhwc"
        case .plain: "nchw"
        case .chosenByOneDNN: "any"
        }
    }

    /// The formats to try for a primitive's activations, best first: `preferred`, then the host's
    /// blocked layout where `channelsFillBlocks`, then channels-last, then plain.
    static func candidates(preferring preferred: ActivationFormat, channelsFillBlocks: Bool) -> [ActivationFormat] {
        let blocked = channelsFillBlocks ? ChannelBlocking.host.map { [ActivationFormat.blocked(width: $0)] } ?? [] : []
        var seen = Set<ActivationFormat>()
        return ([preferred] + blocked + [.channelsLast, .plain]).filter { seen.insert($0).inserted }
    }
}

/// The rule that a primitive never runs on oneDNN's reference kernels where another exists.
///
/// oneDNN answers a descriptor with its reference implementation when no optimized kernel takes
/// the formats asked for (a 16-channel block on an AVX2 host, a blocked backward on SSE4.1):
/// correct, but thousands of times slower. So each primitive is described in a list of formats,
/// best first, and the first whose implementation is not a reference one is taken.
enum KernelChoice {
    /// oneDNN's name for the implementation behind `descriptor` (`jit:avx2`, `ref:any`, ...).
    static func implementation(_ descriptor: dnnl_primitive_desc_t) -> String {
        var name: UnsafePointer<CChar>?
        guard dnnl_primitive_desc_query(descriptor, dnnl_query_impl_info_str, 0, &name) == dnnl_success,
            let name
        else { return "unknown" }
        return String(cString: name)
    }

    static func isReference(_ descriptor: dnnl_primitive_desc_t) -> Bool {
        implementation(descriptor).hasPrefix("ref")
    }

    /// The descriptor for the first of `formats` that oneDNN implements with a kernel other than
    /// its reference one; `nil` when it implements none of them at all.
    ///
    /// When every format gets only the reference kernel, that one is returned, and reported once
    /// under `LOUPE_VERBOSE=1`: such a descriptor belongs on the list of known ones, which Loupe
    /// runs on its own kernels (``DNNL/referenceOnlyReason(_:)``).
    static func firstOptimized(
        _ formats: [ActivationFormat], for what: String,
        _ describe: (ActivationFormat) -> dnnl_primitive_desc_t?
    ) -> dnnl_primitive_desc_t? {
        var reference: dnnl_primitive_desc_t?
        for format in formats {
            guard let descriptor = describe(format) else { continue }
            if !isReference(descriptor) {
                if let reference { dnnl_primitive_desc_destroy(reference) }
                if format != formats[0] {
                    report(
                        "\(what): \(formats[0]) has only oneDNN's reference kernel here; using \(format) (\(implementation(descriptor)))"
                    )
                }
                return descriptor
            }
            if reference == nil { reference = descriptor } else { dnnl_primitive_desc_destroy(descriptor) }
        }
        if reference != nil {
            report(
                "\(what): oneDNN has only its reference kernel in every format (\(formats.map(\.description).joined(separator: ", ")))"
            )
        }
        return reference
    }

    private static let verbose = ProcessInfo.processInfo.environment["LOUPE_VERBOSE"].map { $0 != "" && $0 != "0" } ?? false
    nonisolated(unsafe) private static var reported: Set<String> = []
    private static let reportLock = NSLock()

    /// Writes `message` to standard error once per process, under `LOUPE_VERBOSE=1`.
    static func report(_ message: String) {
        guard verbose else { return }
        reportLock.lock()
        defer { reportLock.unlock() }
        guard reported.insert(message).inserted else { return }
        FileHandle.standardError.write(Data("loupe: \(message)\n".utf8))
    }

    /// Whether oneDNN has Winograd convolution kernels on this host (it has them for AVX-512
    /// only): where it has none, no Winograd-specific choice (the input gradient run as a forward
    /// convolution, the per-shape weight copies) is made.
    static let hasWinograd = withTypicalConvolution(dnnl_convolution_winograd, dnnl_forward_inference) { descriptor in
        descriptor.map { !isReference($0) } ?? false
    }

    /// Runs `body` on the primitive descriptor oneDNN makes, formats left to it, for a 3×3
    /// convolution of 64 channels at 56×56 (the middle of a typical classifier), or on `nil` when
    /// it has no implementation: what the host's kernels are read from.
    static func withTypicalConvolution<Result>(
        _ algorithm: dnnl_alg_kind_t, _ kind: dnnl_prop_kind_t,
        _ body: (dnnl_primitive_desc_t?) -> Result
    ) -> Result {
        let activations = memoryDescriptor([1, 64, 56, 56], dnnl_format_tag_any)
        let weight = memoryDescriptor([64, 64, 3, 3], dnnl_format_tag_any)
        var descriptor: dnnl_primitive_desc_t?
        if loupe_convolution_pd_create(
            &descriptor, DNNLContext.shared.engine, kind, algorithm, activations.handle,
            weight.handle, nil, activations.handle, [1, 1], [0, 0], [1, 1], [1, 1],
            nil, nil) != dnnl_success
        {
            descriptor = nil
        }
        defer { if let descriptor { dnnl_primitive_desc_destroy(descriptor) } }
        return body(descriptor)
    }
}
