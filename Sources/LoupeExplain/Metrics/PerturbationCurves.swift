import Foundation
import LoupeNN
import LoupeTensor

// The metrics that perturb the input in the map's order and follow the target's softmax
// probability: deletion and insertion (Petsiuk et al., 2018, as their RISE code computes them)
// and Quantus' pixel flipping (Bach et al., 2015).

extension ExplanationMetric {
    /// Deletion: the most relevant pixels first, `step` at a time, are set to 0 in the model's
    /// input space (every channel of a pixel at once); the curve is the target's softmax
    /// probability before any and after each step. A faithful map makes it fall fast.
    public static let deletion = ExplanationMetric(
        name: "deletion",
        summary: "Probability as the most relevant pixels are set to 0, step by step (Petsiuk et al., AUC as in RISE)",
        direction: .lowerIsBetter,
        parameters: [stepParameter]
    ) { context in
        let (start, finish) = (context.input.scalars, [Float](repeating: 0, count: context.input.count))
        return pixelCurve(context, from: start, to: finish)
    }

    /// Insertion: from a blurred copy of the input (RISE's 11 × 11 Gaussian of σ 5, zero-padded),
    /// the most relevant pixels first get their values back, `step` at a time. A faithful map makes
    /// the probability rise fast.
    public static let insertion = ExplanationMetric(
        name: "insertion",
        summary: "Probability as the most relevant pixels return to a blurred copy, step by step (Petsiuk et al.)",
        direction: .higherIsBetter,
        parameters: [stepParameter]
    ) { context in
        let blurred = context.input.convolved2D(
            with: insertionBlurKernel(channels: context.input.shape[1]), padding: 5, groups: context.input.shape[1])
        return pixelCurve(context, from: blurred.scalars, to: context.input.scalars)
    }

    /// Quantus' `PixelFlipping`: the map (broadcast to the input's channels, divided by its
    /// largest magnitude) orders the input's values, most relevant first; `features` of them at a
    /// time are set to the input's smallest value ("black"), and the curve is the target's softmax
    /// probability after each step. Its scalar is Quantus' per-sample AUC (the trapezoidal rule).
    public static let pixelFlipping = ExplanationMetric(
        name: "pixel-flipping",
        summary: "Probability as the input's most relevant values are set to its minimum, in steps (Quantus PixelFlipping)",
        direction: .lowerIsBetter,
        parameters: [
            Parameter(
                "features", default: 224, count: true,
                "Values (channels counted apart) replaced per step: Quantus' features_in_step. Its default, 1, takes one model pass per value (150,528 at 224 × 224)"
            )
        ]
    ) { context in
        let input = context.input.scalars
        let black = input.min() ?? 0
        let order = descendingOrder(context.broadcastMap)
        let curve = perturbationCurve(
            context, from: input, to: [Float](repeating: black, count: input.count),
            steps: steps(of: order, size: context.count("features")), includingStart: false)
        return Result(value: trapezoidalArea(curve), curve: curve)
    }

    private static let stepParameter = Parameter(
        "step", default: 224, count: true, "Pixels changed per step, as in RISE (one 224-pixel row's worth)")
}

/// Deletion's and insertion's curve: pixels ordered by the map (its channels summed for a pixel
/// map), `step` at a time, every channel of a pixel taken from `finish`; the scalar is RISE's
/// AUC, (Σ − (first + last)/2) / (points − 1).
private func pixelCurve(_ context: ExplanationMetric.Context, from start: [Float], to finish: [Float]) -> ExplanationMetric.Result
{
    let (channels, plane) = (context.input.shape[1], context.input.shape[2] * context.input.shape[3])
    let pixels = descendingOrder(planeMap(context).scalars)
    let order = pixels.flatMap { pixel in (0..<channels).map { $0 * plane + pixel } }
    let curve = perturbationCurve(
        context, from: start, to: finish, steps: steps(of: order, size: context.count("step") * channels), includingStart: true)
    return ExplanationMetric.Result(value: (trapezoidalArea(curve)) / Float(Swift.max(curve.count - 1, 1)), curve: curve)
}

