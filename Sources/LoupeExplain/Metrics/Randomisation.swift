import LoupeNN
import LoupeTensor

// Quantus' randomisation metrics: a map that explains the model should change when the model or
// the class it explains changes (Adebayo et al., 2018; Sixt et al., 2020). Both explain again,
// with the method that made the map.

extension ExplanationMetric {
    /// Quantus' `MPRT` with `return_average_correlation=True` (Adebayo et al.'s cascading model
    /// parameter randomization): from the output back, each layer that owns parameters is reset
    /// in turn, on top of those before it, and the map is made again; each is compared with the
    /// scored map by Spearman's rank correlation of their absolute values. The curve is the
    /// correlations: first with the model untouched, then after each layer; the scalar is their
    /// mean, the untouched model's included, as Quantus 0.6.0 averages (its code skips a key
    /// "orig" where the key is "original"). A map that depends on the model falls towards 0.
    /// The model's parameters are restored afterwards.
    public static let mprt = ExplanationMetric(
        name: "mprt",
        summary: "Rank correlation of the map with maps of the model randomized layer by layer from the top (Quantus MPRT)",
        direction: .lowerIsBetter, requirements: [.explainer]
    ) { context in
        let scored = averageRanks(context.map.scalars.map(abs))  // ranked once
        var curve: [Float] = []
        let count = context.model.randomizableLayers.count
        try cascadingRandomization(of: context.model, draws: context.draws) { layer in
            let made = try context.explained(context.model, context.input, context.target).scalars
            curve.append(Float(pearsonCorrelation(scored, averageRanks(made.map(abs)))))
            if layer != nil { context.progress(curve.count - 1, count) }
        }
        return Result(value: curve.reduce(0, +) / Float(curve.count), curve: curve)
    }

    /// Adebayo et al.'s cascading randomization: calls `body` with the model untouched (`nil`),
    /// then after resetting each of its ``LoupeNN/Module/randomizableLayers`` from the output back,
    /// on top of those before, with that layer's name. The parameters are restored afterwards.
    public static func cascadingRandomization(
        of model: Module, draws: any MetricDraws, _ body: (String?) throws -> Void
    ) throws {
        let layers = Array(model.randomizableLayers.reversed())
        let saved = layers.flatMap { $0.parameters.map { ($0.parameter, $0.parameter.value) } }
        defer { for (parameter, value) in saved { parameter.value = value } }
        try body(nil)
        for layer in layers {
            draws.randomize(layer)
            try body(layer.name)
        }
    }

    /// Quantus' `RandomLogit` (Sixt et al., 2020): the map is made again for a class drawn at
    /// random among the others, and the two (each divided by its largest magnitude, Quantus'
    /// normalise=True) are compared by the structural similarity index, on their values in a row
    /// as Quantus flattens them. A class-sensitive map scores low.
    public static let randomLogit = ExplanationMetric(
        name: "random-logit",
        summary: "Structural similarity of the map with the map of a random other class (Quantus RandomLogit)",
        direction: .lowerIsBetter, requirements: [.explainer]
    ) { context in
        let classes = context.model.predictions(for: context.input).shape.last ?? 0
        guard classes > 1 else { throw ExplanationError("random-logit needs a model with two classes or more") }
        let other = context.draws.otherClass(than: context.target, classes: classes)
        let scored = maxNormalised(context.map.scalars)
        let made = maxNormalised(try context.explained(context.model, context.input, other).scalars)
        guard scored.count >= 7 else { throw ExplanationError("random-logit needs a map of 7 values or more") }
        let all = scored + made
        let range = (all.max() ?? 0) - (all.min() ?? 0)
        return Result(value: Float(structuralSimilarity(scored, made, dataRange: abs(range))))
    }
}

/// Values divided by their largest magnitude (unchanged when all are zero): Quantus'
/// `normalise_by_max`.
func maxNormalised(_ values: [Float]) -> [Float] {
    let largest = values.map(abs).max() ?? 0
    return largest == 0 ? values : values.map { $0 / largest }
}
