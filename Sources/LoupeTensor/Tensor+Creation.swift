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
        precondition(
            step != 0 && (end - start) / step >= 0,
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
    ///
    /// The generator's draws are taken 16 at a time, each giving two independent values (see
    /// ``RandomGenerator/nextNormalPair()``): a block of 32 values holds the 16 first values of
    /// the pairs, then the 16 second ones. A tensor of `n` values uses `16·⌈n / 32⌉` draws.
    public static func normal(
        _ shape: [Int], mean: Float = 0, standardDeviation: Float = 1, generator: inout RandomGenerator
    ) -> Tensor {
        var result = Tensor(uninitializedShape: shape)
        result.withUnsafeMutableBufferPointer { values in
            let blocks = (values.count + 31) / 32
            guard blocks > 0 else { return }
            // The draws are sequential and cheap; Box–Muller runs 16 lanes wide, split across
            // threads (SmoothGrad draws 7.5 M values per 224×224 image).
            let highs = UnsafeMutablePointer<SIMD16<UInt32>>.allocate(capacity: blocks)
            let lows = UnsafeMutablePointer<SIMD16<UInt32>>.allocate(capacity: blocks)
            defer { highs.deallocate(); lows.deallocate() }
            let highHalves = UnsafeMutableRawPointer(highs).assumingMemoryBound(to: UInt32.self)
            let lowHalves = UnsafeMutableRawPointer(lows).assumingMemoryBound(to: UInt32.self)
            for index in 0..<(16 * blocks) {
                let draw = generator.next()
                highHalves[index] = UInt32(draw >> 32)
                lowHalves[index] = UInt32(truncatingIfNeeded: draw)
            }
            let target = values.baseAddress!, count = values.count
            parallelRanges(blocks, grain: 1_024) { range in
                for block in range {
                    let (first, second) = RandomGenerator.normalPairs(high: highs[block], low: lows[block])
                    let start = block * 32
                    if start + 32 <= count {
                        UnsafeMutableRawPointer(target + start).storeBytes(
                            of: mean + standardDeviation * first, as: SIMD16<Float>.self)
                        UnsafeMutableRawPointer(target + start + 16).storeBytes(
                            of: mean + standardDeviation * second, as: SIMD16<Float>.self)
                    } else {
                        for index in start..<count {
                            let lane = (index - start) % 16
                            target[index] = mean + standardDeviation * (index - start < 16 ? first[lane] : second[lane])
                        }
                    }
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

    /// A standard normal value: the first of ``nextNormalPair()``'s two, from one draw.
    public mutating func nextNormal() -> Float {
        nextNormalPair().0
    }

    /// Two independent standard normal values from one draw (Box–Muller on its two halves:
    /// the radius from the high one, the angle from the low one; |value| < 5.7).
    public mutating func nextNormalPair() -> (Float, Float) {
        let draw = next()
        let (first, second) = RandomGenerator.normalPairs(
            high: SIMD16(repeating: UInt32(draw >> 32)),
            low: SIMD16(repeating: UInt32(truncatingIfNeeded: draw)))
        return (first[0], second[0])
    }

    /// Box–Muller on 16 draws at once, in single precision: `√(−2 ln u)·(cos θ, sin θ)` with
    /// `u = 1 − k/2²³` from the high half's top 23 bits and `θ = 2π·j/2²⁴` from the low half's
    /// top 24. Within 2·10⁻⁶ of the same formula in double precision (tested). Integer and
    /// floating-point arithmetic only, no lane-wise selection, so every step runs on vectors.
    static func normalPairs(high: SIMD16<UInt32>, low: SIMD16<UInt32>) -> (SIMD16<Float>, SIMD16<Float>) {
        typealias Lanes = SIMD16<Float>
        // u = 2 − f with f in [1, 2) made of 23 random mantissa bits: u in (0, 1], exactly.
        let u: Lanes = 2 - unsafeBitCast(0x3F80_0000 | (high &>> 9), to: Lanes.self)
        // ln u = e·ln 2 + ln m with m in [√½, √2) (the exponent split at √½ by an integer offset),
        // ln m = 2·atanh(t), t = (m − 1)/(m + 1), |t| < 0.172.
        let shifted = unsafeBitCast(u, to: SIMD16<Int32>.self) &- 0x3F35_04F3
        let m = unsafeBitCast((shifted & 0x7F_FFFF) &+ 0x3F35_04F3, to: Lanes.self)
        let exponent = exactFloat((shifted &>> 23) &+ 128) - 128
        let t: Lanes = (m - 1) / (m + 1)
        let t2 = t * t
        var series = Lanes(repeating: 1 / 9)
        series = series * t2 + 1 / 7
        series = series * t2 + 1 / 5
        series = series * t2 + 1 / 3
        series = series * t2 + 1
        let radius = squareRoot(-2 * (exponent * 0.693_147_18 + 2 * t * series))
        // θ = quarter·π/2 + x with the quarter turn split off exactly in integers, |x| ≤ π/4.
        let angle = SIMD16<Int32>(truncatingIfNeeded: low &>> 8)
        let quarter = (angle &+ (1 << 21)) &>> 22
        let x: Lanes = (exactFloat(angle &- (quarter &<< 22) &+ (1 << 21)) - 2_097_152) * (2 * Float.pi / 16_777_216)
        let x2 = x * x
        // Taylor series to x⁹ and x¹⁰: the next terms are below 4·10⁻⁸ at π/4.
        var sine = Lanes(repeating: 1 / 362_880), cosine = Lanes(repeating: -1 / 3_628_800)
        sine = sine * x2 - 1 / 5_040
        sine = sine * x2 + 1 / 120
        sine = sine * x2 - 1 / 6
        sine = (sine * x2 + 1) * x
        cosine = cosine * x2 + 1 / 40_320
        cosine = cosine * x2 - 1 / 720
        cosine = cosine * x2 + 1 / 24
        cosine = cosine * x2 - 1 / 2
        cosine = cosine * x2 + 1
        // Rotating (cos x, sin x) by the quarter turns: odd ones swap the two, and the signs
        // follow the quadrant; blends by 0/1 factors are exact.
        let odd = exactFloat(quarter & 1)
        let c = cosine * (1 - odd) + sine * odd, s = sine * (1 - odd) + cosine * odd
        let cosineSign = 1 - 2 * exactFloat(((quarter &+ 1) &>> 1) & 1), sineSign = 1 - 2 * exactFloat((quarter &>> 1) & 1)
        return (radius * c * cosineSign, radius * s * sineSign)
    }

    /// The float value of integers in `0..<2²³`, through the bit pattern of `2²³ + n`.
    @inline(__always)
    private static func exactFloat(_ n: SIMD16<Int32>) -> SIMD16<Float> {
        unsafeBitCast(n | 0x4B00_0000, to: SIMD16<Float>.self) - 8_388_608
    }

    /// `√a` for `a ≥ 0` by three Newton steps on `1/√a` from the bit-pattern estimate, in
    /// multiplications only (the lane-wise library square root calls `sqrtf` per lane).
    @inline(__always)
    private static func squareRoot(_ a: SIMD16<Float>) -> SIMD16<Float> {
        var y = unsafeBitCast(0x5F37_59DF &- (unsafeBitCast(a, to: SIMD16<Int32>.self) &>> 1), to: SIMD16<Float>.self)
        let half = 0.5 * a
        for _ in 0..<3 { y = y * (1.5 - half * y * y) }
        return a * y
    }
}
