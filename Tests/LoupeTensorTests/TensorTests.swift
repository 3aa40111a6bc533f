import Foundation
import LoupeTensor
import Testing

@Suite("Tensor basics")
struct TensorTests {
    @Test func creation() {
        #expect(Tensor.zeros([2, 3]).scalars == Array(repeating: 0, count: 6))
        #expect(Tensor.full([2], value: 7).scalars == [7, 7])
        #expect(Tensor.arange(0, 5).scalars == [0, 1, 2, 3, 4])
        #expect(Tensor.arange(1, 2, step: 0.25).scalars == [1, 1.25, 1.5, 1.75])
    }

    @Test func seededRandomIsReproducibleAndHasTheRightMoments() {
        var first = RandomGenerator(seed: 42), second = RandomGenerator(seed: 42)
        let a = Tensor.normal([10_000], mean: 1, standardDeviation: 2, generator: &first)
        let b = Tensor.normal([10_000], mean: 1, standardDeviation: 2, generator: &second)
        #expect(a.scalars == b.scalars)
        #expect(Swift.abs(a.mean().scalar - 1) < 0.06)
        #expect(Swift.abs(a.variance(alongAxes: [0]).scalar.squareRoot() - 2) < 0.06)
        var generator = RandomGenerator(seed: 7)
        let u = Tensor.uniform([10_000], low: -1, high: 3, generator: &generator)
        #expect(u.min().scalar >= -1 && u.max().scalar < 3)
        #expect(Swift.abs(u.mean().scalar - 1) < 0.05)
    }

    @Test func normalTensorsAreBoxMullerOfTheGeneratorsDrawsInOrder() {
        // Large enough to be split across threads, and not a whole number of 32-value blocks:
        // each block of 32 values is the 16 draws' first values, then their second values, each
        // within float rounding of Box–Muller in double precision; the generator is left after
        // the last block's draws.
        var whole = RandomGenerator(seed: 9), oneByOne = RandomGenerator(seed: 9)
        let count = 300_007
        let drawn = Tensor.normal([count], mean: -1, standardDeviation: 0.5, generator: &whole).scalars
        var largestError = 0.0
        for block in 0..<((count + 31) / 32) {
            for lane in 0..<16 {
                let draw = oneByOne.next()
                let u = 1 - Double(draw >> 41) / 8_388_608
                let angle = 2 * Double.pi * Double((draw & 0xFFFF_FFFF) >> 8) / 16_777_216
                let radius = (-2 * log(u)).squareRoot()
                for (offset, value) in [(0, radius * cos(angle)), (16, radius * sin(angle))]
                where block * 32 + offset + lane < count {
                    largestError = Swift.max(
                        largestError, Swift.abs(Double(drawn[block * 32 + offset + lane]) - (-1 + 0.5 * value)))
                }
            }
        }
        #expect(largestError < 2e-6)
        #expect(whole.next() == oneByOne.next())
        var scalar = RandomGenerator(seed: 9), reference = RandomGenerator(seed: 9)
        let pair = scalar.nextNormalPair(), block = Tensor.normal([32], generator: &reference).scalars
        #expect(pair.0 == block[0] && pair.1 == block[16])
    }

    @Test func normalValuesFollowTheStandardNormalDistribution() {
        // Kolmogorov–Smirnov distance to Φ over a million values (the 0.1% critical value is
        // 1.95/√n ≈ 0.002), and the tails' share against 2·(1 − Φ(3)) = 0.0027.
        var generator = RandomGenerator(seed: 3)
        let values = Tensor.normal([1_000_000], generator: &generator).scalars.sorted()
        var distance = 0.0
        for (index, value) in values.enumerated() where index % 97 == 0 {
            let phi = 0.5 * erfc(-Double(value) / 2.0.squareRoot())
            distance = Swift.max(
                distance, Swift.abs(phi - Double(index) / Double(values.count)),
                Swift.abs(phi - Double(index + 1) / Double(values.count)))
        }
        #expect(distance < 0.002)
        let tails = Double(values.count { Swift.abs($0) > 3 }) / Double(values.count)
        #expect(Swift.abs(tails - 0.0027) < 0.0004)
    }

    @Test func copyOnWrite() {
        let a = Tensor(shape: [2], scalars: [1, 2])
        var b = a
        b.withUnsafeMutableBufferPointer { $0[0] = 9 }
        #expect(a.scalars == [1, 2])
        #expect(b.scalars == [9, 2])
    }