/// The indices of `values` from the largest value to the smallest, ties in index order (NumPy's
/// `argsort(-values, kind="stable")`).
func descendingOrder(_ values: [Float]) -> [Int] {
    values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }
}

/// The trapezoidal rule with unit spacing (`np.trapz`): Σ − (first + last)/2.
func trapezoidalArea(_ curve: [Float]) -> Float {
    guard curve.count > 1 else { return 0 }
    return curve.reduce(0, +) - (curve.first! + curve.last!) / 2
}

/// `order` cut into steps of `size` indices (the last may be shorter).
func steps(of order: [Int], size: Int) -> [ArraySlice<Int>] {
    stride(from: 0, to: order.count, by: size).map { order[$0..<Swift.min($0 + size, order.count)] }
}

/// The target's softmax probability along a perturbation: the input's values `start` (`[C·H·W]`)
/// take `finish`'s at each step's indices in turn, with the probability read after each step (and
/// before the first when `includingStart`). The perturbed copies go through the model
/// `copiesPerPass` at a time.
func perturbationCurve(
    _ context: ExplanationMetric.Context, from start: [Float], to finish: [Float], steps: [ArraySlice<Int>],
    includingStart: Bool
) -> [Float] {
    var current = start
    return targetProbabilities(context, count: steps.count + (includingStart ? 1 : 0)) { point in
        let step = point - (includingStart ? 1 : 0)
        if step >= 0 {
            for index in steps[step] { current[index] = finish[index] }
        }
        return current
    }
}

/// The target's softmax probability for `count` inputs, each `[C·H·W]` as `make` returns it for
/// 0, 1, … in turn, run through the model `copiesPerPass` at a time.
func targetProbabilities(_ context: ExplanationMetric.Context, count: Int, make: (Int) -> [Float]) -> [Float] {
    let shape = Array(context.input.shape.dropFirst())
    var result: [Float] = []
    result.reserveCapacity(count)
    var done = 0
    while done < count {
        let copies = Swift.min(context.copiesPerPass, count - done)
        var batch: [Float] = []
        batch.reserveCapacity(copies * context.input.count)
        for copy in 0..<copies { batch += make(done + copy) }
        let logits = context.model(Tensor(shape: [copies] + shape, scalars: batch))
        let probabilities = logits.softmax(along: 1).scalars
        let classes = logits.shape[1]
        result += (0..<copies).map { probabilities[$0 * classes + context.target] }
        done += copies
        context.progress(done, count)
    }
    return result
}

extension ExplanationMetric {
    /// Insertion's blur, RISE's kernel, as a depthwise weight `[C, 1, 11, 11]`: SciPy's
    /// `gaussian_filter` (σ 5, truncated at 4σ, mirror-reflected at the edges) of an 11 × 11 unit
    /// impulse.
    public static func insertionBlurKernel(channels: Int) -> Tensor {
        let (length, sigma, radius) = (11, 5.0, 20)
        let weights = (-radius...radius).map { exp(-0.5 * Double($0 * $0) / (sigma * sigma)) }
        let total = weights.reduce(0, +)
        // SciPy's "reflect": … c b a | a b c … c b a | a b c …, period 2·length.
        func reflected(_ index: Int) -> Int {
            let folded = ((index % (2 * length)) + 2 * length) % (2 * length)
            return folded < length ? folded : 2 * length - 1 - folded
        }
        let line = (0..<length).map { position in
            (-radius...radius).reduce(0.0) { sum, offset in
                reflected(position + offset) == length / 2 ? sum + weights[offset + radius] / total : sum
            }
        }
        let plane = line.flatMap { row in line.map { Float(row * $0) } }
        return Tensor(shape: [channels, 1, length, length], scalars: (0..<channels).flatMap { _ in plane })
    }
}
