import LoupeTensor

/// SmoothGrad and its variants: any gradient method averaged over noisy copies of the input
/// (Smilkov et al., 2017), Captum's `NoiseTunnel`.
///
/// Noise is Gaussian with standard deviation `noiseLevel · (max − min)` of each sample.
/// Noisy copies run through the model `batchSize` at a time.
public struct NoiseTunnel<Method: GradientMethod> {
    /// How the samples' attributions are combined.
    public enum Aggregation: String, Sendable {
        /// The mean (SmoothGrad).
        case smoothgrad
        /// The mean of squares (SmoothGrad²).
        case smoothgradSquared
        /// The variance (VarGrad).
        case vargrad
    }

    public var method: Method
    public var samples: Int
    public var noiseLevel: Float
    public var aggregation: Aggregation
    public var batchSize: Int
    public var seed: UInt64

    public init(_ method: Method, samples: Int = 50, noiseLevel: Float = 0.15, aggregation: Aggregation = .smoothgrad,
                batchSize: Int = 16, seed: UInt64 = 0) {
        self.method = method
        self.samples = samples
        self.noiseLevel = noiseLevel
        self.aggregation = aggregation
        self.batchSize = batchSize
        self.seed = seed
    }

    /// The aggregated attribution, shaped like `input`, with noise drawn from `seed`.
    public func attribute(_ model: (Tensor) -> Tensor, input: Tensor, target: ExplanationTarget) -> Tensor {
        var generator = RandomGenerator(seed: seed)
        let count = input.shape[0]
        let ranges = (0..<count).map { index -> Float in
            let sample = input[index]
            return sample.max().scalar - sample.min().scalar
        }
        let deviation = Tensor(shape: [count] + Array(repeating: 1, count: input.rank - 1), scalars: ranges) * noiseLevel
        let noise = (0..<samples).map { _ in Tensor.normal(input.shape, generator: &generator) * deviation }
        return attribute(model, input: input, target: target, noise: noise)
    }

    /// The aggregated attribution for given noise tensors (each shaped like `input`), for
    /// reproducing another implementation's draws exactly.
    public func attribute(_ model: (Tensor) -> Tensor, input: Tensor, target: ExplanationTarget,
                          noise: [Tensor]) -> Tensor {
        precondition(!noise.isEmpty && noise.allSatisfy { $0.shape == input.shape },
                     "NoiseTunnel: noise must be a non-empty list of tensors shaped like the input \(input.shape)")
        var sum = Tensor.zeros(input.shape), sumOfSquares = Tensor.zeros(input.shape)
        let count = input.shape[0]
        // Several noisy copies of the whole batch go through the model together.
        let copiesPerBatch = Swift.max(1, batchSize / Swift.max(count, 1))
        for start in stride(from: 0, to: noise.count, by: copiesPerBatch) {
            let chunk = Array(noise[start..<Swift.min(start + copiesPerBatch, noise.count)])
            let noisy = Tensor.concatenate(chunk.map { input + $0 }, along: 0)
            let attributions = method.attribute(model, input: noisy, target: target.repeated(chunk.count))
            for copy in 0..<chunk.count {
                let part = attributions.slice(along: 0, from: copy * count, to: (copy + 1) * count)
                sum = sum + part
                sumOfSquares = sumOfSquares + part * part
            }
        }
        let n = Float(noise.count)
        switch aggregation {
        case .smoothgrad: return sum / n
        case .smoothgradSquared: return sumOfSquares / n
        case .vargrad: return sumOfSquares / n - (sum / n) * (sum / n)
        }
    }
}
