import CDNNL

/// Everything that fixes a convolution primitive: shapes and hyper-parameters.
struct ConvolutionGeometry: Hashable {
    var input: [Int]        // [N, C, H, W]
    var weight: [Int]       // [O, C/groups, kH, kW]
    var output: [Int]       // [N, O, oH, oW]
    var stride: [Int]
    var padding: [Int]
    var dilation: [Int]
    var groups: Int
    var hasBias: Bool
    /// No gradient will flow back: oneDNN may use its inference-only kernels.
    var inference: Bool

    /// Whether oneDNN's Winograd kernels apply and pay: 3×3, stride 1, undilated, ungrouped,
    /// with enough channels on both sides that the transforms are amortized.
    var suitsWinograd: Bool {
        weight[2] == 3 && weight[3] == 3 && stride == [1, 1] && dilation == [1, 1] && groups == 1
            && weight[0] >= 64 && weight[1] >= 64
    }

    /// The weight dimensions as oneDNN sees them: `[G, O/G, C/G, kH, kW]` when grouped.
    var dnnlWeight: [Int] {
        groups == 1 ? weight : [groups, weight[0] / groups] + weight[1...]
    }
}

/// The forward, backward-data and backward-weights primitives of one geometry, built on first use.
///
/// oneDNN picks each primitive's memory formats (`format_tag_any`: blocked layouts such as
/// nChw16c run its fastest kernels); tensors stay plain NCHW / OIHW, reordered at the call.
final class ConvolutionPrimitives: @unchecked Sendable {
    let geometry: ConvolutionGeometry
    private let engine: dnnl_engine_t
    private var forwardDescriptor: dnnl_primitive_desc_t?
    private(set) lazy var forward = PlannedPrimitive(describe(.forward), engine: engine, arguments: [
        (DNNL_ARG_SRC, dnnl_query_src_md, geometry.input, false),
        (DNNL_ARG_WEIGHTS, dnnl_query_weights_md, geometry.dnnlWeight, false),
        (DNNL_ARG_BIAS, dnnl_query_weights_md, [geometry.weight[0]], false),
        (DNNL_ARG_DST, dnnl_query_dst_md, geometry.output, true),
    ], keepDescriptor: true)
    private(set) lazy var backwardData = PlannedPrimitive(describe(.backwardData), engine: engine, arguments: [
        (DNNL_ARG_DIFF_DST, dnnl_query_diff_dst_md, geometry.output, false),
        (DNNL_ARG_WEIGHTS, dnnl_query_weights_md, geometry.dnnlWeight, false),
        (DNNL_ARG_DIFF_SRC, dnnl_query_diff_src_md, geometry.input, true),
    ])
    private(set) lazy var backwardWeights = PlannedPrimitive(describe(.backwardWeights), engine: engine, arguments: [
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
        if geometry.suitsWinograd && direction != .backwardWeights,
           let winograd = describe(direction, algorithm: dnnl_convolution_winograd) {
            return winograd
        }
        guard let direct = describe(direction, algorithm: dnnl_convolution_direct) else {
            fatalError("oneDNN has no \(direction) convolution for \(geometry)")
        }
        return direct
    }

    /// The primitive descriptor for `algorithm`, or `nil` when oneDNN has no implementation.
    private func describe(_ direction: Direction, algorithm: dnnl_alg_kind_t) -> dnnl_primitive_desc_t? {
        // Activations in the channel-blocked layout (nChw16c) when both sides' channels allow.
        // Left to choose, oneDNN's 1×1 kernels pick channels-last, and reordering NCHW to and from
        // NHWC around every layer cost as much as the convolutions (resnet50: 55 of 254 ms); the
        // blocked reorder is a few times cheaper. Both sides or neither: a 3-channel input with a
        // blocked output has only the reference backward-data kernel (squeezenet's first layer: 1.2 s).
        let activationFormat = geometry.input[1] % 16 == 0 && geometry.output[1] % 16 == 0 ? dnnl_aBcd16b : dnnl_format_tag_any
        var input = memoryDescriptor(geometry.input, activationFormat)
        var output = memoryDescriptor(geometry.output, activationFormat)
        var weight = memoryDescriptor(geometry.dnnlWeight, dnnl_format_tag_any), bias = plainDescriptor([geometry.weight[0]])
        var operation = dnnl_convolution_desc_t()
        let strides = geometry.stride.map(Int64.init)
        let dilates = geometry.dilation.map { Int64($0 - 1) }  // oneDNN counts dilation from 0
        let padding = geometry.padding.map(Int64.init)
        let status: dnnl_status_t
        switch direction {
        case .forward:
            status = withOptionalPointer(geometry.hasBias, &bias) { bias in
                dnnl_dilated_convolution_forward_desc_init(
                    &operation, geometry.inference ? dnnl_forward_inference : dnnl_forward_training, algorithm,
                    &input, &weight, bias, &output, strides, dilates, padding, padding)
            }
        case .backwardData:
            status = dnnl_dilated_convolution_backward_data_desc_init(
                &operation, algorithm, &input, &weight, &output, strides, dilates, padding, padding)
        case .backwardWeights:
            status = withOptionalPointer(geometry.hasBias, &bias) { bias in
                dnnl_dilated_convolution_backward_weights_desc_init(
                    &operation, algorithm, &input, &weight, bias, &output,
                    strides, dilates, padding, padding)
            }
        }
        checkDNNL(status, "describing a \(direction) convolution for \(geometry)")
        var descriptor: dnnl_primitive_desc_t?
        let hint = direction == .forward ? nil : forwardPrimitiveDescriptor
        // Loupe hands each primitive its scratch memory (see DNNLContext.scratchpad).
        var attributes: dnnl_primitive_attr_t?
        checkDNNL(dnnl_primitive_attr_create(&attributes), "creating primitive attributes")
        defer { dnnl_primitive_attr_destroy(attributes) }
        checkDNNL(dnnl_primitive_attr_set_scratchpad_mode(attributes, dnnl_scratchpad_mode_user), "choosing user scratchpads")
        guard dnnl_primitive_desc_create(&descriptor, &operation, attributes, engine, hint) == dnnl_success else { return nil }
        if direction == .forward { forwardDescriptor = descriptor }
        return descriptor!
    }
}

/// A primitive with the reorders between the caller's plain buffers and the formats it chose.
final class PlannedPrimitive: @unchecked Sendable {
    private struct Argument {
        let index: Int32
        let plain: dnnl_memory_desc_t
        let chosen: dnnl_memory_desc_t
        /// Plain → chosen for inputs, chosen → plain for outputs; `nil` when they agree.
        let reorder: dnnl_primitive_t?
        /// Bytes of the argument in the chosen format.
        let chosenBytes: Int
        let isOutput: Bool
    }

