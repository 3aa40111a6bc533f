import Foundation
@_spi(Engine) import LoupeTensor

/// Integrated gradients (Sundararajan, Taly & Yan, 2017), equal to Captum's
/// `IntegratedGradients`: `(x − x′) · Σₖ wₖ ∇F(x′ + αₖ(x − x′))`.
public struct IntegratedGradients {
    /// The quadrature over the path from the baseline to the input.
    public enum Rule: String, Sendable {
        /// Captum's `riemann_trapezoid`: αₖ evenly spaced on [0, 1], weights 1/n with both
        /// ends halved.
        case riemannTrapezoid
        /// Captum's default `gausslegendre`: Gauss–Legendre nodes and weights mapped to [0, 1].
        case gaussLegendre
    }

    public var steps: Int
    public var rule: Rule
    /// How many path points go through the model at once.
    public var batchSize: Int

    public init(steps: Int = 50, rule: Rule = .gaussLegendre, batchSize: Int = 4) {
        precondition(steps > 1, "IntegratedGradients: steps must be more than 1; got \(steps)")
        self.steps = steps
        self.rule = rule
        self.batchSize = batchSize
    }

    /// The attribution (shaped like `input`) and, per sample, the convergence delta
    /// `Σ attribution − (F(x) − F(x′))`, which the exact integral makes 0.
    public func attribute(
        _ model: (Tensor) -> Tensor, input: Tensor, baseline: Tensor? = nil,
        target: ExplanationTarget
    ) -> (attribution: Tensor, delta: [Float]) {
        let base = baseline?.broadcast(to: input.shape) ?? input.zerosLike()
        let difference = input - base
        let (alphas, weights) = quadrature()
        let count = input.shape[0]
        var accumulated = Tensor.zeros(input.shape)
        let pointsPerBatch = Swift.max(1, batchSize / Swift.max(count, 1))
        for start in stride(from: 0, to: steps, by: pointsPerBatch) {
            let indices = Array(start..<Swift.min(start + pointsPerBatch, steps))
            let path = Tensor.concatenate(indices.map { base + difference * alphas[$0] }, along: 0)
            // Convolutions that keep no weight copy per batch shape (see NoiseTunnel's passes).
            let gradient = withShapeVaryingConvolutions {
                inputGradient(of: model, at: path, target: target.repeated(indices.count))
            }
            for (position, index) in indices.enumerated() {
                accumulated =
                    accumulated + gradient.slice(along: 0, from: position * count, to: (position + 1) * count) * weights[index]
            }
        }
        let attribution = difference * accumulated
        let scores = withShapeVaryingConvolutions {  // a one-off shape (twice the batch)
            withoutGradients { target.repeated(2).scores(model(Tensor.concatenate([input, base], along: 0).detached())) }
        }
        let sums = attribution.flattened(from: 1).sum(along: 1).scalars
        let delta = (0..<count).map { sums[$0] - (scores.scalars[$0] - scores.scalars[count + $0]) }
        return (attribution, delta)
    }

    /// The path positions αₖ in [0, 1] and their weights, as Captum computes them.
    public func quadrature() -> (alphas: [Float], weights: [Float]) {
        switch rule {
        case .riemannTrapezoid:
            var weights = [Double](repeating: 1 / Double(steps), count: steps)
            weights[0] /= 2
            weights[steps - 1] /= 2
            return ((0..<steps).map { Float(Double($0) / Double(steps - 1)) }, weights.map(Float.init))
        case .gaussLegendre:
            let (nodes, nodeWeights) = gaussLegendreNodes(steps)
            return (nodes.map { Float(0.5 * (1 + $0)) }, nodeWeights.map { Float(0.5 * $0) })
        }
    }
}

/// Nodes (ascending) and weights of n-point Gauss–Legendre quadrature on [−1, 1], by Newton's
/// method on the Legendre polynomial Pₙ (as `numpy.polynomial.legendre.leggauss`); n ≥ 2.
func gaussLegendreNodes(_ n: Int) -> (nodes: [Double], weights: [Double]) {
    precondition(n >= 2, "gaussLegendreNodes: needs at least 2 points")
    var nodes = [Double](repeating: 0, count: n), weights = [Double](repeating: 0, count: n)
    for i in 0..<((n + 1) / 2) {
        // Chebyshev-like first guess for the i-th largest root.
        var x = cos(Double.pi * (Double(i) + 0.75) / (Double(n) + 0.5))
        var derivative = 0.0
        for _ in 0..<100 {
            // Pₙ(x) and Pₙ′(x) by the three-term recurrence.
            var previous = 1.0, current = x
            for k in 2...n {
                let next = ((2 * Double(k) - 1) * x * current - (Double(k) - 1) * previous) / Double(k)
                previous = current
                current = next
            }
            derivative = Double(n) * (x * current - previous) / (x * x - 1)
            let step = current / derivative
            x -= step
            if Swift.abs(step) < 1e-15 { break }
        }
        let weight = 2 / ((1 - x * x) * derivative * derivative)
        nodes[n - 1 - i] = x
        nodes[i] = -x
        weights[n - 1 - i] = weight
        weights[i] = weight
    }
    return (nodes, weights)
}

extension AttributionMethod {
    public static let integratedGradients = AttributionMethod(
        name: "integrated-gradients",
        summary: "gradients integrated along the straight path from a zero baseline to the input (Sundararajan et al., 2017)",
        settings: [.steps, .rule]
    ) { context in
        let options = context.options
        guard options.steps >= 2 else {
            throw ExplanationError("integrated-gradients needs at least 2 steps; got \(options.steps)")
        }
        let integrated = IntegratedGradients(steps: options.steps, rule: options.rule).attribute(
            { context.model($0) }, input: context.input, target: context.target)
        return Result(attribution: integrated.attribution, convergenceDelta: integrated.delta)
    }
}
