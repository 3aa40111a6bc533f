import LoupeNN
import LoupeTensor

/// Feature visualization by activation maximization: gradient ascent on the input with the
/// weights frozen, using Adam, to find the pattern a channel or a class responds to
/// (Erhan et al., 2009; for classes, Simonyan et al.'s class model visualization, 2014).
///
/// Regularizers, each optional: L2 decay of the image, random jitter (the image is rolled by up to
/// `jitter` pixels before each step), a Gaussian blur every `blurEvery` steps, and clipping to the
/// valid input range.
public struct ActivationMaximization {
    /// What to maximize, per sample of the optimized batch.
    public enum Objective {
        /// The mean activation of a channel of the module at `layer`; one channel per sample.
        case channels(layer: String, channels: [Int])
        /// The model's output (class score, no softmax) at one class per sample.
        case classes([Int])
    }

    public var steps = 200
    public var learningRate: Float = 0.05
    public var l2Decay: Float = 1e-4
    public var jitter = 2
    public var blurEvery = 4
    public var blurSigma: Float = 0.5
    /// The valid range of input values (pixels 0...1 after the model's normalization).
    public var valueRange: ClosedRange<Float>
    public var seed: UInt64 = 0

    public init(valueRange: ClosedRange<Float>) {
        self.valueRange = valueRange
    }

    /// Optimizes `start` `[N, C, H, W]` (one sample per channel or class) and returns the images
    /// and the mean objective before each step.
    public func run(_ model: Module, objective: Objective, start: Tensor) throws -> (images: Tensor, objectives: [Float]) {
        let count = start.shape[0]
        switch objective {
        case .channels(_, let channels):
            precondition(channels.count == count, "one channel per sample: \(channels.count) for \(count)")
        case .classes(let classes): precondition(classes.count == count, "one class per sample: \(classes.count) for \(count)")
        }
        var generator = RandomGenerator(seed: seed)
        var optimizer = Adam(learningRate: learningRate)
        let image = Parameter(start.clamped(min: valueRange.lowerBound, max: valueRange.upperBound))
        var objectives: [Float] = []
        model.setTraining(false)
        for step in 0..<steps {
            let shiftRows = jitter > 0 ? Int(generator.next() % UInt64(2 * jitter + 1)) - jitter : 0
            let shiftColumns = jitter > 0 ? Int(generator.next() % UInt64(2 * jitter + 1)) - jitter : 0
            var value: Float = 0
            let (_, gradient) = try valueWithGradient(at: image.value) { x -> Tensor in
                let shifted = x.rolled(by: shiftRows, along: 2).rolled(by: shiftColumns, along: 3)
                let score = try self.score(model, objective, shifted)
                value = score.scalar / Float(count)
                return score - (x * x).sum() * l2Decay
            }
            objectives.append(value)
            // Adam minimizes, so it is handed the negative gradient to ascend.
            optimizer.step([image], gradients: [-gradient])
            var next = image.value
            if blurEvery > 0 && (step + 1) % blurEvery == 0 && Swift.min(next.shape[2], next.shape[3]) > 3 {
                next = next.gaussianBlurred(sigma: blurSigma, kernelSize: 3)
            }
            image.value = next.clamped(min: valueRange.lowerBound, max: valueRange.upperBound)
        }
        return (image.value, objectives)
    }

    private func score(_ model: Module, _ objective: Objective, _ x: Tensor) throws -> Tensor {
        switch objective {
        case .classes(let classes):
            return ExplanationTarget.classes(classes).scores(model(x)).sum()
        case .channels(let layer, let channels):
            let (_, taps) = try model.withTaps([layer], gradients: true) { model(x) }
            guard let activation = taps[layer], activation.rank == 4 else {
                throw ExplanationError("layer '\(layer)' has no [N, C, h, w] output to maximize")
            }
            if let outside = channels.first(where: { !(0..<activation.shape[1]).contains($0) }) {
                throw ExplanationError(
                    "channel \(outside) is outside layer '\(layer)', which has channels 0...\(activation.shape[1] - 1)")
            }
            let selection = Tensor.oneHot(channels, classes: activation.shape[1]).reshaped([
                channels.count, activation.shape[1], 1, 1,
            ])
            return (activation * selection).mean(alongAxes: [2, 3]).sum()
        }
    }
}