    private let primitive: dnnl_primitive_t
    private let arguments: [Argument]
    /// The scratch memory the primitive needs and its size, if any.
    private let scratchpad: (descriptor: dnnl_memory_desc_t, byteCount: Int)?

    /// - Parameter arguments: (oneDNN argument, query for its format, plain dimensions, is output).
    ///   Arguments the primitive does not use (bias without bias) are dropped.
    init(_ descriptor: dnnl_primitive_desc_t, engine: dnnl_engine_t,
         arguments: [(Int32, dnnl_query_t, [Int], Bool)], keepDescriptor: Bool = false) {
        var planned: [Argument] = []
        for (index, query, dimensions, isOutput) in arguments {
            let queryIndex: Int32 = (index == DNNL_ARG_BIAS || index == DNNL_ARG_DIFF_BIAS) ? 1 : 0
            guard let chosenPointer = dnnl_primitive_desc_query_md(descriptor, query, queryIndex),
                  chosenPointer.pointee.ndims > 0 else { continue }
            var chosen = chosenPointer.pointee
            var plain = plainDescriptor(dimensions)
            var reorder: dnnl_primitive_t?
            if dnnl_memory_desc_equal(&plain, &chosen) == 0 {
                var reorderDescriptor: dnnl_primitive_desc_t?
                checkDNNL(isOutput
                          ? dnnl_reorder_primitive_desc_create(&reorderDescriptor, &chosen, engine, &plain, engine, nil)
                          : dnnl_reorder_primitive_desc_create(&reorderDescriptor, &plain, engine, &chosen, engine, nil),
                          "describing a reorder")
                checkDNNL(dnnl_primitive_create(&reorder, reorderDescriptor), "creating a reorder")
                dnnl_primitive_desc_destroy(reorderDescriptor)
            }
            planned.append(Argument(index: index, plain: plain, chosen: chosen, reorder: reorder,
                                    chosenBytes: dnnl_memory_desc_get_size(&chosen), isOutput: isOutput))
        }
        if let scratchpadPointer = dnnl_primitive_desc_query_md(descriptor, dnnl_query_scratchpad_md, 0),
           scratchpadPointer.pointee.ndims > 0 {
            var descriptor = scratchpadPointer.pointee
            scratchpad = (descriptor, dnnl_memory_desc_get_size(&descriptor))
        } else {
            scratchpad = nil
        }
        var primitive: dnnl_primitive_t?
        checkDNNL(dnnl_primitive_create(&primitive, descriptor), "creating a primitive")
        if !keepDescriptor { dnnl_primitive_desc_destroy(descriptor) }
        self.primitive = primitive!
        self.arguments = planned
    }

