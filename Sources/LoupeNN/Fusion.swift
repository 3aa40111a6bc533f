import LoupeTensor

/// The convolution post-op an activation module is, if it is one.
func convolutionActivation(of module: Module?) -> ConvolutionActivation? {
    switch module {
    case is ReLU: .relu
    case is ReLU6: .relu6
    case is SiLU: .silu
    case is Hardswish: .hardswish
    default: nil
    }
}

extension Conv2d {
    /// This convolution, then `norm`, then `+ addend`, then `activation` (each optional: a ReLU,
    /// ReLU6, SiLU or hardswish module), as one oneDNN convolution with the normalization folded
    /// into it and the rest as post-ops (see
    /// ``Tensor/convolved2D(with:bias:stride:padding:dilation:groups:then:)``).
    ///
    /// The result equals calling the modules in turn, which is what happens instead when a tap
    /// reads a point the fused convolution never forms (the convolution's or the norm's own
    /// output) or the norm is training. The result is offered to taps as the last module's output.
    func fused(_ input: Tensor, norm: BatchNorm2d? = nil, adding addend: Tensor? = nil, activation: Module? = nil) -> Tensor {
        let last: Module? = activation ?? (addend == nil ? (norm ?? self) : nil)
        let skipped = [self, norm].compactMap { $0 }.filter { $0 !== last }
        let tapped = skipped.contains { Module.isTapped($0.path) }
        guard !tapped, norm?.isTraining != true, activation == nil || convolutionActivation(of: activation) != nil else {
            var output = self(input)
            if let norm { output = norm(output) }
            if let addend { output = output + addend }
            return activation.map { $0(output) } ?? output
        }
        let epilogue = ConvolutionEpilogue(
            channelAffine: norm?.inferenceAffine, adding: addend, activation: convolutionActivation(of: activation))
        let output = input.convolved2D(
            with: weight.value, bias: bias?.value, stride: stride, padding: padding,
            dilation: dilation, groups: groups, then: epilogue)
        guard let last, let session = TapSession.current else { return output }
        return session.offer(output, at: last.path)
    }
}

extension BatchNorm2d {
    /// The per-channel map `x · scale + shift` this layer applies in evaluation mode.
    var inferenceAffine: (scale: Tensor, shift: Tensor) {
        Tensor.batchNormalizationAffine(
            scale: weight.value, offset: bias.value, runningMean: runningMean.value,
            runningVariance: runningVariance.value, epsilon: epsilon)
    }
}

extension Sequential {
    /// Runs the layers in turn, each `Conv2d` with the `BatchNorm2d` and the activation right after
    /// it (when present: ReLU, ReLU6, SiLU, hardswish) as one fused convolution
    /// (``Conv2d/fused(_:norm:adding:activation:)``).
    func forwardFusingConvolutions(_ input: Tensor) -> Tensor {
        runFusingConvolutions(layers, input)
    }
}

/// `layers` in turn, each convolution fused with the batch norm and activation after it.
private func runFusingConvolutions(_ layers: [Module], _ input: Tensor) -> Tensor {
    var output = input
    var index = 0
    while index < layers.count {
        guard let convolution = layers[index] as? Conv2d else {
            output = layers[index](output)
            index += 1
            continue
        }
        index += 1
        let norm = index < layers.count ? layers[index] as? BatchNorm2d : nil
        if norm != nil { index += 1 }
        let activation = index < layers.count && convolutionActivation(of: layers[index]) != nil ? layers[index] : nil
        if activation != nil { index += 1 }
        output = convolution.fused(output, norm: norm, activation: activation)
    }
    return output
}

extension Module {
    /// `activation(self(input) + addend)` (the activation optional): a residual block's sum. Where
    /// this module is a chain (`Sequential`, ``NamedSequential``) that ends in a convolution and
    /// its batch norm, possibly inside a last chain of its own, the sum and the activation run in
    /// that convolution as oneDNN post-ops, as ResNet's blocks do: the sum then never leaves
    /// oneDNN's blocked layout for a separate addition. Otherwise, and when a tap reads this
    /// module's own output (which is the value before the sum), the operations run in turn.
    func calledAdding(_ addend: Tensor, to input: Tensor, then activation: Module? = nil) -> Tensor {
        let layers = (self as? Sequential)?.layers ?? (self as? NamedSequential)?.layers.map(\.module)
        guard let layers, !Module.isTapped(path), !isTraining, convolutionActivation(of: activation) != nil || activation == nil
        else {
            let sum = self(input) + addend
            return activation.map { $0(sum) } ?? sum
        }
        let tail: (prefix: [Module], convolution: Conv2d, norm: BatchNorm2d?)?
        if let norm = layers.last as? BatchNorm2d, layers.count >= 2, let convolution = layers[layers.count - 2] as? Conv2d {
            tail = (Array(layers.dropLast(2)), convolution, norm)
        } else if let convolution = layers.last as? Conv2d {
            tail = (Array(layers.dropLast()), convolution, nil)
        } else {
            tail = nil
        }
        if let (prefix, convolution, norm) = tail {
            return convolution.fused(
                runFusingConvolutions(prefix, input), norm: norm, adding: addend, activation: activation)
        }
        if let last = layers.last, last is Sequential || last is NamedSequential {
            return last.calledAdding(addend, to: runFusingConvolutions(Array(layers.dropLast()), input), then: activation)
        }
        let sum = self(input) + addend
        return activation.map { $0(sum) } ?? sum
    }
}
