import CDNNL

/// Everything that fixes a convolution primitive: shapes and hyper-parameters.
struct ConvolutionGeometry: Hashable {
    var input: [Int]  // [N, C, H, W]
    var weight: [Int]  // [O, C/groups, kH, kW]
    var output: [Int]  // [N, O, oH, oW]
    var stride: [Int]
    var padding: [Int]
    var dilation: [Int]
    var groups: Int
    var hasBias: Bool
    /// No gradient will flow back: oneDNN may use its inference-only kernels. (The forward
    /// turns it off where no weight copy for one shape should be made; see
    /// `DNNL.convolutionForward`.)
    var inference: Bool
    /// The forward primitive adds the result to the destination's prior values (a residual
    /// connection: oneDNN's sum post-op).
    var accumulates = false
    /// The activation the forward primitive applies to its result (oneDNN's eltwise post-op,
    /// after the sum).
    var activation: ConvolutionActivation?

    /// The same convolution with nothing fused after it: what its backward primitives are built for.
    var unfused: ConvolutionGeometry {
        var plain = self
        plain.accumulates = false
        plain.activation = nil
        return plain
    }

    /// Whether oneDNN's Winograd kernels apply and pay: the host has them (see
    /// ``KernelChoice/hasWinograd``), and the convolution is 3×3, stride 1, undilated, ungrouped,
    /// with enough channels on both sides that the transforms are amortized.
    var suitsWinograd: Bool {
        weight[2] == 3 && weight[3] == 3 && stride == [1, 1] && dilation == [1, 1] && groups == 1
            && weight[0] >= 64 && weight[1] >= 64 && KernelChoice.hasWinograd
    }

    /// Whether the forward primitive should be Winograd's, which pays only over enough output
    /// positions (N·oH·oW). Its training kernel transforms the weights on every call, which the
    /// direct kernel beats below 784 positions (1×512×7×7, 1×256×14×14), breaks even at 784
    /// (1×128×28×28, 16×512×7×7) and loses to from 3136 (1×64×56×56). Its inference kernels take
    /// weights transformed once, kept with the weight — but in a format fixed by the whole shape,
    /// 16/9 to 4 times the weight's size: below 196 positions (resnet's 7×7 stage at batch 1)
    /// streaming that copy costs what Winograd saves, and the copy only adds memory. Work whose
    /// shapes vary runs without inference kernels at all (see ``withShapeVaryingConvolutions(_:)``).
    var forwardUsesWinograd: Bool {
        suitsWinograd && output[0] * output[2] * output[3] >= (inference ? 196 : 784)
    }

    /// The weight dimensions as oneDNN sees them: `[G, O/G, C/G, kH, kW]` when grouped.
    var dnnlWeight: [Int] {
        groups == 1 ? weight : [groups, weight[0] / groups] + weight[1...]
    }

    /// How many neighbouring groups should run as one: the smallest count whose merged group
    /// fills the host's channel blocks on both sides, for a grouped convolution whose own groups
    /// are narrower than a block (ResNeXt's 4 channels a group; RegNet's 8 where blocks are 16
    /// wide) and whose channels fill whole blocks; 1 for every other convolution.
    ///
    /// oneDNN's blocked kernels take only groups that fill blocks, and a narrower group leaves it
    /// its reference kernel in the blocked layout or a GEMM-based one in channels-last, both far
    /// slower than its blocked kernel on merged groups with the weights between different
    /// original groups set to zero, even though that multiplies by as many zeros as the merge
    /// count (see ``mergingGroups(by:)``).
    var groupMerge: Int {
        guard groups > 1, let width = ChannelBlocking.host, input[1] % width == 0, output[1] % width == 0 else { return 1 }
        let (groupInputs, groupOutputs) = (input[1] / groups, output[1] / groups)
        guard !(groupInputs == 1 && groupOutputs == 1) else { return 1 }  // depthwise: a kernel of its own
        return (1...groups).first { merge in
            groups % merge == 0 && (groupInputs * merge) % width == 0 && (groupOutputs * merge) % width == 0
        } ?? 1
    }

