import Foundation
import LoupeTensor

// ROAD, RemOve And Debias (Rong et al., 2022), as pytorch-grad-cam computes it
// (ROADMostRelevantFirstAverage, ROADLeastRelevantFirstAverage with ClassifierOutputSoftmaxTarget):
// for each percentile, the pixels on one side of the map's percentile are removed, every channel,
// and filled in by noisy linear imputation; the value is the mean, over the percentiles, of the
// target's softmax probability after the removal minus before it. A pixel map is ranked by its
// channel sum.

extension ExplanationMetric {
    /// ROAD most relevant first: at percentile p, the pixels whose map value is at or above the
    /// map's p-th percentile are removed. A faithful map makes the probability fall.
    public static let roadMostRelevantFirst = road(
        name: "road-morf", direction: .lowerIsBetter,
        summary:
            "Probability change when the most relevant pixels are removed and imputed, over percentiles (ROAD, pytorch-grad-cam)",
        leastRelevantFirst: false)

    /// ROAD least relevant first: at percentile p, the pixels whose 1 − map value is at or above
    /// its p-th percentile are removed (pytorch-grad-cam's `1 - mask`). A faithful map keeps the
    /// probability.
    public static let roadLeastRelevantFirst = road(
        name: "road-lerf", direction: .higherIsBetter,
        summary:
            "Probability change when the least relevant pixels are removed and imputed, over percentiles (ROAD, pytorch-grad-cam)",
        leastRelevantFirst: true)

    private static func road(
        name: String, direction: Direction, summary: String, leastRelevantFirst: Bool
    )
        -> ExplanationMetric
    {
        ExplanationMetric(
            name: name, summary: summary, direction: direction,
            parameters: [
                Parameter("noise", default: 0.01, "Standard deviation of the noise added to imputed values (pytorch-grad-cam's)"),
                Parameter(
                    "percentiles", default: 9, count: true, "Percentiles 100/(n+1), 200/(n+1), …: the default 9 is 10, 20, … 90"),
            ]
        ) { context in
            let (channels, height, width) = (context.input.shape[1], context.input.shape[2], context.input.shape[3])
            let pixelMap = planeMap(context).scalars
            // pytorch-grad-cam ranks 1 − map for least relevant first, in single precision.
            let ranked = leastRelevantFirst ? pixelMap.map { 1 - $0 } : pixelMap
            let sorted = ranked.sorted()
            let count = context.count("percentiles")
            let noise = Float(context.parameters["noise"]!)
            let input = context.input.scalars
            let imputer = LinearImputer(height: height, width: width)
            let probabilities = targetProbabilities(context, count: count + 1) { index in
                guard index > 0 else { return input }
                let threshold = percentile(sorted, Float(100 * index) / Float(count + 1))
                let kept = ranked.map { $0 < threshold }
                return imputer.filled(input, channels: channels, kept: kept, noise: noise, draws: context.draws)
            }
            let changes = probabilities.dropFirst().map { $0 - probabilities[0] }
            return Result(value: changes.reduce(0, +) / Float(changes.count), curve: changes)
        }
    }
}

/// NumPy's `percentile` of sorted single-precision values, as NumPy 2 computes it for a float32
/// array, in single precision throughout: the position (n − 1)·(p / 100), then linear
/// interpolation between the closest ranks (from the upper one past the middle, as its `_lerp`).
private func percentile(_ sorted: [Float], _ percent: Float) -> Float {
    let position = Float(sorted.count - 1) * (percent / 100)
    let below = Int(position.rounded(.down))
    let above = Swift.min(below + 1, sorted.count - 1)
    let (low, high, fraction) = (sorted[below], sorted[above], position - Float(below))
    let difference = high - low
    return fraction >= 0.5 ? high - difference * (1 - fraction) : low + difference * fraction
}