    /// Runs the primitive on plain buffers, one per argument index (missing ones are skipped),
    /// reordering inputs in and outputs out (caller holds the context lock). Arguments in
    /// `kept` are long-lived inputs (weights) whose reordered copy is kept with their storage;
    /// other reordered arguments live in pooled buffers for the call only.
    func run(_ context: DNNLContext, _ buffers: [Int32: UnsafeMutableRawPointer], keeping kept: [Int32: TensorStorage] = [:]) {
        var primitiveArguments: [(Int32, UnsafeMutableRawPointer, dnnl_memory_desc_t)] = []
        var staged: [Int32: (buffer: UnsafeMutableRawPointer, byteCount: Int)] = [:]
        defer { for (buffer, byteCount) in staged.values { BufferPool.shared.release(buffer, byteCount: byteCount) } }
        for argument in arguments {
            guard let user = buffers[argument.index] else { continue }
            guard let reorder = argument.reorder else {
                primitiveArguments.append((argument.index, user, argument.plain))
                continue
            }
            if let storage = kept[argument.index] {
                // A long-lived input (a weight): reordered once, the copy kept with its values.
                let copy = storage.formattedCopy(in: FormatKey(argument.chosen), byteCount: argument.chosenBytes) {
                    context.execute(reorder, [(DNNL_ARG_FROM, user, argument.plain), (DNNL_ARG_TO, $0, argument.chosen)])
                }
                primitiveArguments.append((argument.index, copy, argument.chosen))
                continue
            }
            let buffer = BufferPool.shared.allocate(byteCount: argument.chosenBytes)
            staged[argument.index] = (buffer, argument.chosenBytes)
            if !argument.isOutput {
                context.execute(reorder, [(DNNL_ARG_FROM, user, argument.plain), (DNNL_ARG_TO, buffer, argument.chosen)])
            }
            primitiveArguments.append((argument.index, buffer, argument.chosen))
        }
        if let scratchpad {
            primitiveArguments.append((DNNL_ARG_SCRATCHPAD, context.scratchpad(byteCount: scratchpad.byteCount), scratchpad.descriptor))
        }
        context.execute(primitive, primitiveArguments)
        for argument in arguments where argument.isOutput {
            guard let reorder = argument.reorder, let buffer = staged[argument.index]?.buffer,
                  let user = buffers[argument.index] else { continue }
            context.execute(reorder, [(DNNL_ARG_FROM, buffer, argument.chosen), (DNNL_ARG_TO, user, argument.plain)])
        }
    }
}

/// A memory format, as a dictionary key: copies of a weight in the same format are shared by
/// every primitive that reads that format.
struct FormatKey: Hashable {
    private let bytes: [UInt8]

