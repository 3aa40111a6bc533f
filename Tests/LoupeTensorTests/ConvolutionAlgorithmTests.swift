@_spi(Engine) import LoupeTensor
import Testing

/// Convolutions that oneDNN runs with Winograd kernels (3×3, stride 1, 64+ channels, 196+ output
/// positions without gradients, 784+ with them) against a direct double-precision sum, and the
/// weight copies kept in oneDNN's formats.
@Suite("Convolution algorithms")
struct ConvolutionAlgorithmTests {
    /// `conv2d(x, w, padding 1)` summed directly in Double: [N, O, H, W].
    func directConvolution(_ x: Tensor, _ w: Tensor) -> [Double] {
        let (n, c, h, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let o = w.shape[0]
        let xs = x.scalars, ws = w.scalars
        var result = [Double](repeating: 0, count: n * o * h * width)
        for batch in 0..<n {
            for out in 0..<o {
                for row in 0..<h {
                    for column in 0..<width {
                        var sum = 0.0
                        for channel in 0..<c {
                            for i in 0..<3 {
                                for j in 0..<3 {
                                    let (r, q) = (row + i - 1, column + j - 1)
                                    guard r >= 0, r < h, q >= 0, q < width else { continue }
                                    sum +=
                                        Double(xs[((batch * c + channel) * h + r) * width + q])
                                        * Double(ws[((out * c + channel) * 3 + i) * 3 + j])
                                }
                            }
                        }
                        result[((batch * o + out) * h + row) * width + column] = sum
                    }
                }
            }
        }
        return result
    }

    func relativeError(_ computed: [Float], _ reference: [Double]) -> Double {
        let scale = reference.map(abs).max()!
        return zip(computed, reference).map { abs(Double($0) - $1) }.max()! / scale
    }

    @Test func winogradForwardMatchesADirectSum() {
        var generator = RandomGenerator(seed: 11)
        let x = Tensor.normal([2, 64, 12, 10], generator: &generator)
        let w = Tensor.normal([64, 64, 3, 3], standardDeviation: 0.05, generator: &generator)
        let reference = directConvolution(x, w)
        // Without gradients: a shape's first run transforms the weight per call, the second runs
        // the inference kernel on the copy made for the shape; plain and fused alike. With
        // gradients: the training kernel.
        for run in 1...2 {
            let (plain, fused) = withoutGradients {
                (
                    x.convolved2D(with: w, padding: 1),
                    x.convolved2D(with: w, padding: 1, then: ConvolutionEpilogue(activation: .relu))
                )
            }
            #expect(relativeError(plain.scalars, reference) < 1e-5, "run \(run)")
            #expect(relativeError(fused.scalars, reference.map { Swift.max($0, 0) }) < 1e-5, "run \(run)")
        }
        let training = x.trackingGradients().convolved2D(with: w, padding: 1)
        #expect(relativeError(training.scalars, reference) < 1e-5)
    }

    @Test(arguments: [[1, 64, 16, 16], [4, 64, 16, 16], [3, 64, 9, 11]])
    func shapeVaryingConvolutionsMatchADirectSum(_ shape: [Int]) {
        // Inside withShapeVaryingConvolutions no inference kernel runs: Winograd with a weight
        // transformed per call from 784 output positions, direct below; plain and fused alike.
        var generator = RandomGenerator(seed: 14)
        let x = Tensor.normal(shape, generator: &generator)
        let w = Tensor.normal([64, 64, 3, 3], standardDeviation: 0.05, generator: &generator)
        let reference = directConvolution(x, w)
        let (plain, fused) = withShapeVaryingConvolutions {
            withoutGradients {
                (
                    x.convolved2D(with: w, padding: 1),
                    x.convolved2D(with: w, padding: 1, then: ConvolutionEpilogue(activation: .relu))
                )
            }
        }
        #expect(relativeError(plain.scalars, reference) < 1e-5)
        #expect(relativeError(fused.scalars, reference.map { Swift.max($0, 0) }) < 1e-5)
    }

    @Test func winogradInputGradientMatchesADirectSum() {
        // The input gradient of Σ g·conv(x, w) is conv(g, w flipped and transposed).
        var generator = RandomGenerator(seed: 12)
        let x = Tensor.normal([1, 64, 14, 15], generator: &generator).trackingGradients()
        let w = Tensor.normal([64, 64, 3, 3], standardDeviation: 0.05, generator: &generator)
        let g = Tensor.normal([1, 64, 14, 15], generator: &generator)
        // Twice: the flipped kernel's first run transforms it per call, the second uses its copy.
        let inputGradients = (1...2).map { _ in gradients(of: x.convolved2D(with: w, padding: 1), at: [x], seed: g)[0] }
        // flipped[c][o][i][j] = w[o][c][2 − i][2 − j]
        let ws = w.scalars
        var flippedValues = [Float](repeating: 0, count: ws.count)
        for o in 0..<64 {
            for c in 0..<64 {
                for i in 0..<3 {
                    for j in 0..<3 {
                        flippedValues[((c * 64 + o) * 3 + i) * 3 + j] = ws[((o * 64 + c) * 3 + 2 - i) * 3 + 2 - j]
                    }
                }
            }
        }
        let flipped = Tensor(shape: [64, 64, 3, 3], scalars: flippedValues)
        let reference = directConvolution(g, flipped)
        for inputGradient in inputGradients { #expect(relativeError(inputGradient.scalars, reference) < 1e-5) }
    }

    @Test func aWeightChangedInPlaceIsReorderedAgain() {
        var generator = RandomGenerator(seed: 13)
        let x = Tensor.normal([1, 64, 14, 14], generator: &generator)
        var w = Tensor.normal([64, 64, 3, 3], standardDeviation: 0.05, generator: &generator)
        // Twice each: the second run of a shape uses (and first makes) the weight's kept copy.
        let before = withoutGradients { [x.convolved2D(with: w, padding: 1), x.convolved2D(with: w, padding: 1)] }
        w.withUnsafeMutableBufferPointer { values in
            for index in values.indices { values[index] *= 2 }
        }
        let after = withoutGradients { [x.convolved2D(with: w, padding: 1), x.convolved2D(with: w, padding: 1)] }
        for (old, new) in zip(before, after) {
            #expect(relativeError(new.scalars, directConvolution(x, w)) < 1e-5)
            #expect(zip(new.scalars, old.scalars).allSatisfy { abs($0 - 2 * $1) <= 1e-4 * max(1, abs($0)) })
        }
    }

    /// A 3×3 grouped convolution (padding 1) summed directly in Double, with its gradients for
    /// the output-gradient seed `g`: (output, input gradient, weight gradient).
    func directGroupedConvolution(
        _ x: Tensor, _ w: Tensor, groups: Int, stride: Int, seed g: Tensor
    ) -> (output: [Double], input: [Double], weight: [Double]) {
        let (n, c, h, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, groupInputs) = (w.shape[0], w.shape[1])
        let (oh, ow) = ((h - 1) / stride + 1, (width - 1) / stride + 1)
        let (xs, ws, gs) = (x.scalars, w.scalars, g.scalars)
        var output = [Double](repeating: 0, count: n * o * oh * ow)
        var input = [Double](repeating: 0, count: xs.count), weight = [Double](repeating: 0, count: ws.count)
        for batch in 0..<n {
            for out in 0..<o {
                let group = out / (o / groups)
                for row in 0..<oh {
                    for column in 0..<ow {
                        let outIndex = ((batch * o + out) * oh + row) * ow + column
                        for k in 0..<groupInputs {
                            let channel = group * groupInputs + k
                            for i in 0..<3 {
                                for j in 0..<3 {
                                    let (r, q) = (row * stride + i - 1, column * stride + j - 1)
                                    guard r >= 0, r < h, q >= 0, q < width else { continue }
                                    let xIndex = ((batch * c + channel) * h + r) * width + q
                                    let wIndex = ((out * groupInputs + k) * 3 + i) * 3 + j
                                    output[outIndex] += Double(xs[xIndex]) * Double(ws[wIndex])
                                    input[xIndex] += Double(gs[outIndex]) * Double(ws[wIndex])
                                    weight[wIndex] += Double(gs[outIndex]) * Double(xs[xIndex])
                                }
                            }
                        }
                    }
                }
            }
        }
        return (output, input, weight)
    }

    /// Groups narrower than the host's channel block run merged, with zeros between the groups'
    /// weights (`ConvolutionGeometry.groupMerge`): forward, fused forward, input and weight
    /// gradients still equal the grouped convolution, including after the weight changes.
    @Test(arguments: [
        (channels: 32, outputs: 32, groups: 8, stride: 1),  // 4 channels a group (ResNeXt's)
        (channels: 32, outputs: 32, groups: 16, stride: 2),  // 2 a group
        (channels: 32, outputs: 64, groups: 4, stride: 1),  // 8 in, 16 out
        (channels: 48, outputs: 48, groups: 6, stride: 1),  // 8 a group, 6 groups
    ])
    func narrowGroupsMatchADirectSum(channels: Int, outputs: Int, groups: Int, stride: Int) {
        var generator = RandomGenerator(seed: 15)
        let x = Tensor.normal([2, channels, 9, 10], generator: &generator)
        var w = Tensor.normal([outputs, channels / groups, 3, 3], standardDeviation: 0.2, generator: &generator)
        let g = Tensor.normal([2, outputs, (9 - 1) / stride + 1, (10 - 1) / stride + 1], generator: &generator)
        for scale in [Float(1), 2] {
            if scale != 1 {
                w.withUnsafeMutableBufferPointer { values in
                    for index in values.indices { values[index] *= scale }
                }
            }
            let reference = directGroupedConvolution(x, w, groups: groups, stride: stride, seed: g)
            for run in 1...2 {
                let (plain, fused) = withoutGradients {
                    (
                        x.convolved2D(with: w, stride: Size2D(stride, stride), padding: 1, groups: groups),
                        x.convolved2D(
                            with: w, stride: Size2D(stride, stride), padding: 1, groups: groups,
                            then: ConvolutionEpilogue(activation: .relu))
                    )
                }
                #expect(relativeError(plain.scalars, reference.output) < 1e-5, "run \(run), scale \(scale)")
                #expect(relativeError(fused.scalars, reference.output.map { Swift.max($0, 0) }) < 1e-5, "run \(run)")
            }
            let (tracked, weight) = (x.trackingGradients(), w.trackingGradients())
            let found = gradients(
                of: tracked.convolved2D(with: weight, stride: Size2D(stride, stride), padding: 1, groups: groups),
                at: [tracked, weight], seed: g)
            #expect(relativeError(found[0].scalars, reference.input) < 1e-5, "scale \(scale)")
            #expect(relativeError(found[1].scalars, reference.weight) < 1e-5, "scale \(scale)")
        }
    }

    /// A 1×1 convolution of a 1×1 input (squeeze-excitation's layers) runs as a matrix product:
    /// its output, fused ReLU and gradients for the input, weight and bias equal a direct sum.
    @Test func aFullyConnectedConvolutionMatchesADirectSum() {
        var generator = RandomGenerator(seed: 16)
        let x = Tensor.normal([3, 24, 1, 1], generator: &generator)
        let w = Tensor.normal([10, 24, 1, 1], standardDeviation: 0.3, generator: &generator)
        let b = Tensor.normal([10], generator: &generator)
        let g = Tensor.normal([3, 10, 1, 1], generator: &generator)
        let (xs, ws, bs, gs) = (
            x.scalars.map(Double.init), w.scalars.map(Double.init), b.scalars.map(Double.init), g.scalars.map(Double.init)
        )
        var output = [Double](repeating: 0, count: 30), inputGradient = [Double](repeating: 0, count: 72)
        var weightGradient = [Double](repeating: 0, count: 240), biasGradient = [Double](repeating: 0, count: 10)
        for item in 0..<3 {
            for out in 0..<10 {
                output[item * 10 + out] = bs[out]
                biasGradient[out] += gs[item * 10 + out]
                for channel in 0..<24 {
                    output[item * 10 + out] += ws[out * 24 + channel] * xs[item * 24 + channel]
                    inputGradient[item * 24 + channel] += gs[item * 10 + out] * ws[out * 24 + channel]
                    weightGradient[out * 24 + channel] += gs[item * 10 + out] * xs[item * 24 + channel]
                }
            }
        }
        let (plain, fused) = withoutGradients {
            (x.convolved2D(with: w, bias: b), x.convolved2D(with: w, bias: b, then: ConvolutionEpilogue(activation: .relu)))
        }
        #expect(plain.shape == [3, 10, 1, 1])
        #expect(relativeError(plain.scalars, output) < 1e-6)
        #expect(relativeError(fused.scalars, output.map { Swift.max($0, 0) }) < 1e-6)
        let (tracked, weight, bias) = (x.trackingGradients(), w.trackingGradients(), b.trackingGradients())
        let found = gradients(of: tracked.convolved2D(with: weight, bias: bias), at: [tracked, weight, bias], seed: g)
        #expect(found[0].shape == x.shape && found[1].shape == w.shape)
        #expect(relativeError(found[0].scalars, inputGradient) < 1e-6)
        #expect(relativeError(found[1].scalars, weightGradient) < 1e-6)
        #expect(relativeError(found[2].scalars, biasGradient) < 1e-6)
    }
}