/// ROAD's noisy linear imputation (pytorch-grad-cam's `NoisyLinearImputer`): each removed pixel
/// becomes the weighted mean of its eight neighbours inside the image (weight 1/6 across, 1/12
/// diagonally), known or removed, which is one sparse linear system over the removed pixels,
/// solved for each channel; then noise of standard deviation `noise` is added.
struct LinearImputer {
    let height: Int
    let width: Int
    static let neighbours: [(dy: Int, dx: Int, weight: Double)] = [
        (1, 1, 1.0 / 12), (0, 1, 1.0 / 6), (-1, 1, 1.0 / 12), (1, -1, 1.0 / 12), (0, -1, 1.0 / 6), (-1, -1, 1.0 / 12),
        (1, 0, 1.0 / 6), (-1, 0, 1.0 / 6),
    ]

    /// `input` (`[C·H·W]`) with the pixels not `kept` imputed. The noise is drawn as one
    /// `[C, removed]` array, channel by channel, as pytorch-grad-cam's `randn_like` draws it.
    func filled(_ input: [Float], channels: Int, kept: [Bool], noise: Float, draws: any MetricDraws) -> [Float] {
        let plane = height * width
        let removed = (0..<plane).filter { !kept[$0] }
        guard !removed.isEmpty else { return input }
        var unknown = [Int](repeating: -1, count: plane)
        for (index, pixel) in removed.enumerated() { unknown[pixel] = index }
        // Row i: Σ_unknown w·x_j − d_i·x_i = −Σ_known w·value, with d_i the weight of the
        // neighbours inside the image. Negated, the matrix is symmetric and positive definite
        // wherever each group of removed pixels touches a kept one, so conjugate gradients solve it.
        var diagonal = [Double](repeating: 0, count: removed.count)
        var links: [[(Int, Double)]] = Array(repeating: [], count: removed.count)
        var knownSums = [[Double]](repeating: [Double](repeating: 0, count: removed.count), count: channels)
        for (index, pixel) in removed.enumerated() {
            let (row, column) = (pixel / width, pixel % width)
            for (dy, dx, weight) in LinearImputer.neighbours {
                let (y, x) = (row + dy, column + dx)
                guard y >= 0, y < height, x >= 0, x < width else { continue }
                diagonal[index] += weight
                let other = y * width + x
                if unknown[other] >= 0 {
                    links[index].append((unknown[other], weight))
                } else {
                    for channel in 0..<channels { knownSums[channel][index] += weight * Double(input[channel * plane + other]) }
                }
            }
        }
        let noiseValues = draws.normal(count: channels * removed.count)
        var output = input
        for channel in 0..<channels {
            let solution = conjugateGradients(diagonal: diagonal, links: links, rightSide: knownSums[channel])
            for (index, pixel) in removed.enumerated() {
                output[channel * plane + pixel] = Float(solution[index]) + noise * noiseValues[channel * removed.count + index]
            }
        }
        return output
    }

    /// Solves (D − W)·x = b, D diagonal and W the symmetric links, by conjugate gradients with a
    /// Jacobi preconditioner, to a relative residual of 10⁻¹².
    private func conjugateGradients(diagonal: [Double], links: [[(Int, Double)]], rightSide: [Double]) -> [Double] {
        let count = diagonal.count
        func apply(_ vector: [Double]) -> [Double] {
            (0..<count).map { row in links[row].reduce(diagonal[row] * vector[row]) { $0 - $1.1 * vector[$1.0] } }
        }
        func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        var solution = [Double](repeating: 0, count: count)
        var residual = rightSide
        var preconditioned = (0..<count).map { residual[$0] / diagonal[$0] }
        var direction = preconditioned
        var product = dot(residual, preconditioned)
        let tolerance = 1e-24 * Swift.max(dot(rightSide, rightSide), 1e-300)
        var iterations = 0
        while dot(residual, residual) > tolerance && iterations < 10 * count + 100 {
            iterations += 1
            let applied = apply(direction)
            let step = product / dot(direction, applied)
            for index in 0..<count {
                solution[index] += step * direction[index]
                residual[index] -= step * applied[index]
                preconditioned[index] = residual[index] / diagonal[index]
            }
            let next = dot(residual, preconditioned)
            let ratio = next / product
            product = next
            for index in 0..<count { direction[index] = preconditioned[index] + ratio * direction[index] }
        }
        return solution
    }
}
