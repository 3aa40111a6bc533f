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
    public func convolved2D(with weight: Tensor, bias: Tensor? = nil, stride: Size2D = 1,
                            padding: Size2D = 0, dilation: Size2D = 1, groups: Int = 1) -> Tensor {
        precondition(rank == 4, "convolved2D: input must be [N, C, H, W]; got shape \(shape)")
        precondition(weight.rank == 4, "convolved2D: weight must be [O, C/groups, kH, kW]; got shape \(weight.shape)")
        precondition(groups >= 1 && shape[1] % groups == 0 && weight.shape[0] % groups == 0,
                     "convolved2D: groups \(groups) must divide input channels \(shape[1]) and output channels \(weight.shape[0])")
        precondition(weight.shape[1] * groups == shape[1],
                     "convolved2D: weight \(weight.shape) with groups \(groups) expects \(weight.shape[1] * groups) input channels; input has \(shape[1])")
        precondition(stride.height > 0 && stride.width > 0 && dilation.height > 0 && dilation.width > 0
                     && padding.height >= 0 && padding.width >= 0,
                     "convolved2D: stride \(stride) and dilation \(dilation) must be positive, padding \(padding) non-negative")
        if let bias {
            precondition(bias.shape == [weight.shape[0]], "convolved2D: bias must be [\(weight.shape[0])]; got \(bias.shape)")
        }
        let outputHeight = (shape[2] + 2 * padding.height - dilation.height * (weight.shape[2] - 1) - 1) / stride.height + 1
        let outputWidth = (shape[3] + 2 * padding.width - dilation.width * (weight.shape[3] - 1) - 1) / stride.width + 1
        precondition(outputHeight > 0 && outputWidth > 0,
                     "convolved2D: kernel \(Array(weight.shape[2...])) with dilation \(dilation) does not fit input \(Array(shape[2...])) padded by \(padding)")
        let inputs = [self, weight] + (bias.map { [$0] } ?? [])
        let geometry = ConvolutionGeometry(
            input: shape, weight: weight.shape, output: [shape[0], weight.shape[0], outputHeight, outputWidth],
            stride: stride.array, padding: padding.array, dilation: dilation.array, groups: groups,
            hasBias: bias != nil,
            inference: !GradientRecording.isEnabled || !inputs.contains(where: \.isTrackingGradients))
        let result = Tensor(shape: geometry.output, storage: DNNL.convolutionForward(
            geometry, input: storage, weight: weight.storage, bias: bias?.storage))
        // The input is kept for the weight's and bias's gradients only.
        let input = weight.isTrackingGradients || bias?.isTrackingGradients == true ? self : nil
        return Tensor.recording(result, inputs: inputs) { gradient, needed in
            var inputGradient: Tensor?
            if needed[0] && geometry.suitsWinograd {
                // With stride 1, the input gradient is the convolution of the output gradient
                // with the kernel flipped and its channel axes swapped, padded by k − 1 − p; run
                // as a forward convolution it takes oneDNN's Winograd inference kernel, several
                // times faster here than its backward-data kernel (vgg16 512→512 at 28×28: ~6 vs ~26 ms).
                let flipped = Tensor(shape: [weight.shape[1], weight.shape[0], weight.shape[2], weight.shape[3]],
                                     storage: weight.storage.derived("flipped for the input gradient") {
                                         weight.flippedForInputGradient().storage
                                     })
                inputGradient = withoutGradients {
                    gradient.convolved2D(with: flipped, padding: Size2D(weight.shape[2] - 1 - padding.height,
                                                                        weight.shape[3] - 1 - padding.width))
                }
            } else if needed[0] {
                inputGradient = Tensor(shape: geometry.input, storage: DNNL.convolutionBackwardData(
                    geometry, outputGradient: gradient.storage, weight: weight.storage))
            }
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
}

extension Tensor {
    /// `[O, C, kH, kW] → [C, O, kH, kW]` with both spatial axes reversed: the kernel whose forward
    /// convolution (stride 1) maps an output gradient to the input gradient.
    fileprivate func flippedForInputGradient() -> Tensor {
        let (outputs, inputs, height, width) = (shape[0], shape[1], shape[2], shape[3])
        var result = Tensor(uninitializedShape: [inputs, outputs, height, width])
        withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { target in
                for o in 0..<outputs { for c in 0..<inputs { for i in 0..<height { for j in 0..<width {
                    target[((c * outputs + o) * height + i) * width + j]
                        = source[((o * inputs + c) * height + height - 1 - i) * width + width - 1 - j]
                } } } }
            }
        }
        return result
    }
}
