import LoupeNN
import LoupeTensor

/// Occlusion (Zeiler & Fergus, 2014), equal to Captum's `Occlusion` with
/// `sliding_window_shapes=(C, W, W)`, `strides=(C, S, S)` and a baseline.
///
/// Each window position replaces a W×W patch of every channel with the baseline; a pixel's
/// attribution is the mean, over the windows that cover it, of `F(x) − F(x with the patch
/// occluded)`. Occluded copies go through the model `batchSize` at a time.
public struct Occlusion {
    /// What fills an occluded patch.
    public enum Baseline: Sendable {
        /// A constant (Captum's scalar `baselines`).
        case value(Float)
        /// The image's per-channel mean.
        case mean
        /// The image blurred with a Gaussian of this standard deviation (pixels).
        case blur(Float)
    }

    public var window: Int
    public var stride: Int
    public var baseline: Baseline
    public var batchSize: Int

    public init(window: Int, stride: Int, baseline: Baseline = .value(0), batchSize: Int = 32) {
        precondition(window > 0 && stride > 0, "Occlusion: window and stride must be positive")
        self.window = window
        self.stride = stride
        self.baseline = baseline
        self.batchSize = batchSize
    }

    /// The attribution for each sample of `input` `[N, C, H, W]`, shaped like `input`.
    ///
    /// When `model` is a chain of modules that starts with spatially local layers (the
    /// torchvision architectures), occluded copies run by exact incremental inference: each
    /// layer recomputes only the positions the window reaches (``IncrementalInference``).
    /// Other models run every copy in full.
    ///
    /// - Parameters:
    ///   - incremental: `false` runs every occluded copy through the whole model.
    ///   - progress: called with (windows done, windows in all) after each batch.
    public func attribute(
        _ model: Module, input: Tensor, target: ExplanationTarget, incremental: Bool = true,
        progress: (Int, Int) -> Void = { _, _ in }
    ) -> Tensor {
        attribute(input: input, target: target, progress: progress) { sample, fill in
            guard incremental && !model.isTraining, let inference = IncrementalInference(model: model, input: sample) else {
                return fullPasses({ model($0) }, sample: sample, fill: fill)
            }
            return (inference.output, { chunk in inference.outputs(replacing: chunk.map(occludedRegion), from: fill) })
        }
    }

    /// The attribution for each sample of `input` `[N, C, H, W]`, shaped like `input`, running
    /// every occluded copy through `model` in full.
    ///
    /// - Parameter progress: called with (windows done, windows in all) after each batch.
    public func attribute(
        _ model: @escaping (Tensor) -> Tensor, input: Tensor, target: ExplanationTarget,
        progress: (Int, Int) -> Void = { _, _ in }
    ) -> Tensor {
        attribute(input: input, target: target, progress: progress) { sample, fill in
            fullPasses(model, sample: sample, fill: fill)
        }
    }

    /// The sample's output and, for window positions, the outputs of the occluded copies, each
    /// run through `model` in full.
    private func fullPasses(
        _ model: @escaping (Tensor) -> Tensor, sample: Tensor,
        fill: Tensor
    ) -> (output: Tensor, occluded: ([(Int, Int)]) -> Tensor) {
        (
            withoutGradients { model(sample) },
            { chunk in
                // Each copy: the sample, then the window's part of the fill over it.
                let copies = chunk.enumerated().flatMap { item, position in
                    let region = occludedRegion(at: position)
                    return [
                        RectangleCopy(
                            from: sample, top: 0, left: 0, to: item, top: 0, left: 0,
                            height: sample.shape[2], width: sample.shape[3]),
                        RectangleCopy(
                            from: fill, top: region.top, left: region.left, to: item, top: region.top,
                            left: region.left, height: window, width: window),
                    ]
                }
                var shape = sample.shape
                shape[0] = chunk.count
                return withoutGradients { model(Tensor.assembled(shape, from: copies)) }
            }
        )
    }

    /// The window whose top-left corner is at `position` (top, left).
    private func occludedRegion(at position: (Int, Int)) -> IncrementalInference.Region {
        let (top, left) = position
        return IncrementalInference.Region(top: top, bottom: top + window, left: left, right: left + window)
    }

