import LoupeTensor
import Testing

/// A convolution with its epilogue (per-channel affine map, residual addition, ReLU) fused into
/// one oneDNN primitive must equal the same ops run one by one, forward and backward.
@Suite("Fused convolution epilogues")
struct FusionTests {
    struct Geometry: Sendable, CustomTestStringConvertible {
        let name: String
        let input: [Int], weight: [Int]
        let stride: Int, padding: Int
        var testDescription: String { name }
    }

    static let geometries = [
        // 3×3 stride 1, 64 channels: Winograd, and the input gradient through the flipped kernel.
        Geometry(name: "3×3 64→64", input: [2, 64, 10, 10], weight: [64, 64, 3, 3], stride: 1, padding: 1),
        // 1×1 stride 2, channel-blocked layout.
        Geometry(name: "1×1 stride 2 32→16", input: [1, 32, 8, 7], weight: [16, 32, 1, 1], stride: 2, padding: 0),
        // Few channels: plain layouts.
        Geometry(name: "3×3 3→5", input: [1, 3, 6, 5], weight: [5, 3, 3, 3], stride: 1, padding: 1),
    ]

    struct Operands {
        let x: Tensor, weight: Tensor, bias: Tensor, scale: Tensor, shift: Tensor, addend: Tensor, seed: Tensor
        let stride: Size2D, padding: Size2D

        init(_ geometry: Geometry, seed: UInt64) {
            var generator = RandomGenerator(seed: seed)
            x = Tensor.normal(geometry.input, generator: &generator)
            weight = Tensor.normal(geometry.weight, standardDeviation: 0.2, generator: &generator)
            let outputs = geometry.weight[0]
            bias = Tensor.normal([outputs], generator: &generator)
            scale = Tensor.uniform([outputs], low: 0.5, high: 2, generator: &generator)
            shift = Tensor.normal([outputs], generator: &generator)
            stride = Size2D(integerLiteral: geometry.stride)
            padding = Size2D(integerLiteral: geometry.padding)
            let size = { (extent: Int, kernel: Int) in (extent + 2 * geometry.padding - kernel) / geometry.stride + 1 }
            let output = [
                geometry.input[0], outputs, size(geometry.input[2], geometry.weight[2]),
                size(geometry.input[3], geometry.weight[3]),
            ]
            addend = Tensor.normal(output, generator: &generator)
            self.seed = Tensor.normal(output, generator: &generator)
        }

        /// The ops one by one.
        func unfused(_ x: Tensor, _ addend: Tensor, affine: Bool, add: Bool, activation: ConvolutionActivation?) -> Tensor {
            var y = x.convolved2D(with: weight, bias: bias, stride: stride, padding: padding)
            if affine { y = y.channelAffine(scale: scale, shift: shift) }
            if add { y = y + addend }
            return activation?.apply(to: y) ?? y
        }

        func fused(_ x: Tensor, _ addend: Tensor, affine: Bool, add: Bool, activation: ConvolutionActivation?) -> Tensor {
            x.convolved2D(
                with: weight, bias: bias, stride: stride, padding: padding,
                then: ConvolutionEpilogue(
                    channelAffine: affine ? (scale, shift) : nil, adding: add ? addend : nil, activation: activation))
        }
    }

    @Test(arguments: geometries)
    func fusedEqualsTheOpsInTurn(_ geometry: Geometry) {
        let operands = Operands(geometry, seed: 31)
        // ReLU and ReLU6 fuse under gradients too; SiLU and hardswish only without (with, the
        // convolution falls back to the ops in turn).
        let cases: [(Bool, Bool, ConvolutionActivation?)] = [
            (true, true, .relu), (true, false, .relu), (false, false, .relu), (true, true, nil), (false, true, nil),
            (true, true, .relu6), (true, false, .relu6), (true, false, .silu), (true, true, .hardswish), (false, false, .silu),
        ]
        for (affine, add, activation) in cases {
            let what = "affine \(affine), add \(add), \(activation.map { "\($0)" } ?? "no activation")"
            let expected = withoutGradients {
                operands.unfused(operands.x, operands.addend, affine: affine, add: add, activation: activation)
            }
            let actual = withoutGradients {
                operands.fused(operands.x, operands.addend, affine: affine, add: add, activation: activation)
            }
            expectClose(actual, expected, tolerance: 1e-5, "forward, \(what)")
            for rule in [ReLUBackwardRule.standard, .guided, .deconvnet] {
                let (x, addend) = (operands.x.trackingGradients(), operands.addend.trackingGradients())
                let points = add ? [x, addend] : [x]
                let expectedGradients = withReLUBackwardRule(rule) {
                    gradients(
                        of: operands.unfused(x, addend, affine: affine, add: add, activation: activation), at: points,
                        seed: operands.seed)
                }
                let actualGradients = withReLUBackwardRule(rule) {
                    gradients(
                        of: operands.fused(x, addend, affine: affine, add: add, activation: activation), at: points,
                        seed: operands.seed)
                }
                for (actualGradient, expectedGradient) in zip(actualGradients, expectedGradients) {
                    expectClose(actualGradient, expectedGradient, tolerance: 1e-5, "gradient, \(what), \(rule)")
                }
            }
        }
    }

    @Test func theFoldedWeightFollowsChangesToTheScaleAndTheWeight() {
        let operands = Operands(FusionTests.geometries[0], seed: 32)
        var weight = operands.weight
        func both(_ scale: Tensor) -> (fused: Tensor, unfused: Tensor) {
            withoutGradients {
                (
                    operands.x.convolved2D(
                        with: weight, padding: 1, then: ConvolutionEpilogue(channelAffine: (scale, operands.shift))),
                    operands.x.convolved2D(with: weight, padding: 1).channelAffine(scale: scale, shift: operands.shift)
                )
            }
        }
        var result = both(operands.scale)
        expectClose(result.fused, result.unfused, "first scale")
        // Another scale with the same weight: a fold of its own.
        result = both(operands.scale * 3)
        expectClose(result.fused, result.unfused, "second scale")
        // The weight written in place: the fold made from the old values is dropped.
        weight.withUnsafeMutableBufferPointer { values in
            for index in values.indices { values[index] *= -2 }
        }
        result = both(operands.scale * 3)
        expectClose(result.fused, result.unfused, "weight written in place")
    }

    @Test func trackedParametersGetTheirGradientsThroughTheOpsInTurn() {
        let operands = Operands(FusionTests.geometries[1], seed: 33)
        let (weight, scale) = (operands.weight.trackingGradients(), operands.scale.trackingGradients())
        let fused = operands.x.convolved2D(
            with: weight, bias: operands.bias, stride: operands.stride,
            then: ConvolutionEpilogue(
                channelAffine: (scale, operands.shift), adding: operands.addend, activation: .relu))
        let unfused =
            (operands.x.convolved2D(with: weight, bias: operands.bias, stride: operands.stride)
            .channelAffine(scale: scale, shift: operands.shift) + operands.addend).relu()
        let actual = gradients(of: fused, at: [weight, scale], seed: operands.seed)
        let expected = gradients(of: unfused, at: [weight, scale], seed: operands.seed)
        expectClose(actual[0], expected[0], "weight gradient")
        expectClose(actual[1], expected[1], "scale gradient")
    }
}
