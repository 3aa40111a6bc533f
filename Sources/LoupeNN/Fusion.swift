import Foundation
@_spi(Engine) import LoupeTensor

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
        let output: Tensor
        if let norm, let folded = folded(with: norm) {
            output = input.convolved2D(
                with: folded.weight, bias: folded.bias, stride: stride, padding: padding, dilation: dilation,
                groups: groups,
                then: ConvolutionEpilogue(adding: addend, activation: convolutionActivation(of: activation)))
        } else {
            let epilogue = ConvolutionEpilogue(
                channelAffine: norm?.inferenceAffine, adding: addend, activation: convolutionActivation(of: activation))
            output = input.convolved2D(
                with: weight.value, bias: bias?.value, stride: stride, padding: padding,
                dilation: dilation, groups: groups, then: epilogue)
        }
        guard let last, let session = TapSession.current else { return output }
        return session.offer(output, at: last.path)
    }
}

/// A convolution's weight and bias with its batch norm folded in (`W·scale`, `b·scale + shift`),
/// and the parameter values they were made from.
final class FoldedConvolution {
    let sources: [Tensor]
    let weight: Tensor, bias: Tensor

    init(sources: [Tensor], weight: Tensor, bias: Tensor) {
        self.sources = sources
        self.weight = weight
        self.bias = bias
    }
}

extension Conv2d {
    /// This convolution's weight and bias with `norm` folded in, made on the first call and kept
    /// while the six parameter values stay the same storage (see
    /// ``LoupeTensor/Tensor/sharesStorage(with:)``: an optimizer step or a load replaces them, and
    /// an in-place write copies them first, since the kept ones share their storage). Every
    /// forward pass would otherwise compute the norm's scale and shift and fold them again for
    /// each convolution, a noticeable part of a small network's forward pass. `nil` while
    /// any parameter tracks gradients: then the fold must be recorded.
    func folded(with norm: BatchNorm2d) -> FoldedConvolution? {
        let sources =
            [weight.value, norm.weight.value, norm.bias.value, norm.runningMean.value, norm.runningVariance.value]
            + (bias.map { [$0.value] } ?? [])
        guard !sources.contains(where: \.isTrackingGradients) else { return nil }
        if let kept = foldLock.withLock({ foldedParameters }), kept.sources.count == sources.count,
            zip(kept.sources, sources).allSatisfy({ $0.sharesStorage(with: $1) })
        {
            return kept
        }
        let affine = norm.inferenceAffine
        let made = withoutGradients {
            FoldedConvolution(
                sources: sources, weight: weight.value * affine.scale.reshaped([weight.shape[0], 1, 1, 1]),
                bias: bias.map { $0.value * affine.scale + affine.shift } ?? affine.shift)
        }
        foldLock.withLock { foldedParameters = made }
        return made
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