    /// Occlusion with the model's outputs coming from `prepare`, which, given one sample
    /// `[1, C, H, W]` and its fill image, returns the sample's output and a function from window
    /// positions (top, left) to the outputs of those occluded copies.
    private func attribute(
        input: Tensor, target: ExplanationTarget, progress: (Int, Int) -> Void,
        prepare: (Tensor, Tensor) -> (output: Tensor, occluded: ([(Int, Int)]) -> Tensor)
    ) -> Tensor {
        precondition(input.rank == 4, "Occlusion: input must be [N, C, H, W]; got \(input.shape)")
        let (height, width) = (input.shape[2], input.shape[3])
        precondition(
            window <= height && window <= width, "Occlusion: window \(window) is larger than the input \(height)×\(width)")
        let rows = (height - window) / stride + 1, columns = (width - window) / stride + 1
        let positions = (0..<rows).flatMap { row in (0..<columns).map { (row * stride, $0 * stride) } }
        let fill = baselineImage(input)
        var maps: [Tensor] = []
        for sampleIndex in 0..<input.shape[0] {
            let sample = input.slice(along: 0, from: sampleIndex, to: sampleIndex + 1).detached()
            let sampleFill = fill.slice(along: 0, from: sampleIndex, to: sampleIndex + 1).detached()
            let sampleTarget = target.subset(sampleIndex..<(sampleIndex + 1))
            let (output, occluded) = prepare(sample, sampleFill)
            let original = sampleTarget.scores(output).scalar
            var differences = [Float]()
            for start in Swift.stride(from: 0, to: positions.count, by: batchSize) {
                let chunk = Array(positions[start..<Swift.min(start + batchSize, positions.count)])
                let scores = sampleTarget.repeated(chunk.count).scores(occluded(chunk)).scalars
                differences += scores.map { original - $0 }
                progress(
                    Swift.min(start + batchSize, positions.count) + sampleIndex * positions.count,
                    positions.count * input.shape[0])
            }
            // Spread each window's score change over the pixels it covers.
            var sums = [Float](repeating: 0, count: height * width), counts = [Float](repeating: 0, count: height * width)
            for ((top, left), difference) in zip(positions, differences) {
                for row in top..<(top + window) {
                    for column in left..<(left + window) {
                        sums[row * width + column] += difference
                        counts[row * width + column] += 1
                    }
                }
            }
            // Pixels no window reaches (when H − W is not a multiple of the stride) get 0/0, as in Captum.
            let map =
                Tensor(shape: [1, 1, height, width], scalars: sums) / Tensor(shape: [1, 1, height, width], scalars: counts)
            maps.append(map.broadcast(to: [1, input.shape[1], height, width]))
        }
        return Tensor.concatenate(maps, along: 0)
    }

    private func baselineImage(_ input: Tensor) -> Tensor {
        switch baseline {
        case .value(let value): return Tensor.full(input.shape, value: value)
        case .mean: return input.mean(alongAxes: [2, 3], keepingDimensions: true).broadcast(to: input.shape)
        case .blur(let sigma): return input.gaussianBlurred(sigma: sigma)
        }
    }
}

extension AttributionMethod {
    public static let occlusion = AttributionMethod(
        name: "occlusion", summary: "the class score's drop when a window of the input is covered (Zeiler & Fergus, 2014)",
        needsGradients: false, settings: [.window, .stride, .baseline]
    ) { context in
        let (options, input) = (context.options, context.input)
        let side = min(input.shape[2], input.shape[3])
        guard options.window >= 1, options.stride >= 1, options.window <= side else {
            throw ExplanationError(
                "occlusion window \(options.window) (stride \(options.stride)) does not fit the "
                    + "\(input.shape[2])×\(input.shape[3]) input; choose 1...\(side)")
        }
        let occlusion = Occlusion(window: options.window, stride: options.stride, baseline: options.baseline)
        return Result(
            attribution: occlusion.attribute(context.model, input: input, target: context.target, progress: context.progress))
    }
}
