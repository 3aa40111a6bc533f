import Foundation
import LoupeTensor

// Quantus' complexity metrics, on the map as given: divided by its largest magnitude, then made
// absolute (Quantus' defaults normalise=True, abs=True), every value of a pixel map counted.

extension ExplanationMetric {
    /// Quantus' `Sparseness` (Chalasani et al., 2020): the Gini index of the map's magnitudes, from
    /// 0 (all equal) towards 1 (one value holds everything).
    public static let sparseness = ExplanationMetric(
        name: "sparseness", summary: "Gini index of the map's magnitudes (Quantus Sparseness)", direction: .higherIsBetter
    ) { context in
        let sorted = quantusMagnitudes(context.map).map { Double($0) + 1e-7 }.sorted()
        let count = Double(sorted.count)
        let weighted = sorted.enumerated().reduce(0.0) { $0 + (2 * Double($1.offset + 1) - count - 1) * $1.element }
        return Result(value: Float(weighted / (count * sorted.reduce(0, +))))
    }

    /// Quantus' `Complexity` (Bhatt et al., 2020): the entropy of the map's magnitudes as a
    /// distribution; lower is a simpler explanation.
    public static let complexity = ExplanationMetric(
        name: "complexity", summary: "Entropy of the map's magnitudes as a distribution (Quantus Complexity)",
        direction: .lowerIsBetter
    ) { context in
        let magnitudes = quantusMagnitudes(context.map).map(Double.init)
        let total = magnitudes.reduce(0, +)
        guard total > 0 else { return Result(value: 0) }
        let entropy = magnitudes.reduce(0.0) { sum, value in
            let share = value / total
            return sum - share * log(share + 1e-12)
        }
        return Result(value: Float(entropy))
    }
}

/// The map divided by its largest magnitude (unless all zero) and made absolute, flattened.
func quantusMagnitudes(_ map: Tensor) -> [Float] { maxNormalised(map.scalars).map(abs) }
