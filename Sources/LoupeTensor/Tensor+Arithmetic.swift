// Broadcasting arithmetic. Each pullback sums its gradient back to the operand's shape.

extension Tensor {
    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
        let result = lhs.zipped(with: rhs, Sum())
        return recording(result, inputs: [lhs, rhs]) { gradient, needed in
            [
                needed[0] ? gradient.summed(toShape: lhs.shape) : nil,
                needed[1] ? gradient.summed(toShape: rhs.shape) : nil,
            ]
        }
    }

    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor {
        let result = lhs.zipped(with: rhs, Difference())
        return recording(result, inputs: [lhs, rhs]) { gradient, needed in
            [
                needed[0] ? gradient.summed(toShape: lhs.shape) : nil,
                needed[1] ? (-gradient).summed(toShape: rhs.shape) : nil,
            ]
        }
    }

    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor {
        let result = lhs.zipped(with: rhs, Product())
        // d(ab)/da = b, d(ab)/db = a
        return recording(result, inputs: [lhs, rhs]) { gradient, needed in
            [
                needed[0] ? (gradient * rhs).summed(toShape: lhs.shape) : nil,
                needed[1] ? (gradient * lhs).summed(toShape: rhs.shape) : nil,
            ]
        }
    }

    public static func / (lhs: Tensor, rhs: Tensor) -> Tensor {
        let result = lhs.zipped(with: rhs, Quotient())
        // d(a/b)/da = 1/b, d(a/b)/db = -a/b²
        return recording(result, inputs: [lhs, rhs]) { gradient, needed in
            [
                needed[0] ? (gradient / rhs).summed(toShape: lhs.shape) : nil,
                needed[1] ? (-gradient * lhs / (rhs * rhs)).summed(toShape: rhs.shape) : nil,
            ]
        }
    }

    public static prefix func - (operand: Tensor) -> Tensor {
        recording(operand.mapped(Scaling(factor: -1)), inputs: [operand]) { gradient, _ in [-gradient] }
    }

    public static func + (lhs: Tensor, rhs: Float) -> Tensor {
        recording(lhs.mapped(Shift(offset: rhs)), inputs: [lhs]) { gradient, _ in [gradient] }
    }

    public static func + (lhs: Float, rhs: Tensor) -> Tensor { rhs + lhs }

    public static func - (lhs: Tensor, rhs: Float) -> Tensor { lhs + (-rhs) }

    public static func - (lhs: Float, rhs: Tensor) -> Tensor { -rhs + lhs }

    public static func * (lhs: Tensor, rhs: Float) -> Tensor {
        recording(lhs.mapped(Scaling(factor: rhs)), inputs: [lhs]) { gradient, _ in [gradient * rhs] }
    }

    public static func * (lhs: Float, rhs: Tensor) -> Tensor { rhs * lhs }

    public static func / (lhs: Tensor, rhs: Float) -> Tensor { lhs * (1 / rhs) }

    public static func / (lhs: Float, rhs: Tensor) -> Tensor {
        let result = rhs.mapped { lhs / $0 }
        // d(c/x)/dx = -c/x²
        return recording(result, inputs: [rhs]) { gradient, _ in
            [gradient.zipped(with: rhs) { g, x in -g * lhs / (x * x) }]
        }
    }

    public static func += (lhs: inout Tensor, rhs: Tensor) { lhs = lhs + rhs }
    public static func -= (lhs: inout Tensor, rhs: Tensor) { lhs = lhs - rhs }
    public static func *= (lhs: inout Tensor, rhs: Tensor) { lhs = lhs * rhs }
    public static func *= (lhs: inout Tensor, rhs: Float) { lhs = lhs * rhs }
}
