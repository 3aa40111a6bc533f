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
                batchSize: Int = 4, seed: UInt64 = 0) {
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
        return attribute(model, copies: noise.map { input + $0 }, target: target)
    }

    /// The aggregated attribution over perturbed copies of the input (each shaped like it).
    public func attribute(_ model: (Tensor) -> Tensor, copies: [Tensor], target: ExplanationTarget) -> Tensor {
        let shape = copies[0].shape
        var sum = Tensor.zeros(shape), sumOfSquares = Tensor.zeros(shape)
        let count = shape[0]
        // Several copies of the whole batch go through the model together, on convolutions that
        // keep no weight copy per batch shape: the input gradient's Winograd copies (4× the 3×3
        // weights, one per shape: the passes and a shorter last one) would stay for the whole
        // method. Without them vgg16 SmoothGrad peaked at 1.71 GB instead of 2.08, 8.3 s instead
        // of 8.9–10.3 in a single run, the same time warm (the weight is transformed per pass).
        let copiesPerBatch = Swift.max(1, batchSize / Swift.max(count, 1))
        for start in stride(from: 0, to: copies.count, by: copiesPerBatch) {
            let chunk = Array(copies[start..<Swift.min(start + copiesPerBatch, copies.count)])
            let attributions = withShapeVaryingConvolutions {
                method.attribute(model, input: Tensor.concatenate(chunk, along: 0), target: target.repeated(chunk.count))
            }
            for copy in 0..<chunk.count {
                let part = attributions.slice(along: 0, from: copy * count, to: (copy + 1) * count)
                sum = sum + part
                sumOfSquares = sumOfSquares + part * part
            }
        }
        let n = Float(copies.count)
        switch aggregation {
        case .smoothgrad: return sum / n
        case .smoothgradSquared: return sumOfSquares / n
        case .vargrad: return sumOfSquares / n - (sum / n) * (sum / n)
        }
    }

    /// The mean attribution over Gaussian-blurred copies of `input` `[N, C, H, W]`, one per
    /// standard deviation in `sigmas` (pixels): blur-averaged saliency. Kernels are cut to fit
    /// the image (reflection padding needs them smaller than it).
    public func attribute(_ model: (Tensor) -> Tensor, input: Tensor, target: ExplanationTarget,
                          blurSigmas sigmas: [Float]) -> Tensor {
        precondition(input.rank == 4 && !sigmas.isEmpty, "blur averaging needs [N, C, H, W] input and at least one sigma")
        let largestKernel = 2 * (Swift.min(input.shape[2], input.shape[3]) - 1) - 1
        let copies = sigmas.map { sigma in
            input.gaussianBlurred(sigma: sigma, kernelSize: Swift.min(2 * Int((3 * sigma).rounded(.up)) + 1, largestKernel))
        }
        return attribute(model, copies: copies, target: target)
    }
}
