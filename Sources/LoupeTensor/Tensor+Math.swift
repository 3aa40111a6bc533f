// Elementwise math, comparisons and selection. Each pullback states its derivative.

extension Tensor {
    /// eˣ. Derivative: eˣ.
    public func exp() -> Tensor {
        let result = mapped(scalarExp)
        return Tensor.recording(result, inputs: [self]) { gradient, _ in [gradient * result] }
    }

    /// Natural logarithm. Derivative: 1/x.
    public func log() -> Tensor {
        Tensor.recording(mapped(scalarLog), inputs: [self]) { gradient, _ in [gradient / self] }
    }

    /// Square root. Derivative: 1/(2√x).
    public func sqrt() -> Tensor {
        let result = mapped { $0.squareRoot() }
        return Tensor.recording(result, inputs: [self]) { gradient, _ in
            [gradient.zipped(with: result) { g, root in g * 0.5 / root }]
        }
    }

    /// xᵖ for a constant exponent. Derivative: p·xᵖ⁻¹.
    public func pow(_ exponent: Float) -> Tensor {
        let result = mapped { scalarPow($0, exponent) }
        return Tensor.recording(result, inputs: [self]) { gradient, _ in
            [gradient.zipped(with: self) { g, x in g * exponent * scalarPow(x, exponent - 1) }]
        }
    }

    /// xʸ elementwise with broadcasting. Derivatives: y·xʸ⁻¹ and xʸ·ln x.
    public func pow(_ exponent: Tensor) -> Tensor {
        let result = zipped(with: exponent, scalarPow)
        return Tensor.recording(result, inputs: [self, exponent]) { gradient, needed in
            [
                needed[0] ? (gradient * exponent * self.pow(exponent - 1)).summed(toShape: self.shape) : nil,
                needed[1] ? (gradient * result * self.log()).summed(toShape: exponent.shape) : nil,
            ]
        }
    }

    /// The error function erf(x). Derivative: 2/√π · e^(−x²).
    public func erf() -> Tensor {
        Tensor.recording(mapped(scalarErf), inputs: [self]) { gradient, _ in
            [gradient.zipped(with: self) { g, x in g * 1.1283791671 * scalarExp(-x * x) }]
        }
    }

    /// |x|. Derivative: sign(x) (0 at 0, as PyTorch).
    public func abs() -> Tensor {
        Tensor.recording(mapped { Swift.abs($0) }, inputs: [self]) { gradient, _ in [gradient * self.sign()] }
    }

    /// -1, 0 or 1. Derivative: 0.
    public func sign() -> Tensor {
        let result = mapped { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }
        return Tensor.recording(result, inputs: [self]) { gradient, _ in [gradient.zerosLike()] }
    }

    /// Limits values to `[minimum, maximum]`. Derivative: 1 inside the range (ends included), else 0.
    public func clamped(min minimum: Float = -.infinity, max maximum: Float = .infinity) -> Tensor {
        precondition(minimum <= maximum, "clamped: min \(minimum) is above max \(maximum)")
        struct Forward: UnaryElementFunction {
            let minimum: Float, maximum: Float
            func callAsFunction(_ x: Float) -> Float { Swift.min(Swift.max(x, minimum), maximum) }
        }
        struct Backward: BinaryElementFunction {
            let minimum: Float, maximum: Float
            func callAsFunction(_ g: Float, _ x: Float) -> Float { x >= minimum && x <= maximum ? g : 0 }
        }
        let result = mapped(Forward(minimum: minimum, maximum: maximum))
        return Tensor.recording(result, inputs: [self]) { gradient, _ in
            [gradient.zipped(with: self, Backward(minimum: minimum, maximum: maximum))]
        }
    }

    /// The larger of two tensors elementwise; at ties each side gets half the gradient (as PyTorch).
    public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor {
        selectingExtreme(a, b, larger: true)
    }

    /// The smaller of two tensors elementwise; at ties each side gets half the gradient.
    public static func minimum(_ a: Tensor, _ b: Tensor) -> Tensor {
        selectingExtreme(a, b, larger: false)
    }

    private static func selectingExtreme(_ a: Tensor, _ b: Tensor, larger: Bool) -> Tensor {
        let result = larger ? a.zipped(with: b) { Swift.max($0, $1) } : a.zipped(with: b) { Swift.min($0, $1) }
        return recording(result, inputs: [a, b]) { gradient, needed in
            // Share of the gradient that goes to `a`: 1 where a wins, ½ at ties, 0 where b wins.
            let shareA = a.zipped(with: b) { x, y in x == y ? 0.5 : ((x > y) == larger ? 1 : 0) }
            return [
                needed[0] ? (gradient * shareA).summed(toShape: a.shape) : nil,
                needed[1] ? (gradient * (1 - shareA)).summed(toShape: b.shape) : nil,
            ]
        }
    }

    /// Picks `a` where `condition` is non-zero and `b` elsewhere, broadcasting all three.
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let shape = broadcastShape(broadcastShape(condition.shape, a.shape), b.shape)
        let mask = condition.detached().broadcast(to: shape)
        let left = a.broadcast(to: shape)
        let right = b.broadcast(to: shape)
        let result = Tensor(uninitializedShape: shape)
        for index in 0..<result.count {
            result.storage.base[index] =
                mask.storage.base[index] != 0
                ? left.storage.base[index] : right.storage.base[index]
        }
        return recording(result, inputs: [left, right]) { gradient, needed in
            [
                needed[0] ? gradient.zipped(with: mask) { g, m in m != 0 ? g : 0 } : nil,
                needed[1] ? gradient.zipped(with: mask) { g, m in m != 0 ? 0 : g } : nil,
            ]
        }
    }

    // Comparisons give masks of 0 and 1 that are not differentiated.
    public static func .> (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.detached().zipped(with: rhs) { $0 > $1 ? 1 : 0 } }
    public static func .< (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.detached().zipped(with: rhs) { $0 < $1 ? 1 : 0 } }
    public static func .>= (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.detached().zipped(with: rhs) { $0 >= $1 ? 1 : 0 } }
    public static func .<= (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.detached().zipped(with: rhs) { $0 <= $1 ? 1 : 0 } }
    public static func .== (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.detached().zipped(with: rhs) { $0 == $1 ? 1 : 0 } }
    public static func .!= (lhs: Tensor, rhs: Tensor) -> Tensor { lhs.detached().zipped(with: rhs) { $0 != $1 ? 1 : 0 } }
    public static func .> (lhs: Tensor, rhs: Float) -> Tensor { lhs.mapped { $0 > rhs ? 1 : 0 } }
    public static func .< (lhs: Tensor, rhs: Float) -> Tensor { lhs.mapped { $0 < rhs ? 1 : 0 } }
    public static func .>= (lhs: Tensor, rhs: Float) -> Tensor { lhs.mapped { $0 >= rhs ? 1 : 0 } }
    public static func .<= (lhs: Tensor, rhs: Float) -> Tensor { lhs.mapped { $0 <= rhs ? 1 : 0 } }
    public static func .== (lhs: Tensor, rhs: Float) -> Tensor { lhs.mapped { $0 == rhs ? 1 : 0 } }
}