    /// The same convolution with every `merge` neighbouring groups as one: the weight then
    /// holds each output channel's kernels at its original group's place among the merged
    /// group's inputs, zeros elsewhere (``TensorStorage/mergingGroups(of:by:)``).
    func mergingGroups(by merge: Int) -> ConvolutionGeometry {
        var merged = self
        merged.groups /= merge
        merged.weight[1] *= merge
        return merged
    }
}

extension TensorStorage {
    /// This convolution weight (`geometry.weight`, `[O, C/G, kH, kW]`) as the weight of
    /// `geometry.mergingGroups(by: merge)`: block diagonal within each merged group.
    func mergingGroups(of geometry: ConvolutionGeometry, by merge: Int) -> TensorStorage {
        let groupOutputs = geometry.weight[0] / geometry.groups
        let kernel = geometry.weight[1...].reduce(1, *)  // C/G · kH · kW values per output channel
        let merged = TensorStorage(count: geometry.weight[0] * kernel * merge, repeating: 0)
        let (source, destination) = (base, merged.base)
        for output in 0..<geometry.weight[0] {
            let place = output / groupOutputs % merge
            (destination + (output * merge + place) * kernel).update(from: source + output * kernel, count: kernel)
        }
        return merged
    }
}

/// The forward, backward-data and backward-weights primitives of one geometry, built on first use.
///
/// Each primitive's activation format is the first of the host's blocked layout, channels-last
/// and plain that oneDNN runs on a kernel other than its reference one (``KernelChoice``); weight
/// formats are oneDNN's choice. Tensors are reordered at the call where their layout differs.
final class ConvolutionPrimitives: @unchecked Sendable {
    let geometry: ConvolutionGeometry
    private let engine: dnnl_engine_t
    private var forwardDescriptor: dnnl_primitive_desc_t?
    private(set) lazy var forward = PlannedPrimitive(
        describe(.forward), engine: engine,
        arguments: [
            (DNNL_ARG_SRC, dnnl_query_src_md, geometry.input, false),
            (DNNL_ARG_WEIGHTS, dnnl_query_weights_md, geometry.dnnlWeight, false),
            (DNNL_ARG_BIAS, dnnl_query_weights_md, [geometry.weight[0]], false),
            (DNNL_ARG_DST, dnnl_query_dst_md, geometry.output, true),
        ], keepDescriptor: true)
    private(set) lazy var backwardData = PlannedPrimitive(
        describe(.backwardData), engine: engine,
        arguments: [
            (DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, geometry.output, false),
            (DNNL_ARG_WEIGHTS, dnnl_query_weights_md, geometry.dnnlWeight, false),
            (DNNL_ARG_DIFF_SRC, dnnl_query_diff_src_md, geometry.input, true),
        ])
    private(set) lazy var backwardWeights = PlannedPrimitive(
        describe(.backwardWeights), engine: engine,
        arguments: [
            (DNNL_ARG_SRC, dnnl_query_src_md, geometry.input, false),
            (DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, geometry.output, false),
            (DNNL_ARG_DIFF_WEIGHTS, dnnl_query_diff_weights_md, geometry.dnnlWeight, true),
            (DNNL_ARG_DIFF_BIAS, dnnl_query_diff_weights_md, [geometry.weight[0]], true),
        ])

    private enum Direction { case forward, backwardData, backwardWeights }

    init(geometry: ConvolutionGeometry, engine: dnnl_engine_t) {
        self.geometry = geometry
        self.engine = engine
    }

    private var forwardPrimitiveDescriptor: dnnl_primitive_desc_t {
        forwardDescriptor ?? describe(.forward)
    }

