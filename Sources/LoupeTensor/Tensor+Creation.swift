#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Tensor {
    /// A tensor of the given shape filled with `value`.
    public static func full(_ shape: [Int], value: Float) -> Tensor {
        Tensor(shape: shape, storage: TensorStorage(count: shape.reduce(1, *), repeating: value))
    }

    /// A tensor of zeros.
    public static func zeros(_ shape: [Int]) -> Tensor { full(shape, value: 0) }

    /// A tensor of ones.
    public static func ones(_ shape: [Int]) -> Tensor { full(shape, value: 1) }

    /// Evenly spaced values in `[start, end)` (like `torch.arange`).
    public static func arange(_ start: Float = 0, _ end: Float, step: Float = 1) -> Tensor {
        precondition(step != 0 && (end - start) / step >= 0,
                     "arange: step \(step) never leads from \(start) to \(end)")
        let count = Int(((end - start) / step).rounded(.up))
        return Tensor(shape: [count], scalars: (0..<count).map { start + Float($0) * step })
    }

    /// Values drawn uniformly from `[low, high)`.
    public static func uniform(
        _ shape: [Int], low: Float = 0, high: Float = 1, generator: inout RandomGenerator
    ) -> Tensor {
        var result = Tensor(uninitializedShape: shape)
        result.withUnsafeMutableBufferPointer { values in
            for index in values.indices { values[index] = generator.nextUniform(low: low, high: high) }
        }
        return result
    }

    /// Values drawn from a normal distribution.
    public static func normal(
        _ shape: [Int], mean: Float = 0, standardDeviation: Float = 1, generator: inout RandomGenerator
    ) -> Tensor {
        var result = Tensor(uninitializedShape: shape)
        result.withUnsafeMutableBufferPointer { values in
            // The generator's draws are sequential and cheap; the logarithm and cosine of each
            // value are most of the cost and run split across threads, giving the values
            // `nextNormal()` would, one by one.
            let draws = UnsafeMutablePointer<(UInt64, UInt64)>.allocate(capacity: values.count)
            defer { draws.deallocate() }
            for index in values.indices { draws[index] = (generator.next(), generator.next()) }
            let target = values.baseAddress!
            parallelRanges(values.count, grain: 8_192) { range in
                for index in range {
                    target[index] = mean + standardDeviation * RandomGenerator.normal(from: draws[index])
                }
            }
        }
        return result
    }

    /// `[indices.count, classes]` with a 1 at each row's index and 0 elsewhere.
    public static func oneHot(_ indices: [Int], classes: Int) -> Tensor {
        var values = [Float](repeating: 0, count: indices.count * classes)
        for (row, index) in indices.enumerated() {
            precondition(index >= 0 && index < classes, "oneHot: index \(index) is outside 0..<\(classes)")
            values[row * classes + index] = 1
        }
        return Tensor(shape: [indices.count, classes], scalars: values)
    }

    /// A tensor of zeros with this tensor's shape.
    public func zerosLike() -> Tensor { Tensor.zeros(shape) }
}

/// A small, fast, seedable pseudo-random generator (xoshiro256**, seeded through SplitMix64).
///
/// The same seed gives the same sequence on every platform.
public struct RandomGenerator: RandomNumberGenerator, Sendable {
    private var state: (UInt64, UInt64, UInt64, UInt64)

    /// Creates a generator whose sequence is fixed by `seed`.
    public init(seed: UInt64) {
        var mixer = seed
        func splitMix() -> UInt64 {
            mixer &+= 0x9E37_79B9_7F4A_7C15
            var z = mixer
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(), splitMix(), splitMix(), splitMix())
    }

    public mutating func next() -> UInt64 {
        let result = rotate(state.1 &* 5, 7) &* 9
        let shifted = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= shifted
        state.3 = rotate(state.3, 45)
        return result
    }

    private func rotate(_ value: UInt64, _ amount: UInt64) -> UInt64 {
        (value << amount) | (value >> (64 - amount))
    }

    /// A value in `[low, high)`.
    public mutating func nextUniform(low: Float = 0, high: Float = 1) -> Float {
        let unit = Float(next() >> 40) * (1.0 / Float(1 << 24))
        return low + (high - low) * unit
    }

    /// A standard normal value (Box–Muller).
    public mutating func nextNormal() -> Float {
        RandomGenerator.normal(from: (next(), next()))
    }

    /// The standard normal value Box–Muller makes of two successive draws.
    static func normal(from draws: (UInt64, UInt64)) -> Float {
        let u1 = Double(draws.0 >> 11) * (1.0 / Double(1 << 53))
        let u2 = Double(draws.1 >> 11) * (1.0 / Double(1 << 53))
        let radius = (-2 * log(Swift.max(u1, Double.leastNonzeroMagnitude))).squareRoot()
        return Float(radius * cos(2 * Double.pi * u2))
    }
}
