import CDNNL

/// Everything that fixes a max-pooling primitive. Padding is given per side: PyTorch's
/// `ceil_mode` adds windows that reach past the input on the right and bottom.
struct PoolingGeometry: Hashable {
    var input: [Int]  // [N, C, H, W]
    var output: [Int]  // [N, C, oH, oW]
    var kernel: [Int]
    var stride: [Int]
    var dilation: [Int]
    var paddingBefore: [Int]
    var paddingAfter: [Int]
    /// No gradient will flow back: no argmax workspace is kept.
    var inference: Bool
}

/// The forward and backward max-pooling primitives of one geometry, on the layout convolutions
/// leave their outputs in (the host's channel-blocked layout when the channels fill its blocks,
/// else plain NCHW), or the first other layout oneDNN has a kernel other than its reference one
/// for (see ``KernelChoice``).
final class PoolingPrimitives: @unchecked Sendable {
    let geometry: PoolingGeometry
    private let engine: dnnl_engine_t
    private var forwardDescriptor: dnnl_primitive_desc_t?
    private(set) lazy var forward = PlannedPrimitive(
        describe(backward: false), engine: engine,
        arguments: [
            (DNNL_ARG_SRC, dnnl_query_src_md, geometry.input, false),
            (DNNL_ARG_DST, dnnl_query_dst_md, geometry.output, true),
            (DNNL_ARG_WORKSPACE, dnnl_query_workspace_md, [], true),
        ], keepDescriptor: true)
    private(set) lazy var backward = PlannedPrimitive(
        describe(backward: true), engine: engine,
        arguments: [
            (DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, geometry.output, false),
            (DNNL_ARG_WORKSPACE, dnnl_query_workspace_md, [], false),
            (DNNL_ARG_DIFF_SRC, dnnl_query_diff_src_md, geometry.input, true),
        ])

    init(geometry: PoolingGeometry, engine: dnnl_engine_t) {
        self.geometry = geometry
        self.engine = engine
    }

    private func describe(backward: Bool) -> dnnl_primitive_desc_t {
        if !backward, let forwardDescriptor { return forwardDescriptor }
        if backward && forwardDescriptor == nil { forwardDescriptor = describe(backward: false) }
        let blocksFit = ChannelBlocking.fillsHostBlocks(geometry.input[1])
        let preferred = blocksFit ? ChannelBlocking.host.map { ActivationFormat.blocked(width: $0) } ?? .plain : .plain
        let candidates = ActivationFormat.candidates(preferring: preferred, channelsFillBlocks: blocksFit)
        let what = "max pooling \(backward ? "backward" : "forward") \(geometry)"
        guard let descriptor = KernelChoice.firstOptimized(candidates, for: what, { describe(backward: backward, format: $0) })
        else {
            fatalError("oneDNN has no max pooling for \(geometry)")
        }
        if !backward { forwardDescriptor = descriptor }
        return descriptor
    }

    private func describe(backward: Bool, format: ActivationFormat) -> dnnl_primitive_desc_t? {
        let input = memoryDescriptor(geometry.input, format.tag), output = memoryDescriptor(geometry.output, format.tag)
        let (strides, kernel) = (geometry.stride.map(Int64.init), geometry.kernel.map(Int64.init))
        let dilation = geometry.dilation.map { Int64($0 - 1) }  // oneDNN counts dilation from 0
        let (before, after) = (geometry.paddingBefore.map(Int64.init), geometry.paddingAfter.map(Int64.init))
        let kind = backward ? dnnl_backward_data : geometry.inference ? dnnl_forward_inference : dnnl_forward_training
        let hint = backward ? forwardDescriptor : nil
        return primitiveDescriptor { descriptor, attributes in
            loupe_max_pooling_pd_create(
                &descriptor, engine, kind, input.handle, output.handle, strides, kernel,
                dilation, before, after, attributes, hint)
        }
    }
}

extension DNNL {
    /// Why oneDNN runs max poolings of `geometry` on its reference kernel in every format, or
    /// `nil` for the others. Loupe runs these on a Swift kernel of its own instead
    /// (`Tensor.maxPooled2D`); this is the one list of them, and each is reported once under
    /// `LOUPE_VERBOSE=1`.
    static func referenceOnlyReason(_ geometry: PoolingGeometry) -> String? {
        let reason: String? = geometry.dilation.contains { $0 > 1 } ? "oneDNN's pooling kernels do not dilate" : nil
        if let reason { KernelChoice.report("max pooling \(geometry): \(reason); running Loupe's own kernel") }
        return reason
    }

    /// Max pooling; the workspace (each output's argmax) is returned when gradients will flow back.
    static func maxPoolingForward(
        _ geometry: PoolingGeometry, input: TensorStorage
    ) -> (output: TensorStorage, workspace: OpaqueBuffer?) {
        let context = DNNLContext.shared
        var workspace: [Int32: OpaqueBuffer] = [:]
        let output = context.locked {
            context.poolingPrimitives(for: geometry).forward
                .run(context, [DNNL_ARG_SRC: input], producing: [DNNL_ARG_DST], opaqueOutputs: &workspace)[DNNL_ARG_DST]!
        }
        return (output, workspace[DNNL_ARG_WORKSPACE])
    }

    /// The input gradient of max pooling: each output's gradient goes to its window's argmax.
    static func maxPoolingBackward(
        _ geometry: PoolingGeometry, outputGradient: TensorStorage,
        workspace: OpaqueBuffer
    ) -> TensorStorage {
        let context = DNNLContext.shared
        var unused: [Int32: OpaqueBuffer] = [:]
        return context.locked {
            context.poolingPrimitives(for: geometry).backward
                .run(
                    context, [DNNL_ARG_DIFF_DST: outputGradient], producing: [DNNL_ARG_DIFF_SRC],
                    opaqueInputs: [DNNL_ARG_WORKSPACE: workspace], opaqueOutputs: &unused)[DNNL_ARG_DIFF_SRC]!
        }
    }
}
