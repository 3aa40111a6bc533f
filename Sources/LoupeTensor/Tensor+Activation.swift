// Activation functions. Each pullback sits under its forward and states the derivative.

extension Tensor {
    /// Swift.max(x, 0). The pullback follows ``ReLUBackwardRule/current`` at backward time.
    public func relu() -> Tensor {
        // The pullback reads the output (positive exactly where the input is), so the input can
        // be freed once the next layer has read it.
        let result = mapped(Rectifier())
        return Tensor.recording(result, inputs: [self]) { gradient, _ in
            [gradient.rectifierPullback(output: result)]
        }
    }

    /// `min(max(x, 0), maximum)`: ReLU6 at 6, the clamp-style ReLUs of converted graphs (ONNX
    /// `Clip` from 0). The derivative is 1 strictly inside `(0, maximum)`, as PyTorch's `hardtanh`
    /// (which `nn.ReLU6` is) has it, and the pullback follows ``ReLUBackwardRule/current`` as
    /// ``relu()``'s does: guided backprop keeps the positive part of that gradient, deconvnet the
    /// positive part of the incoming one.
    public func relu(maximum: Float) -> Tensor {
        precondition(maximum > 0, "relu(maximum:): maximum \(maximum) must be positive")
        guard maximum.isFinite else { return relu() }
        struct Forward: UnaryElementFunction {
            let maximum: Float
            func callAsFunction(_ x: Float) -> Float { Swift.min(Swift.max(x, 0), maximum) }
        }
        let result = mapped(Forward(maximum: maximum))
        return Tensor.recording(result, inputs: [self]) { gradient, _ in
            [gradient.rectifierPullback(output: result, maximum: maximum)]
        }
    }

    /// This gradient of a ReLU's output mapped to its input by ``ReLUBackwardRule/current``,
    /// reading the ReLU's `output`: it passes where `0 < output < maximum`.
    func rectifierPullback(output: Tensor, maximum: Float = .infinity) -> Tensor {
        struct Gradient: BinaryElementFunction {
            let maximum: Float
            func callAsFunction(_ g: Float, _ y: Float) -> Float { y > 0 && y < maximum ? g : 0 }
        }
        struct GuidedGradient: BinaryElementFunction {
            let maximum: Float
            func callAsFunction(_ g: Float, _ y: Float) -> Float { y > 0 && y < maximum && g > 0 ? g : 0 }
        }
        return switch ReLUBackwardRule.current {
        case .standard: zipped(with: output, Gradient(maximum: maximum))
        case .guided: zipped(with: output, GuidedGradient(maximum: maximum))
        case .deconvnet: mapped(Rectifier())
        }
    }

    /// x for x > 0, slope·x otherwise. Derivative: 1 or slope.
    public func leakyRelu(negativeSlope slope: Float = 0.01) -> Tensor {
        struct Forward: UnaryElementFunction {
            let slope: Float
            func callAsFunction(_ x: Float) -> Float { x > 0 ? x : slope * x }
        }
        struct Backward: BinaryElementFunction {
            let slope: Float
            func callAsFunction(_ g: Float, _ x: Float) -> Float { x > 0 ? g : slope * g }
        }
        return Tensor.recording(mapped(Forward(slope: slope)), inputs: [self]) { gradient, _ in
            [gradient.zipped(with: self, Backward(slope: slope))]
        }
    }

    /// 1 / (1 + e⁻ˣ). Derivative: σ(1 − σ).
    public func sigmoid() -> Tensor {
        struct Forward: UnaryElementFunction {
            func callAsFunction(_ x: Float) -> Float { x >= 0 ? 1 / (1 + scalarExp(-x)) : scalarExp(x) / (1 + scalarExp(x)) }
        }
        struct Backward: BinaryElementFunction {
            func callAsFunction(_ g: Float, _ s: Float) -> Float { g * s * (1 - s) }
        }
        let result = mapped(Forward())
        return Tensor.recording(result, inputs: [self]) { gradient, _ in
            [gradient.zipped(with: result, Backward())]
        }
    }