    private func describe(_ direction: Direction) -> dnnl_primitive_desc_t {
        if direction == .forward, let forwardDescriptor { return forwardDescriptor }
        // Activations in the host's channel-blocked layout when both sides' channels fill its
        // blocks. Left to choose, oneDNN's 1×1 kernels pick channels-last, and reordering NCHW to
        // and from NHWC around every layer cost as much as the convolutions (resnet50: 55 of 254
        // ms); the blocked reorder is a few times cheaper. Both sides or neither: a 3-channel input
        // with a blocked output has only the reference backward-data kernel. Grouped convolutions
        // only when each group's channels fill whole blocks, or depthwise: other group widths
        // (regnet's 8 on AVX-512) have only the reference kernel in the blocked layout.
        let (groupInputs, groupOutputs) = (geometry.input[1] / geometry.groups, geometry.output[1] / geometry.groups)
        let blocksFit =
            ChannelBlocking.fillsHostBlocks(geometry.input[1]) && ChannelBlocking.fillsHostBlocks(geometry.output[1])
            && (geometry.groups == 1
                || (ChannelBlocking.fillsHostBlocks(groupInputs) && ChannelBlocking.fillsHostBlocks(groupOutputs))
                || (groupInputs == 1 && groupOutputs == 1))
        let preferred =
            blocksFit
            ? ChannelBlocking.host.map { ActivationFormat.blocked(width: $0) } ?? .chosenByOneDNN
            : .chosenByOneDNN
        // Only forwards: the input gradient of a Winograd-suited convolution runs as a forward
        // convolution (see Tensor.convolutionInputGradient), so backward-data never meets one.
        if direction == .forward && geometry.forwardUsesWinograd,
            let winograd = describe(direction, algorithm: dnnl_convolution_winograd, format: preferred)
        {
            if !KernelChoice.isReference(winograd) {
                forwardDescriptor = winograd
                return winograd
            }
            dnnl_primitive_desc_destroy(winograd)
        }
        let candidates = ActivationFormat.candidates(preferring: preferred, channelsFillBlocks: blocksFit)
        guard
            let direct = KernelChoice.firstOptimized(
                candidates, for: "\(direction) convolution \(geometry)",
                {
                    describe(direction, algorithm: dnnl_convolution_direct, format: $0)
                })
        else {
            fatalError("oneDNN has no \(direction) convolution for \(geometry)")
        }
        if direction == .forward { forwardDescriptor = direct }
        return direct
    }

    /// The primitive descriptor for `algorithm` with activations in `format`, or `nil` when oneDNN
    /// has no implementation.
    private func describe(_ direction: Direction, algorithm: dnnl_alg_kind_t, format: ActivationFormat) -> dnnl_primitive_desc_t?
    {
        let input = memoryDescriptor(geometry.input, format.tag), output = memoryDescriptor(geometry.output, format.tag)
        let weight = memoryDescriptor(geometry.dnnlWeight, dnnl_format_tag_any)
        let bias = geometry.hasBias && direction != .backwardData ? plainDescriptor([geometry.weight[0]]) : nil
        let kind =
            switch direction {
            case .forward: geometry.inference ? dnnl_forward_inference : dnnl_forward_training
            case .backwardData: dnnl_backward_data
            case .backwardWeights: dnnl_backward_weights
            }
        let strides = geometry.stride.map(Int64.init)
        let dilates = geometry.dilation.map { Int64($0 - 1) }  // oneDNN counts dilation from 0
        let padding = geometry.padding.map(Int64.init)
        let postOperations: [PostOperation] =
            direction != .forward
            ? []
            : (geometry.accumulates ? [.sum] : []) + (geometry.activation.map { [.activation($0)] } ?? [])
        let hint = direction == .forward ? nil : forwardPrimitiveDescriptor
        return primitiveDescriptor(postOperations: postOperations) { descriptor, attributes in
            loupe_convolution_pd_create(
                &descriptor, engine, kind, algorithm, input.handle, weight.handle, bias?.handle,
                output.handle, strides, dilates, padding, padding, attributes, hint)
        }
    }
}

/// The oneDNN kernels on tensor storages; shapes were checked by the caller.
enum DNNL {
    private static func run(
        _ geometry: ConvolutionGeometry, _ select: (ConvolutionPrimitives) -> PlannedPrimitive,
        _ inputs: [Int32: TensorStorage?], keeping kept: Set<Int32> = [],
        producing outputs: Set<Int32>, startingValues: [Int32: TensorStorage] = [:]
    ) -> [Int32: TensorStorage] {
        let context = DNNLContext.shared
        var unused: [Int32: OpaqueBuffer] = [:]
        return context.locked {
            select(context.convolutionPrimitives(for: geometry))
                .run(
                    context, inputs.compactMapValues { $0 }, keeping: kept, producing: outputs,
                    startingValues: startingValues, opaqueOutputs: &unused)
        }
    }