    @Test func shapeOps() {
        let x = Tensor(shape: [2, 3], scalars: [0, 1, 2, 3, 4, 5])
        #expect(x.transposed().scalars == [0, 3, 1, 4, 2, 5])
        #expect(x.reshaped([3, -1]).shape == [3, 2])
        #expect(x[1].scalars == [3, 4, 5])
        #expect(x.slice(along: 1, from: 0, to: 3, step: 2).scalars == [0, 2, 3, 5])
        #expect(Tensor.concatenate([x, x], along: 1).scalars == [0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5])
        #expect(Tensor.stack([x[0], x[1]], along: 1).scalars == [0, 3, 1, 4, 2, 5])
        #expect(Tensor(shape: [3], scalars: [1, 2, 3]).padded([(2, 2)], mode: .reflect).scalars == [3, 2, 1, 2, 3, 2, 1])
        #expect(Tensor(shape: [2], scalars: [1, 2]).padded([(1, 2)], mode: .replicate).scalars == [1, 1, 2, 2, 2])
        #expect(Tensor(shape: [1], scalars: [5]).padded([(1, 1)], mode: .constant(-1)).scalars == [-1, 5, -1])
        #expect(x.permuted([1, 0]).shape == [3, 2])
        #expect(x.rolled(by: 1, along: 1).scalars == [2, 0, 1, 5, 3, 4])
        // The transposed view of the six elements, starting at element 0, and a column from 1.
        #expect(x.reshaped([6]).strided(shape: [3, 2], strides: [1, 3], offset: 0).scalars == [0, 3, 1, 4, 2, 5])
        #expect(x.reshaped([6]).strided(shape: [2], strides: [3], offset: 1).scalars == [1, 4])
        #expect(x.rolled(by: -4, along: 1).scalars == [1, 2, 0, 4, 5, 3])
        #expect(x.unsqueezed(at: 0).shape == [1, 2, 3])
        #expect(
            Tensor(shape: [2, 1], scalars: [1, 2]).broadcast(to: [2, 2, 3]).scalars == [1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2])
    }

    @Test func arithmeticBroadcastsLikeNumPy() {
        let x = Tensor(shape: [2, 3], scalars: [0, 1, 2, 3, 4, 5])
        let row = Tensor(shape: [3], scalars: [10, 20, 30])
        let column = Tensor(shape: [2, 1], scalars: [100, 200])
        #expect((x + row).scalars == [10, 21, 32, 13, 24, 35])
        #expect((x * column).scalars == [0, 100, 200, 600, 800, 1000])
        #expect((row - column).shape == [2, 3])
        #expect((x / 2).scalars == [0, 0.5, 1, 1.5, 2, 2.5])
    }

    @Test func reductions() {
        let x = Tensor(shape: [2, 3], scalars: [1, 5, 2, 7, 0, 3])
        #expect(x.sum().scalar == 18)
        #expect(x.sum(along: 0).scalars == [8, 5, 5])
        #expect(x.mean(along: 1, keepingDimensions: true).shape == [2, 1])
        #expect(x.max(along: 1).scalars == [5, 7])
        #expect(x.min(along: 0).scalars == [1, 0, 2])
        #expect(x.argmax(along: 1) == [1, 0])
        #expect(x.argmax() == 3)
        // Unbiased variance of [1, 5, 2] is ((−5/3)² + (7/3)² + (−2/3)²)/2 = 13/3.
        #expect(Swift.abs(x.variance(alongAxes: [1]).scalars[0] - 13.0 / 3) < 1e-5)
        #expect(x.variance(alongAxes: [1], correction: 0).shape == [2])
    }

    @Test func comparisonsAndWhere() {
        let a = Tensor(shape: [3], scalars: [1, 2, 3])
        let b = Tensor(shape: [3], scalars: [3, 2, 1])
        #expect((a .> b).scalars == [0, 0, 1])
        #expect((a .== b).scalars == [0, 1, 0])
        #expect((a .<= 2).scalars == [1, 1, 0])
        #expect(Tensor.where(a .> b, a, b).scalars == [3, 2, 3])
        #expect(Tensor.maximum(a, b).scalars == [3, 2, 3])
        #expect(a.clamped(min: 1.5, max: 2.5).scalars == [1.5, 2, 2.5])
        #expect(Tensor(shape: [3], scalars: [-2, 0, 3]).sign().scalars == [-1, 0, 1])
    }

    @Test func dropoutKeepsExpectationAndZeroesAFraction() {
        var generator = RandomGenerator(seed: 3)
        let x = Tensor.ones([20_000])
        let dropped = x.dropout(probability: 0.25, generator: &generator)
        let zeros = dropped.scalars.filter { $0 == 0 }.count
        #expect(Swift.abs(Float(zeros) / 20_000 - 0.25) < 0.015)
        #expect(Swift.abs(dropped.mean().scalar - 1) < 0.02)
        #expect(Set(dropped.scalars).isSubset(of: [0, Float(1) / 0.75]))
    }

    @Test func largeElementwiseOpsSplitAcrossThreadsGiveTheSameAnswer() {
        // Large enough to run on several threads; compared with a plain loop.
        let x = randomNormal([300_000], seed: 11)
        let expected = x.scalars.map { $0 * 2 + 1 }
        #expect((x * 2 + 1).scalars == expected)
        let matrix = randomNormal([300, 1_000], seed: 12)
        let sums = matrix.sum(along: 1).scalars
        for row in [0, 150, 299] {
            let reference = matrix[row].scalars.reduce(0, +)
            #expect(Swift.abs(sums[row] - reference) < 1e-3)
        }
    }
}
