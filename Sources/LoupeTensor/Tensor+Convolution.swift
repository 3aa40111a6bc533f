extension Tensor {
    /// 2-D convolution (cross-correlation, as `torch.nn.functional.conv2d`), run by oneDNN.
    ///
    /// - Parameters:
    ///   - weight: `[outputChannels, inputChannels / groups, kernelHeight, kernelWidth]`.
    ///   - bias: `[outputChannels]`, or `nil`.
    ///   - stride, padding, dilation: per spatial dimension; padding is zeros on both sides.
    ///   - groups: splits channels into independent groups; `groups == inputChannels` is a
    ///     depthwise convolution.
    /// - Returns: `[N, outputChannels, H', W']` with
    ///   `H' = ⌊(H + 2·padding − dilation·(kernelHeight − 1) − 1) / stride⌋ + 1`.
    ///
    /// The pullback runs oneDNN's backward-data (for the input) and backward-weights (for the
    /// weight and bias) primitives, only for the operands that need a gradient.
    public func convolved2D(
        with weight: Tensor, bias: Tensor? = nil, stride: Size2D = 1,
        padding: Size2D = 0, dilation: Size2D = 1, groups: Int = 1
    ) -> Tensor {
        let output = convolutionOutputShape(
            weight: weight, bias: bias, stride: stride, padding: padding,
            dilation: dilation, groups: groups)
        if isFullyConnected(weight: weight, padding: padding, groups: groups) {
            // A fully connected layer in convolution form (squeeze-excitation's): one small
            // matrix product, where a oneDNN convolution would add reorders to and from its
            // blocked layout and a primitive call, each costing more than the arithmetic.
            let (items, outputs) = (shape[0], weight.shape[0])
            return reshaped([items, shape[1]])
                .linear(weight: weight.reshaped([outputs, weight.shape[1]]), bias: bias)
                .reshaped([items, outputs, 1, 1])
        }
        let inputs = [self, weight] + (bias.map { [$0] } ?? [])
        let geometry = ConvolutionGeometry(
            input: shape, weight: weight.shape, output: output,
            stride: stride.array, padding: padding.array, dilation: dilation.array, groups: groups,
            hasBias: bias != nil,
            inference: !GradientRecording.isEnabled || !inputs.contains(where: \.isTrackingGradients))
        let result = Tensor(
            shape: geometry.output,
            storage: DNNL.convolutionForward(
                geometry, input: storage, weight: weight.storage, bias: bias?.storage))
        // The input is kept for the weight's and bias's gradients only.
        let input = weight.isTrackingGradients || bias?.isTrackingGradients == true ? self : nil
        return Tensor.recording(result, inputs: inputs) { gradient, needed in
            let inputGradient = needed[0] ? gradient.convolutionInputGradient(weight: weight, geometry: geometry) : nil
            var weightGradient: Tensor?
            var biasGradient: Tensor?
            if needed[1] || (bias != nil && needed[2]) {
                let computed = DNNL.convolutionBackwardWeights(geometry, input: input!.storage, outputGradient: gradient.storage)
                weightGradient = Tensor(shape: geometry.weight, storage: computed.weight)
                biasGradient = computed.bias.map { Tensor(shape: [geometry.weight[0]], storage: $0) }
            }
            return [inputGradient, weightGradient] + (bias != nil ? [biasGradient] : [])
        }
    }

    /// A convolution followed by a per-channel affine map, a residual addition and ReLU, in that
    /// order and each optional: `relu(convolved2D(…) · scale[c] + shift[c] + addend)`.
    ///
    /// When no gradient is wanted for the weight, bias, scale or shift, this runs as one oneDNN
    /// convolution: the affine map folded into the weight and bias (`W·scale`, `bias·scale + shift`;
    /// the scaled weight is kept with the weight until either changes), the addition and ReLU as
    /// post-ops. That saves a pass over the activation for each step fused (ResNet's
    /// conv → batch norm → add → ReLU). Otherwise (or with an empty epilogue) the ops run one by one. Gradients flow to the
    /// input and the addend either way; the ReLU's follow ``ReLUBackwardRule``.
    ///
    /// - Parameter epilogue: what follows the convolution; see ``ConvolutionEpilogue``.
    public func convolved2D(
        with weight: Tensor, bias: Tensor? = nil, stride: Size2D = 1, padding: Size2D = 0,
        dilation: Size2D = 1, groups: Int = 1, then epilogue: ConvolutionEpilogue
    ) -> Tensor {
        let affine = epilogue.channelAffine
        let parameters = [weight, bias, affine?.scale, affine?.shift].compactMap { $0 }
        let parametersTracked = GradientRecording.isEnabled && parameters.contains(where: \.isTrackingGradients)
        let tracked = [self] + (epilogue.addend.map { [$0] } ?? [])
        let inference = !GradientRecording.isEnabled || !tracked.contains(where: \.isTrackingGradients)
        // An activation whose derivative its output does not give (SiLU, hardswish) fuses only
        // where no gradient flows back.
        let activationFuses = (epilogue.activation?.pullsBackFromOutput ?? true) || inference
        let fullyConnected = isFullyConnected(weight: weight, padding: padding, groups: groups)
        guard !epilogue.isEmpty && !parametersTracked && activationFuses && !fullyConnected else {
            var result = convolved2D(
                with: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
            if let affine { result = result.channelAffine(scale: affine.scale, shift: affine.shift) }
            if let addend = epilogue.addend { result = result + addend }
            return epilogue.activation?.apply(to: result) ?? result
        }
        let output = convolutionOutputShape(
            weight: weight, bias: bias, stride: stride, padding: padding,
            dilation: dilation, groups: groups)
        if let affine {
            precondition(
                affine.scale.shape == [weight.shape[0]] && affine.shift.shape == [weight.shape[0]],
                "convolved2D: the channel affine map needs [\(weight.shape[0])] scale and shift; got \(affine.scale.shape), \(affine.shift.shape)"
            )
        }
        if let addend = epilogue.addend {
            precondition(
                addend.shape == output, "convolved2D: the addend must have the output's shape \(output); got \(addend.shape)")
        }
        let (foldedWeight, foldedBias) = withoutGradients { Tensor.folding(affine, into: weight, bias: bias) }
        let geometry = ConvolutionGeometry(
            input: shape, weight: weight.shape, output: output,
            stride: stride.array, padding: padding.array, dilation: dilation.array, groups: groups,
            hasBias: foldedBias != nil,
            inference: inference, accumulates: epilogue.addend != nil, activation: epilogue.activation)
        let result = Tensor(
            shape: output,
            storage: DNNL.convolutionForward(
                geometry, input: storage, weight: foldedWeight.storage, bias: foldedBias?.storage,
                addend: epilogue.addend?.storage))
        return Tensor.recording(result, inputs: tracked) { gradient, needed in
            let beforeReLU = epilogue.activation?.pullback(gradient, output: result) ?? gradient
            return [needed[0] ? beforeReLU.convolutionInputGradient(weight: foldedWeight, geometry: geometry.unfused) : nil]
                + (epilogue.addend != nil ? [beforeReLU] : [])
        }
    }

    /// Whether this input (`[N, C, 1, 1]`) and a 1×1 `weight` without padding make a
    /// convolution that is a fully connected layer: one output position, every input channel
    /// read by every output channel.
    private func isFullyConnected(weight: Tensor, padding: Size2D, groups: Int) -> Bool {
        shape[2] == 1 && shape[3] == 1 && weight.shape[2] == 1 && weight.shape[3] == 1 && groups == 1
            && padding == Size2D(0, 0)
    }

    /// `[N, outputChannels, H', W']` of a convolution with these operands, after checking them.
    private func convolutionOutputShape(
        weight: Tensor, bias: Tensor?, stride: Size2D, padding: Size2D,
        dilation: Size2D, groups: Int
    ) -> [Int] {
        precondition(weight.rank == 4, "convolved2D: weight must be [O, C/groups, kH, kW]; got shape \(weight.shape)")
        if let bias {
            precondition(bias.shape == [weight.shape[0]], "convolved2D: bias must be [\(weight.shape[0])]; got \(bias.shape)")
        }
        return requiringShapes {
            try ShapeRules.convolution(
                input: shape, weight: weight.shape, stride: stride, padding: padding, dilation: dilation, groups: groups)
        }
    }

    /// The weight and bias of the convolution whose output equals the original's followed by
    /// `affine`: `W[o]·scale[o]` (kept with the weight's storage for the latest scale only, keyed by its values)
    /// and `bias[o]·scale[o] + shift[o]`.
    private static func folding(
        _ affine: (scale: Tensor, shift: Tensor)?, into weight: Tensor,
        bias: Tensor?
    ) -> (weight: Tensor, bias: Tensor?) {
        guard let affine else { return (weight, bias) }
        let scales = affine.scale.scalars
        var hasher = Hasher()
        scales.forEach { hasher.combine($0.bitPattern) }
        let family = "scaled by channel factors "
        let scaled = weight.storage.derived(family + String(hasher.finalize()), family: family) {
            (weight * affine.scale.reshaped([weight.shape[0], 1, 1, 1])).storage
        }
        let foldedBias = bias.map { $0 * affine.scale + affine.shift } ?? affine.shift
        return (Tensor(shape: weight.shape, storage: scaled), foldedBias)
    }

    /// The gradient with respect to a convolution's input, for this gradient of its output.
    fileprivate func convolutionInputGradient(weight: Tensor, geometry: ConvolutionGeometry) -> Tensor {
        if geometry.groups == 1 && geometry.input[1] <= 4 {
            return inputGradientThroughColumns(weight: weight, geometry: geometry)
        }
        guard geometry.suitsWinograd else {
            return Tensor(
                shape: geometry.input,
                storage: DNNL.convolutionBackwardData(
                    geometry, outputGradient: storage, weight: weight.storage))
        }
        // With stride 1, the input gradient is the convolution of the output gradient with the
        // kernel flipped and its channel axes swapped, padded by k − 1 − p; run as a forward
        // convolution it takes oneDNN's Winograd inference kernel, several times faster than its
        // backward-data kernel on vgg16's wide layers.
        let flipped = Tensor(
            shape: [weight.shape[1], weight.shape[0], weight.shape[2], weight.shape[3]],
            storage: weight.storage.derived("flipped for the input gradient") {
                weight.flippedForInputGradient().storage
            })
        return withoutGradients {
            convolved2D(
                with: flipped,
                padding: Size2D(
                    weight.shape[2] - 1 - geometry.padding[0],
                    weight.shape[3] - 1 - geometry.padding[1]))
        }
    }
}

extension Tensor {
    /// The input gradient of an ungrouped convolution with few input channels (an image's), from
    /// this output gradient: per batch item the column matrix `Wᵀ · g` (one row per input channel
    /// and kernel tap, one column per output position) by GEMM, then each row added back at the
    /// input positions its tap read (col2im). oneDNN has no fast backward-data kernel for 3-channel
    /// inputs: its kernels for them run several times slower than this, or need reorders to an
    /// 8-channel-blocked layout that cost more than the convolution. A channel-blocked gradient
    /// is read as it is, one GEMM per block of channels.
    fileprivate func inputGradientThroughColumns(weight: Tensor, geometry: ConvolutionGeometry) -> Tensor {
        let (batches, channels, height, width) = (geometry.input[0], geometry.input[1], geometry.input[2], geometry.input[3])
        let (outputs, outputHeight, outputWidth) = (geometry.output[1], geometry.output[2], geometry.output[3])
        let (kernelHeight, kernelWidth) = (geometry.weight[2], geometry.weight[3])
        let (stride, padding, dilation) = (geometry.stride, geometry.padding, geometry.dilation)
        let positions = outputHeight * outputWidth, taps = channels * kernelHeight * kernelWidth
        let blockWidth = storage.channelBlockWidth
        let gradient = blockWidth != nil ? storage.elementwiseBase : storage.base
        let kernel = weight.storage.base
        let result = Tensor.zeros(geometry.input)
        let columns = UnsafeMutablePointer<Float>.allocate(capacity: taps * positions)
        defer { columns.deallocate() }
        for item in 0..<batches {
            let itemGradient = gradient + item * outputs * positions
            if let blockWidth {
                // Block b holds [positions, width] values: columns += W[b]ᵀ · blockᵀ.
                for block in 0..<outputs / blockWidth {
                    DNNL.sgemm(
                        transposeA: true, transposeB: true, m: taps, n: positions, k: blockWidth,
                        a: kernel + block * blockWidth * taps, lda: taps,
                        b: itemGradient + block * blockWidth * positions, ldb: blockWidth,
                        beta: block == 0 ? 0 : 1, c: columns, ldc: positions)
                }
            } else {
                DNNL.sgemm(
                    transposeA: true, transposeB: false, m: taps, n: positions, k: outputs,
                    a: kernel, lda: taps, b: itemGradient, ldb: positions, c: columns, ldc: positions)
            }
            let itemResult = result.storage.base + item * channels * height * width
            parallelRanges(channels, grain: 1) { range in
                for channel in range {
                    for i in 0..<kernelHeight {
                        for j in 0..<kernelWidth {
                            let row = columns + ((channel * kernelHeight + i) * kernelWidth + j) * positions
                            let columnOffset = j * dilation[1] - padding[1]
                            // Output columns whose input column falls inside the image.
                            let first = columnOffset >= 0 ? 0 : (-columnOffset + stride[1] - 1) / stride[1]
                            let last =
                                width - 1 - columnOffset < 0
                                ? 0
                                : Swift.min(outputWidth, (width - 1 - columnOffset) / stride[1] + 1)
                            for y in 0..<outputHeight {
                                let inputRow = y * stride[0] - padding[0] + i * dilation[0]
                                guard inputRow >= 0 && inputRow < height, first < last else { continue }
                                let target = itemResult + (channel * height + inputRow) * width + columnOffset
                                let source = row + y * outputWidth
                                for x in first..<last { target[x * stride[1]] += source[x] }
                            }
                        }
                    }
                }
            }
        }
        return result
    }
}

/// What ``Tensor/convolved2D(with:bias:stride:padding:dilation:groups:then:)`` applies to a
/// convolution's output, in this order: a per-channel affine map, an addition, ReLU.
public struct ConvolutionEpilogue {
    /// `x · scale[c] + shift[c]` per output channel (batch normalization with fixed statistics).
    public var channelAffine: (scale: Tensor, shift: Tensor)?
    /// A tensor of the output's shape added next (a residual connection).
    public var addend: Tensor?
    /// The activation that comes last.
    public var activation: ConvolutionActivation?

    /// Nothing follows the convolution.
    public var isEmpty: Bool { channelAffine == nil && addend == nil && activation == nil }

    public init(
        channelAffine: (scale: Tensor, shift: Tensor)? = nil, adding addend: Tensor? = nil,
        activation: ConvolutionActivation? = nil
    ) {
        self.channelAffine = channelAffine
        self.addend = addend
        self.activation = activation
    }
}

/// An activation a convolution can end in, applied by oneDNN as an eltwise post-op.
public enum ConvolutionActivation: Hashable, Sendable {
    /// ``Tensor/relu()``, and ReLU6, ``Tensor/relu(maximum:)`` at 6: both follow the
    /// ``ReLUBackwardRule``.
    case relu, relu6
    /// `x · σ(x)` and ``Tensor/hardswish()``, which fuse only where no gradient flows back.
    case silu, hardswish

    /// Whether the derivative can be read from the output (the ReLUs'), so that the fused
    /// convolution can also be differentiated.
    var pullsBackFromOutput: Bool { self == .relu || self == .relu6 }

    /// The activation as a separate operation.
    public func apply(to x: Tensor) -> Tensor {
        switch self {
        case .relu: x.relu()
        case .relu6: x.relu(maximum: 6)
        case .silu: x * x.sigmoid()
        case .hardswish: x.hardswish()
        }
    }

    /// The gradient at the activation's input from the one at its `output` (the ReLUs only).
    func pullback(_ gradient: Tensor, output: Tensor) -> Tensor {
        precondition(pullsBackFromOutput, "\(self) was fused into a convolution that gradients flow through")
        return gradient.rectifierPullback(output: output, maximum: self == .relu ? .infinity : 6)
    }
}

extension Tensor {
    /// `[O, C, kH, kW] → [C, O, kH, kW]` with both spatial axes reversed: the kernel whose forward
    /// convolution (stride 1) maps an output gradient to the input gradient.
    fileprivate func flippedForInputGradient() -> Tensor {
        let (outputs, inputs, height, width) = (shape[0], shape[1], shape[2], shape[3])
        var result = Tensor(uninitializedShape: [inputs, outputs, height, width])
        withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { target in
                for o in 0..<outputs {
                    for c in 0..<inputs {
                        for i in 0..<height {
                            for j in 0..<width {
                                target[((c * outputs + o) * height + i) * width + j] =
                                    source[((o * inputs + c) * height + height - 1 - i) * width + width - 1 - j]
                            }
                        }
                    }
                }
            }
        }
        return result
    }
}

/// Runs `body` with convolutions that keep no copy of their weights made for one input shape.
///
/// Outside it, a convolution that needs no gradient may take oneDNN's Winograd inference
/// kernels, whose weights are transformed once for the whole input shape (batch and size
/// included) and kept: 16/9 to 4 times the weight's size, made by a reorder slower than the
/// convolution itself. That pays when a shape recurs, as a model's input does. Work whose
/// shapes change from call to call (incremental occlusion's crops and batches), or that runs a
/// handful of shapes for one result (SmoothGrad's and IG's passes), would make and hold a copy
/// for each: inside `body` convolutions run kernels that read the weight as it is kept for every
/// shape — direct, or Winograd transforming the weight on each call where the shape is large
/// enough to repay it. Results agree with the other kernels to float rounding.
@_spi(Engine) public func withShapeVaryingConvolutions<Result>(_ body: () throws -> Result) rethrows -> Result {
    try ShapeVaryingConvolutions.$isActive.withValue(true, operation: body)
}

enum ShapeVaryingConvolutions {
    @TaskLocal static var isActive = false
}