    /// The weight's reordered copy is kept with its storage, so a model's weights are reordered
    /// once, not on every call. `addend` (same shape as the output) is what an accumulating
    /// geometry adds to the result.
    static func convolutionForward(
        _ geometry: ConvolutionGeometry, input: TensorStorage,
        weight: TensorStorage, bias: TensorStorage?, addend: TensorStorage? = nil
    ) -> TensorStorage {
        precondition(geometry.accumulates == (addend != nil), "an accumulating convolution needs its addend, and only it")
        var geometry = geometry
        // A Winograd inference kernel needs the weight transformed for this whole shape, by a
        // slow reorder, and keeps the copy: making them was most of a one-shot command on vgg16.
        // The copy is made only for
        // a shape that recurs: not inside ``withShapeVaryingConvolutions(_:)`` (no inference
        // kernel there at all), and not on a shape's first run, which takes the kernel that
        // transforms the weight per call.
        if geometry.inference
            && (ShapeVaryingConvolutions.isActive
                || geometry.forwardUsesWinograd
                    && !DNNLContext.shared.locked({ weight.recordInferenceShape(geometry) }))
        {
            geometry.inference = false
        }
        let (merged, mergedWeight) = mergingNarrowGroups(geometry, weight)
        return run(
            merged, \.forward, [DNNL_ARG_SRC: input, DNNL_ARG_WEIGHTS: mergedWeight, DNNL_ARG_BIAS: bias],
            keeping: [DNNL_ARG_WEIGHTS], producing: [DNNL_ARG_DST],
            startingValues: addend.map { [DNNL_ARG_DST: $0] } ?? [:])[DNNL_ARG_DST]!
    }

    static func convolutionBackwardData(
        _ geometry: ConvolutionGeometry, outputGradient: TensorStorage,
        weight: TensorStorage
    ) -> TensorStorage {
        let (merged, mergedWeight) = mergingNarrowGroups(geometry, weight)
        return run(
            merged, \.backwardData, [DNNL_ARG_DIFF_DST: outputGradient, DNNL_ARG_WEIGHTS: mergedWeight],
            keeping: [DNNL_ARG_WEIGHTS], producing: [DNNL_ARG_DIFF_SRC])[DNNL_ARG_DIFF_SRC]!
    }

    /// `geometry` with narrow groups merged (``ConvolutionGeometry/groupMerge``) and `weight` as
    /// its weight, kept with the weight until it changes; the two unchanged otherwise. The input
    /// gradient runs on the merged weight too (its zeros add nothing); the weight gradient keeps
    /// the original geometry, whose gradient has no zeros to drop.
    private static func mergingNarrowGroups(
        _ geometry: ConvolutionGeometry, _ weight: TensorStorage
    ) -> (ConvolutionGeometry, TensorStorage) {
        let merge = geometry.groupMerge
        guard merge > 1 else { return (geometry, weight) }
        return (
            geometry.mergingGroups(by: merge),
            weight.derived("groups merged by \(merge)") { weight.mergingGroups(of: geometry, by: merge) }
        )
    }

    /// The weight gradient and, when the geometry has a bias, the bias gradient.
    static func convolutionBackwardWeights(
        _ geometry: ConvolutionGeometry, input: TensorStorage,
        outputGradient: TensorStorage
    ) -> (weight: TensorStorage, bias: TensorStorage?) {
        let outputs = run(
            geometry, \.backwardWeights, [DNNL_ARG_SRC: input, DNNL_ARG_DIFF_DST: outputGradient],
            producing: [DNNL_ARG_DIFF_WEIGHTS, DNNL_ARG_DIFF_BIAS])
        return (outputs[DNNL_ARG_DIFF_WEIGHTS]!, outputs[DNNL_ARG_DIFF_BIAS])
    }
}
