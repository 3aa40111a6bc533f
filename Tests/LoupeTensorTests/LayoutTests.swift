import LoupeTensor
import Testing

/// Convolution outputs stay in oneDNN's channel-blocked layout (nChw16c) until something reads
/// them in row-major order; elementwise ops and per-channel affine maps run in that layout. Every
/// result must equal the same computation on row-major copies (`Tensor(shape:scalars:)` is plain).
@Suite("Blocked activation layouts")
struct LayoutTests {
    func plain(_ tensor: Tensor) -> Tensor { Tensor(shape: tensor.shape, scalars: tensor.scalars) }

    func maximumDifference(_ a: Tensor, _ b: Tensor) -> Float {
        #expect(a.shape == b.shape)
        return zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0
    }

    @Test func elementwiseOpsInTheBlockedLayoutEqualRowMajorOnes() {
        var generator = RandomGenerator(seed: 21)
        let x = Tensor.normal([2, 16, 7, 5], generator: &generator)
        let w1 = Tensor.normal([32, 16, 3, 3], standardDeviation: 0.1, generator: &generator)
        let w2 = Tensor.normal([32, 16, 1, 1], standardDeviation: 0.1, generator: &generator)
        let scale = Tensor.normal([32], generator: &generator), shift = Tensor.normal([32], generator: &generator)
        let other = Tensor.normal([2, 32, 7, 5], generator: &generator)
        withoutGradients {
            let a = x.convolved2D(with: w1, padding: 1), b = x.convolved2D(with: w2)
            let (plainA, plainB) = (plain(a), plain(b))
            // Each op on blocked operands (and mixed with a row-major one) against row-major operands.
            #expect(maximumDifference(a.relu(), plainA.relu()) == 0)
            #expect(maximumDifference(a + b, plainA + plainB) == 0)
            #expect(maximumDifference(a * other, plainA * other) == 0)
            #expect(maximumDifference(other - a, other - plainA) == 0)
            #expect(
                maximumDifference(
                    a.channelAffine(scale: scale, shift: shift),
                    plainA.channelAffine(scale: scale, shift: shift)) == 0)
            // A reshaped blocked tensor is read row-major.
            #expect(a.reshaped([2, 32 * 35]).scalars == plainA.reshaped([2, 32 * 35]).scalars)
            #expect(maximumDifference((a.relu() + b).reshaped([2, 1120]), (plainA.relu() + plainB).reshaped([2, 1120])) == 0)
        }
    }

    /// Squeeze-excitation's ops: each channel's mean, then the input scaled by a per-channel gate.
    @Test func perChannelOpsAndChannelMeansInTheBlockedLayoutEqualRowMajorOnes() {
        var generator = RandomGenerator(seed: 26)
        let x = Tensor.normal([2, 16, 5, 7], generator: &generator)
        let w = Tensor.normal([32, 16, 3, 3], standardDeviation: 0.1, generator: &generator)
        let perSample = Tensor.normal([2, 32, 1, 1], generator: &generator)
        let shared = Tensor.normal([1, 32, 1, 1], generator: &generator)
        let seed = Tensor.normal([2, 32, 5, 7], generator: &generator)
        withoutGradients {
            let a = x.convolved2D(with: w, padding: 1)
            let plainA = plain(a)
            for factor in [perSample, shared] {
                #expect(maximumDifference(a * factor, plainA * factor) == 0)
                #expect(maximumDifference(factor - a, factor - plainA) == 0)
                #expect(maximumDifference(a / factor, plainA / factor) == 0)
            }
            #expect(maximumDifference(a.sum(alongAxes: [2, 3]), plainA.sum(alongAxes: [2, 3])) < 1e-5)
            #expect(maximumDifference(a.globalAveragePooled2D(), plainA.globalAveragePooled2D()) < 1e-6)
            #expect(
                maximumDifference(
                    a.adaptiveAveragePooled2D(outputSize: 1), plainA.adaptiveAveragePooled2D(outputSize: 1)) < 1e-6)
        }
        // And the gradients through a squeeze-excitation block, blocked and row-major.
        func block(_ input: Tensor, rowMajor: Bool) -> Tensor {
            let features = input.convolved2D(with: w, padding: 1)
            let read = rowMajor ? features * Tensor.ones([1]) : features
            return read * read.globalAveragePooled2D().sigmoid()
        }
        let input = x.trackingGradients()
        let blocked = gradients(of: block(input, rowMajor: false), at: [input], seed: seed)[0]
        let reference = gradients(of: block(input, rowMajor: true), at: [input], seed: seed)[0]
        #expect(maximumDifference(blocked, reference) < 1e-5)
    }

    @Test func writingABlockedTensorInPlaceKeepsTheOtherValues() {
        var generator = RandomGenerator(seed: 22)
        let x = Tensor.normal([1, 16, 4, 4], generator: &generator)
        let w = Tensor.normal([16, 16, 1, 1], generator: &generator)
        var y = withoutGradients { x.convolved2D(with: w) }
        let before = y.scalars
        y.withUnsafeMutableBufferPointer { $0[5] = 100 }
        var expected = before
        expected[5] = 100
        #expect(y.scalars == expected)
        // And the changed values are what the next convolution reads.
        let next = withoutGradients { y.convolved2D(with: w) }
        #expect(maximumDifference(next, withoutGradients { plain(y).convolved2D(with: w) }) == 0)
    }

    @Test func gradientsThroughBlockedActivationsEqualRowMajorOnes() {
        var generator = RandomGenerator(seed: 23)
        let x = Tensor.normal([1, 16, 6, 6], generator: &generator)
        let w1 = Tensor.normal([32, 16, 3, 3], standardDeviation: 0.1, generator: &generator)
        let w2 = Tensor.normal([16, 32, 3, 3], standardDeviation: 0.1, generator: &generator)
        let scale = Tensor.normal([32], generator: &generator), shift = Tensor.normal([32], generator: &generator)
        let seed = Tensor.normal([1, 16, 6, 6], generator: &generator)
        // conv → affine → relu → conv + residual, once as is and once with every activation made
        // row-major (multiplying by a broadcast 1 is exact and runs on row-major buffers).
        func network(_ input: Tensor, rowMajor: Bool) -> Tensor {
            let step: (Tensor) -> Tensor = { rowMajor ? $0 * Tensor.ones([1]) : $0 }
            let hidden = step(
                step(step(input.convolved2D(with: w1, padding: 1)).channelAffine(scale: scale, shift: shift)).relu())
            return step(step(hidden.convolved2D(with: w2, padding: 1)) + input)
        }
        let input = x.trackingGradients()
        let blocked = gradients(of: network(input, rowMajor: false), at: [input], seed: seed)[0]
        let reference = gradients(of: network(input, rowMajor: true), at: [input], seed: seed)[0]
        #expect(maximumDifference(blocked, reference) < 1e-6)
    }

    @Test func concatenatingAndSlicingBlockedChannelsEqualRowMajorOnes() {
        var generator = RandomGenerator(seed: 24)
        let x = Tensor.normal([2, 16, 5, 6], generator: &generator)
        let w1 = Tensor.normal([16, 16, 1, 1], generator: &generator), w2 = Tensor.normal([32, 16, 3, 3], generator: &generator)
        withoutGradients {
            let (a, b) = (x.convolved2D(with: w1), x.convolved2D(with: w2, padding: 1))
            let joined = Tensor.concatenate([a, b], along: 1)
            #expect(maximumDifference(joined, Tensor.concatenate([plain(a), plain(b)], along: 1)) == 0)
            // Feeding a convolution, and sliced back on block boundaries and off them.
            let w3 = Tensor.normal([16, 48, 1, 1], generator: &generator)
            #expect(
                maximumDifference(
                    joined.convolved2D(with: w3),
                    Tensor.concatenate([plain(a), plain(b)], along: 1).convolved2D(with: w3)) < 1e-5)
            for (start, end) in [(16, 48), (0, 16), (8, 40)] {
                #expect(
                    maximumDifference(
                        joined.slice(along: 1, from: start, to: end),
                        plain(joined).slice(along: 1, from: start, to: end)) == 0)
            }
        }
    }

    @Test func assembledRectanglesEqualCopiesByHandInEitherLayout() {
        var generator = RandomGenerator(seed: 25)
        let a = Tensor.normal([2, 32, 6, 7], generator: &generator), b = Tensor.normal([3, 32, 4, 5], generator: &generator)
        // Each: source (a or b), its item, top, left; the result's item, top, left; height, width.
        let copies: [[Int]] = [
            [0, 1, 0, 0, 0, 0, 0, 6, 7],
            [1, 2, 1, 2, 0, 3, 4, 3, 3],  // over the first copy
            [1, 0, 0, 0, 2, 1, 1, 4, 5],  // item 2 not covered whole: the rest is zero
            [0, 0, 2, 3, 2, 0, 2, 2, 4],  // overlaps the previous copy
            [1, 1, 3, 0, 2, 5, 0, 1, 5],
        ]  // item 1 gets no copy: all zero
        let shape = [3, 32, 6, 7]
        var expected = [Float](repeating: 0, count: shape.reduce(1, *))
        for copy in copies {
            let source = copy[0] == 0 ? a : b
            let values = source.scalars, (sourceHeight, sourceWidth) = (source.shape[2], source.shape[3])
            for channel in 0..<32 {
                for row in 0..<copy[7] {
                    for column in 0..<copy[8] {
                        let from = ((copy[1] * 32 + channel) * sourceHeight + copy[2] + row) * sourceWidth + copy[3] + column
                        expected[((copy[4] * 32 + channel) * 6 + copy[5] + row) * 7 + copy[6] + column] = values[from]
                    }
                }
            }
        }
        // The same sources row-major and channel-blocked (a 1×1 identity convolution's output).
        var identity = [Float](repeating: 0, count: 32 * 32)
        for channel in 0..<32 { identity[channel * 33] = 1 }
        let identityWeight = Tensor(shape: [32, 32, 1, 1], scalars: identity)
        withoutGradients {
            for sources in [[a, b], [a, b].map { $0.convolved2D(with: identityWeight) }] {
                let assembled = Tensor.assembled(
                    shape,
                    from: copies.map {
                        RectangleCopy(
                            from: sources[$0[0]], item: $0[1], top: $0[2], left: $0[3],
                            to: $0[4], top: $0[5], left: $0[6], height: $0[7], width: $0[8])
                    })
                #expect(assembled.shape == shape)
                #expect(assembled.scalars == expected)
            }
        }
    }
}
