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

    /// The weight dimensions as oneDNN sees them: `[G, O/G, C/G, kH, kW]` when grouped.
    var dnnlWeight: [Int] {
        groups == 1 ? weight : [groups, weight[0] / groups] + weight[1...]
    }
}

/// The forward, backward-data and backward-weights primitives of one geometry, in plain
/// NCHW / OIHW layouts, built on first use.
final class ConvolutionPrimitives: @unchecked Sendable {
    let geometry: ConvolutionGeometry
    private let engine: dnnl_engine_t
    let inputDescriptor: dnnl_memory_desc_t
    let weightDescriptor: dnnl_memory_desc_t
    let biasDescriptor: dnnl_memory_desc_t
    let outputDescriptor: dnnl_memory_desc_t
    private var forwardDescriptor: dnnl_primitive_desc_t?
    private(set) lazy var forward: dnnl_primitive_t = makePrimitive(forwardPrimitiveDescriptor)
    private(set) lazy var backwardData: dnnl_primitive_t = makePrimitive(describe(.backwardData))
    private(set) lazy var backwardWeights: dnnl_primitive_t = makePrimitive(describe(.backwardWeights))

    private enum Direction { case forward, backwardData, backwardWeights }

    init(geometry: ConvolutionGeometry, engine: dnnl_engine_t) {
        self.geometry = geometry
        self.engine = engine
        inputDescriptor = plainDescriptor(geometry.input)
        weightDescriptor = plainDescriptor(geometry.dnnlWeight)
        biasDescriptor = plainDescriptor([geometry.weight[0]])
        outputDescriptor = plainDescriptor(geometry.output)
    }

    private var forwardPrimitiveDescriptor: dnnl_primitive_desc_t {
        if let forwardDescriptor { return forwardDescriptor }
        let built = describe(.forward)
        forwardDescriptor = built
        return built
    }

    private func describe(_ direction: Direction) -> dnnl_primitive_desc_t {
        var input = inputDescriptor, weight = weightDescriptor, bias = biasDescriptor, output = outputDescriptor
        var operation = dnnl_convolution_desc_t()
        let strides = geometry.stride.map(Int64.init)
        let dilates = geometry.dilation.map { Int64($0 - 1) }  // oneDNN counts dilation from 0
        let padding = geometry.padding.map(Int64.init)
        let status: dnnl_status_t
        switch direction {
        case .forward:
            status = withOptionalPointer(geometry.hasBias, &bias) { bias in
                dnnl_dilated_convolution_forward_desc_init(
                    &operation, dnnl_forward_training, dnnl_convolution_direct,
                    &input, &weight, bias, &output, strides, dilates, padding, padding)
            }
        case .backwardData:
            status = dnnl_dilated_convolution_backward_data_desc_init(
                &operation, dnnl_convolution_direct, &input, &weight, &output, strides, dilates, padding, padding)
        case .backwardWeights:
            status = withOptionalPointer(geometry.hasBias, &bias) { bias in
                dnnl_dilated_convolution_backward_weights_desc_init(
                    &operation, dnnl_convolution_direct, &input, &weight, bias, &output,
                    strides, dilates, padding, padding)
            }
        }
        checkDNNL(status, "describing a \(direction) convolution for \(geometry)")
        var descriptor: dnnl_primitive_desc_t?
        let hint = direction == .forward ? nil : forwardPrimitiveDescriptor
        checkDNNL(dnnl_primitive_desc_create(&descriptor, &operation, nil, engine, hint),
                  "creating a \(direction) convolution for \(geometry)")
        return descriptor!
    }

    private func makePrimitive(_ descriptor: dnnl_primitive_desc_t) -> dnnl_primitive_t {
        var primitive: dnnl_primitive_t?
        checkDNNL(dnnl_primitive_create(&primitive, descriptor), "creating a convolution primitive")
        if descriptor != forwardDescriptor { dnnl_primitive_desc_destroy(descriptor) }
        return primitive!
    }
}

private func withOptionalPointer<Result>(
    _ present: Bool, _ value: inout dnnl_memory_desc_t, _ body: (UnsafePointer<dnnl_memory_desc_t>?) -> Result
) -> Result {
    present ? withUnsafePointer(to: &value) { body($0) } : body(nil)
}

/// The oneDNN convolution kernels on raw buffers; shapes were checked by the caller.
enum DNNL {
    static func convolutionForward(_ geometry: ConvolutionGeometry, input: UnsafeMutablePointer<Float>,
                                   weight: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>?,
                                   output: UnsafeMutablePointer<Float>) {
        let context = DNNLContext.shared
        context.locked {
            let primitives = context.convolutionPrimitives(for: geometry)
            var arguments = [(DNNL_ARG_SRC, UnsafeMutableRawPointer(input), primitives.inputDescriptor),
                             (DNNL_ARG_WEIGHTS, UnsafeMutableRawPointer(weight), primitives.weightDescriptor),
                             (DNNL_ARG_DST, UnsafeMutableRawPointer(output), primitives.outputDescriptor)]
            if let bias { arguments.append((DNNL_ARG_BIAS, UnsafeMutableRawPointer(bias), primitives.biasDescriptor)) }
            context.execute(primitives.forward, arguments)
        }
    }

    static func convolutionBackwardData(_ geometry: ConvolutionGeometry, outputGradient: UnsafeMutablePointer<Float>,
                                        weight: UnsafeMutablePointer<Float>,
                                        inputGradient: UnsafeMutablePointer<Float>) {
        let context = DNNLContext.shared
        context.locked {
            let primitives = context.convolutionPrimitives(for: geometry)
            context.execute(primitives.backwardData, [
                (DNNL_ARG_DIFF_DST, UnsafeMutableRawPointer(outputGradient), primitives.outputDescriptor),
                (DNNL_ARG_WEIGHTS, UnsafeMutableRawPointer(weight), primitives.weightDescriptor),
                (DNNL_ARG_DIFF_SRC, UnsafeMutableRawPointer(inputGradient), primitives.inputDescriptor),
            ])
        }
    }

    static func convolutionBackwardWeights(_ geometry: ConvolutionGeometry, input: UnsafeMutablePointer<Float>,
                                           outputGradient: UnsafeMutablePointer<Float>,
                                           weightGradient: UnsafeMutablePointer<Float>,
                                           biasGradient: UnsafeMutablePointer<Float>?) {
        let context = DNNLContext.shared
        context.locked {
            let primitives = context.convolutionPrimitives(for: geometry)
            var arguments = [(DNNL_ARG_SRC, UnsafeMutableRawPointer(input), primitives.inputDescriptor),
                             (DNNL_ARG_DIFF_DST, UnsafeMutableRawPointer(outputGradient), primitives.outputDescriptor),
                             (DNNL_ARG_DIFF_WEIGHTS, UnsafeMutableRawPointer(weightGradient), primitives.weightDescriptor)]
            if let biasGradient {
                arguments.append((DNNL_ARG_DIFF_BIAS, UnsafeMutableRawPointer(biasGradient), primitives.biasDescriptor))
            }
            context.execute(primitives.backwardWeights, arguments)
        }
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
