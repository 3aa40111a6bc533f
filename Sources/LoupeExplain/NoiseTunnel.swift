@_spi(Engine) import LoupeTensor

/// SmoothGrad and its variants: any gradient method averaged over noisy copies of the input
/// (Smilkov et al., 2017), Captum's `NoiseTunnel`.
///
/// Noise is Gaussian with standard deviation `noiseLevel · (max − min)` of each sample.
/// Noisy copies run through the model at most `batchSize` images at a time.
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

    public init(
        _ method: Method, samples: Int = 50, noiseLevel: Float = 0.15, aggregation: Aggregation = .smoothgrad,
        batchSize: Int = 4, seed: UInt64 = 0
    ) {
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
    public func attribute(
        _ model: (Tensor) -> Tensor, input: Tensor, target: ExplanationTarget,
        noise: [Tensor]
    ) -> Tensor {
        precondition(
            !noise.isEmpty && noise.allSatisfy { $0.shape == input.shape },
            "NoiseTunnel: noise must be a non-empty list of tensors shaped like the input \(input.shape)")
        return attribute(model, copies: noise.map { input + $0 }, target: target)
    }

    /// The aggregated attribution over perturbed copies of the input (each shaped like it).
    public func attribute(_ model: (Tensor) -> Tensor, copies: [Tensor], target: ExplanationTarget) -> Tensor {
        let count = copies[0].shape[0]
        // A pass holds at most `batchSize` images: several copies of the whole batch, or, for a
        // batch larger than that (and per-sample targets), one copy of part of it.
        var samplesPerPass = count
        if count > batchSize, case .classes = target { samplesPerPass = Swift.max(1, batchSize) }
        let copiesPerPass = Swift.max(1, batchSize / samplesPerPass)
        var sums: [Tensor] = [], sumsOfSquares: [Tensor] = []
        for first in stride(from: 0, to: count, by: samplesPerPass) {
            let samples = first..<Swift.min(first + samplesPerPass, count)
            let part =
                samples.count == count
                ? copies : copies.map { $0.slice(along: 0, from: samples.lowerBound, to: samples.upperBound) }
            var shape = copies[0].shape
            shape[0] = samples.count
            var sum = Tensor.zeros(shape), sumOfSquares = Tensor.zeros(shape)
            // Several copies go through the model together, on convolutions that keep no weight
            // copy per batch shape: the input gradient's Winograd copies (up to four times the
            // 3×3 weights, one per shape: the passes and a shorter last one) would stay for the
            // whole method, raising its peak memory, and a one-shot run would pay for making them.
            for start in stride(from: 0, to: part.count, by: copiesPerPass) {
                let chunk = Array(part[start..<Swift.min(start + copiesPerPass, part.count)])
                let attributions = withShapeVaryingConvolutions {
                    method.attribute(
                        model, input: Tensor.concatenate(chunk, along: 0),
                        target: target.subset(samples).repeated(chunk.count))
                }
                for copy in 0..<chunk.count {
                    let piece = attributions.slice(along: 0, from: copy * samples.count, to: (copy + 1) * samples.count)
                    sum = sum + piece
                    sumOfSquares = sumOfSquares + piece * piece
                }
            }
            sums.append(sum)
            sumsOfSquares.append(sumOfSquares)
        }
        let (sum, sumOfSquares) = (Tensor.concatenate(sums, along: 0), Tensor.concatenate(sumsOfSquares, along: 0))
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
    public func attribute(
        _ model: (Tensor) -> Tensor, input: Tensor, target: ExplanationTarget,
        blurSigmas sigmas: [Float]
    ) -> Tensor {
        precondition(input.rank == 4 && !sigmas.isEmpty, "blur averaging needs [N, C, H, W] input and at least one sigma")
        let largestKernel = 2 * (Swift.min(input.shape[2], input.shape[3]) - 1) - 1
        let copies = sigmas.map { sigma in
            input.gaussianBlurred(sigma: sigma, kernelSize: Swift.min(2 * Int((3 * sigma).rounded(.up)) + 1, largestKernel))
        }
        return attribute(model, copies: copies, target: target)
    }
}

extension AttributionMethod {
    public static let smoothgrad = noiseTunnel(
        .smoothgrad, name: "smoothgrad", summary: "saliency averaged over noisy copies of the input (Smilkov et al., 2017)")
    public static let smoothgradSquared = noiseTunnel(
        .smoothgradSquared, name: "smoothgrad-squared", summary: "the mean of squared saliency over noisy copies of the input",
        isInDefaultReport: false)
    public static let vargrad = noiseTunnel(
        .vargrad, name: "vargrad", summary: "the variance of saliency over noisy copies of the input (Adebayo et al., 2018)",
        isInDefaultReport: false)

    public static let blurSaliency = AttributionMethod(
        name: "blur-saliency", summary: "saliency averaged over Gaussian-blurred copies of the input", settings: [.sigmas],
        isInDefaultReport: false
    ) { context in
        let sigmas = context.options.sigmas
        guard !sigmas.isEmpty, sigmas.allSatisfy({ $0 > 0 }) else {
            throw ExplanationError("blur-saliency needs positive standard deviations, e.g. 1,3,9,27")
        }
        return Result(
            attribution: NoiseTunnel(Saliency()).attribute(
                { context.model($0) }, input: context.input, target: context.target, blurSigmas: sigmas))
    }

    /// Saliency through a noise tunnel aggregating as `aggregation`. Its noise is drawn for the
    /// whole batch, so the batch is never split.
    static func noiseTunnel(
        _ aggregation: NoiseTunnel<Saliency>.Aggregation, name: String, summary: String, isInDefaultReport: Bool = true
    ) -> AttributionMethod {
        AttributionMethod(
            name: name, summary: summary, settings: [.samples, .noise, .seed], samplesAreIndependent: false,
            isInDefaultReport: isInDefaultReport
        ) { context in
            let options = context.options
            guard options.samples >= 1 else { throw ExplanationError("\(name) needs at least 1 sample; got \(options.samples)") }
            let tunnel = NoiseTunnel(
                Saliency(), samples: options.samples, noiseLevel: options.noise, aggregation: aggregation, seed: options.seed)
            return Result(attribution: tunnel.attribute({ context.model($0) }, input: context.input, target: context.target))
        }
    }
}