    /// Hyperbolic tangent. Derivative: 1 − tanh².
    public func tanh() -> Tensor {
        struct Forward: UnaryElementFunction {
            func callAsFunction(_ x: Float) -> Float { scalarTanh(x) }
        }
        struct Backward: BinaryElementFunction {
            func callAsFunction(_ g: Float, _ t: Float) -> Float { g * (1 - t * t) }
        }
        let result = mapped(Forward())
        return Tensor.recording(result, inputs: [self]) { gradient, _ in
            [gradient.zipped(with: result, Backward())]
        }
    }

    /// GELU with the exact erf form: x·Φ(x). Derivative: Φ(x) + x·φ(x).
    public func gelu() -> Tensor {
        let result = mapped { x in 0.5 * x * (1 + scalarErf(x * 0.70710678)) }
        return Tensor.recording(result, inputs: [self]) { gradient, _ in
            [
                gradient.zipped(with: self) { g, x in
                    let cdf = 0.5 * (1 + scalarErf(x * 0.70710678))
                    let density = scalarExp(-0.5 * x * x) * 0.39894228
                    return g * (cdf + x * density)
                }
            ]
        }
    }

    /// x·relu6(x + 3)/6. Derivative: 0 below −3, (2x + 3)/6 up to 3, 1 above (PyTorch's ends).
    public func hardswish() -> Tensor {
        struct Forward: UnaryElementFunction {
            func callAsFunction(_ x: Float) -> Float { x * Swift.min(Swift.max(x + 3, 0), 6) / 6 }
        }
        struct Backward: BinaryElementFunction {
            func callAsFunction(_ g: Float, _ x: Float) -> Float { x < -3 ? 0 : (x <= 3 ? g * (x / 3 + 0.5) : g) }
        }
        let result = mapped(Forward())
        return Tensor.recording(result, inputs: [self]) { gradient, _ in
            [gradient.zipped(with: self, Backward())]
        }
    }

    /// relu6(x + 3)/6. Derivative: 1/6 strictly between −3 and 3, else 0.
    public func hardsigmoid() -> Tensor {
        struct Forward: UnaryElementFunction {
            func callAsFunction(_ x: Float) -> Float { Swift.min(Swift.max(x + 3, 0), 6) / 6 }
        }
        struct Backward: BinaryElementFunction {
            func callAsFunction(_ g: Float, _ x: Float) -> Float { x > -3 && x < 3 ? g / 6 : 0 }
        }
        let result = mapped(Forward())
        return Tensor.recording(result, inputs: [self]) { gradient, _ in
            [gradient.zipped(with: self, Backward())]
        }
    }

    /// Softmax along `axis`: eˣⁱ / Σ eˣʲ, computed with the maximum subtracted.
    /// Derivative: y ⊙ (g − Σ g·y).
    public func softmax(along axis: Int = -1) -> Tensor {
        let axis = axisIndex(axis)
        let result = softmaxValues(along: axis, logarithm: false)
        return Tensor.recording(result, inputs: [self]) { gradient, _ in
            let dot = (gradient * result).sum(along: axis, keepingDimensions: true)
            return [result * (gradient - dot)]
        }
    }

    /// log(softmax(x)) along `axis`, computed stably. Derivative: g − softmax ⊙ Σ g.
    public func logSoftmax(along axis: Int = -1) -> Tensor {
        let axis = axisIndex(axis)
        let result = softmaxValues(along: axis, logarithm: true)
        return Tensor.recording(result, inputs: [self]) { gradient, _ in
            [gradient - result.exp() * gradient.sum(along: axis, keepingDimensions: true)]
        }
    }

    private func softmaxValues(along axis: Int, logarithm: Bool) -> Tensor {
        let (outer, extent, inner) = splitAround(shape, axis: axis)
        let result = Tensor(uninitializedShape: shape)
        let source = storage.base
        let destination = result.storage.base
        parallelRanges(outer * inner, grain: Swift.max(1, 16_384 / Swift.max(extent, 1))) { lines in
            for line in lines {
                let start = (line / inner) * extent * inner + line % inner
                var largest = -Float.infinity
                for position in 0..<extent { largest = Swift.max(largest, source[start + position * inner]) }
                var total: Float = 0
                for position in 0..<extent { total += scalarExp(source[start + position * inner] - largest) }
                let logTotal = scalarLog(total)
                for position in 0..<extent {
                    let shifted = source[start + position * inner] - largest
                    destination[start + position * inner] = logarithm ? shifted - logTotal : scalarExp(shifted) / total
                }
            }
        }
        return result
    }
}