    init(_ descriptor: dnnl_memory_desc_t) {
        var descriptor = descriptor
        bytes = withUnsafeBytes(of: &descriptor) { Array($0) }
    }
}

private func withOptionalPointer<Result>(
    _ present: Bool, _ value: inout dnnl_memory_desc_t, _ body: (UnsafePointer<dnnl_memory_desc_t>?) -> Result
) -> Result {
    present ? withUnsafePointer(to: &value) { body($0) } : body(nil)
}

/// The oneDNN kernels on raw buffers; shapes were checked by the caller.
enum DNNL {
    private static func run(_ geometry: ConvolutionGeometry,
                            _ select: (ConvolutionPrimitives) -> PlannedPrimitive,
                            _ buffers: [Int32: UnsafeMutablePointer<Float>?], keeping kept: [Int32: TensorStorage] = [:]) {
        let context = DNNLContext.shared
        context.locked {
            let primitive = select(context.convolutionPrimitives(for: geometry))
            primitive.run(context, buffers.compactMapValues { $0.map(UnsafeMutableRawPointer.init) }, keeping: kept)
        }
    }

    /// The weight's reordered copy is kept with its storage, so a model's weights are reordered
    /// once, not on every call.
    static func convolutionForward(_ geometry: ConvolutionGeometry, input: UnsafeMutablePointer<Float>,
                                   weight: TensorStorage, bias: UnsafeMutablePointer<Float>?,
                                   output: UnsafeMutablePointer<Float>) {
        run(geometry, \.forward, [DNNL_ARG_SRC: input, DNNL_ARG_WEIGHTS: weight.base, DNNL_ARG_BIAS: bias, DNNL_ARG_DST: output],
            keeping: [DNNL_ARG_WEIGHTS: weight])
    }

    static func convolutionBackwardData(_ geometry: ConvolutionGeometry, outputGradient: UnsafeMutablePointer<Float>,
                                        weight: TensorStorage, inputGradient: UnsafeMutablePointer<Float>) {
        run(geometry, \.backwardData,
            [DNNL_ARG_DIFF_DST: outputGradient, DNNL_ARG_WEIGHTS: weight.base, DNNL_ARG_DIFF_SRC: inputGradient],
            keeping: [DNNL_ARG_WEIGHTS: weight])
    }

    static func convolutionBackwardWeights(_ geometry: ConvolutionGeometry, input: UnsafeMutablePointer<Float>,
                                           outputGradient: UnsafeMutablePointer<Float>,
                                           weightGradient: UnsafeMutablePointer<Float>,
                                           biasGradient: UnsafeMutablePointer<Float>?) {
        run(geometry, \.backwardWeights, [DNNL_ARG_SRC: input, DNNL_ARG_DIFF_DST: outputGradient,
                                          DNNL_ARG_DIFF_WEIGHTS: weightGradient, DNNL_ARG_DIFF_BIAS: biasGradient])
    }

    /// Row-major single-precision GEMM: C = α·op(A)·op(B) + β·C with op(A) M×K, op(B) K×N.
    static func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                      alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                      beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            for row in 0..<m { for column in 0..<n { c[row * ldc + column] *= beta } }
            return
        }
        let no = CChar(UInt8(ascii: "N")), yes = CChar(UInt8(ascii: "T"))
        checkDNNL(dnnl_sgemm(transposeA ? yes : no, transposeB ? yes : no, Int64(m), Int64(n), Int64(k), alpha,
                             a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc)),
                  "multiplying \(m)×\(k) by \(k)×\(n) matrices")
    }
}
