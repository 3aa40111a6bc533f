import Foundation
import LoupeNN
import LoupeTensor

/// Where a metric's random draws come from: ROAD's imputation noise, the sensitivity metrics'
/// perturbations, faithfulness correlation's subsets, random logit's class, MPRT's new weights.
///
/// Loupe's runs use ``SeededMetricDraws``; a test replays the draws a reference implementation
/// made, so that both sides score the same perturbations (a metric asks for its draws in the
/// order its reference makes them).
public protocol MetricDraws: AnyObject {
    /// `count` values uniform in `[low, high)`.
    func uniform(count: Int, low: Float, high: Float) -> [Float]
    /// `count` standard normal values.
    func normal(count: Int) -> [Float]
    /// `size` distinct indices of `0..<population` (`np.random.choice(population, size, replace=False)`).
    func subset(size: Int, of population: Int) -> [Int]
    /// A class of `0..<classes` other than `target`, each as likely.
    func otherClass(than target: Int, classes: Int) -> Int
    /// Gives a layer new values, as its reset would (MPRT's randomization of one layer).
    func randomize(_ layer: RandomizableLayer)
}

/// The draws of a seeded generator: the same seed gives the same draws.
public final class SeededMetricDraws: MetricDraws {
    private var generator: RandomGenerator

    public init(seed: UInt64) { generator = RandomGenerator(seed: seed) }

    public func uniform(count: Int, low: Float, high: Float) -> [Float] {
        Tensor.uniform([count], low: low, high: high, generator: &generator).scalars
    }

    public func normal(count: Int) -> [Float] { Tensor.normal([count], generator: &generator).scalars }

    public func subset(size: Int, of population: Int) -> [Int] {
        // A partial Fisher–Yates shuffle over a sparse map of the swapped positions.
        var swapped: [Int: Int] = [:]
        return (0..<Swift.min(size, population)).map { position in
            let other = position + Int(generator.next() % UInt64(population - position))
            let chosen = swapped[other] ?? other
            swapped[other] = swapped[position] ?? position
            return chosen
        }
    }

    public func otherClass(than target: Int, classes: Int) -> Int {
        let index = Int(generator.next() % UInt64(Swift.max(classes - 1, 1)))
        return index < target ? index : index + 1
    }

    /// PyTorch's `reset_parameters`: a layer with a weight of two or more dimensions (a
    /// convolution, a linear layer) draws its weight and bias uniformly in ±1/√fan_in
    /// (`kaiming_uniform_(a=√5)`); a normalization layer goes back to scale 1, shift 0, running
    /// mean 0 and running variance 1.
    public func randomize(_ layer: RandomizableLayer) {
        let weight = layer.parameters.first { $0.parameter.shape.count >= 2 }?.parameter
        for (key, parameter) in layer.parameters {
            let shape = parameter.shape
            if let weight {
                let fanIn = weight.value.count / Swift.max(weight.shape[0], 1)
                let bound = 1 / Float(Swift.max(fanIn, 1)).squareRoot()
                parameter.value = Tensor.uniform(shape, low: -bound, high: bound, generator: &generator)
            } else {
                let one = key.hasSuffix("weight") || key.hasSuffix("running_var") || layer.ones.contains(key)
                parameter.value = Tensor.full(shape, value: one ? 1 : 0)
            }
        }
    }
}
