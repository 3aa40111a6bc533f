import LoupeNN
import LoupeTensor

// Quantus' robustness metrics (Yeh et al., 2019): how much the map changes when the input is
// perturbed by a little uniform noise, ‖a − a′‖ / ‖a‖ (Frobenius norms, the maps as the method
// makes them: Quantus' defaults normalise=False, abs=False), over `samples` perturbations.

extension ExplanationMetric {
    /// Quantus' `MaxSensitivity`: the largest relative change over the perturbations.
    public static let maxSensitivity = sensitivity(
        name: "max-sensitivity",
        summary: "Largest relative change of the map under small uniform input noise (Quantus MaxSensitivity)",
        of: { $0.max() ?? 0 })

    /// Quantus' `AvgSensitivity`: the mean relative change over the perturbations.
    public static let avgSensitivity = sensitivity(
        name: "avg-sensitivity",
        summary: "Mean relative change of the map under small uniform input noise (Quantus AvgSensitivity)",
        of: { $0.reduce(0, +) / Double(Swift.max($0.count, 1)) })

    /// A sensitivity metric whose scalar is `summary` of the relative changes; the curve is
    /// the changes, one per perturbation.
    private static func sensitivity(
        name: String, summary: String, of reduce: @escaping @Sendable ([Double]) -> Double
    )
        -> ExplanationMetric
    {
        ExplanationMetric(
            name: name, summary: summary, direction: .lowerIsBetter,
            parameters: [
                Parameter(
                    "samples", default: 50, count: true,
                    "Perturbed copies, each explained again (Quantus' nr_samples is 200: four times the explanations)"),
                Parameter("radius", default: 0.2, "Each input value moves by noise uniform in ±radius (Quantus' lower_bound)"),
            ],
            requirements: [.explainer]
        ) { context in
            let input = context.input.scalars
            let map = context.map.scalars.map(Double.init)
            let norm = map.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard norm > 0 else { throw ExplanationError("\(name): the map is all zeros, so a relative change is undefined") }
            let radius = Float(context.parameters["radius"]!)
            let samples = context.count("samples")
            var changes: [Double] = []
            for sample in 0..<samples {
                let noise = context.draws.uniform(count: input.count, low: -radius, high: radius)
                let perturbed = Tensor(shape: context.input.shape, scalars: zip(input, noise).map { $0 + $1 })
                let made = try context.explained(context.model, perturbed, context.target).scalars
                changes.append(
                    zip(map, made).reduce(0.0) { $0 + ($1.0 - Double($1.1)) * ($1.0 - Double($1.1)) }.squareRoot() / norm)
                context.progress(sample + 1, samples)
            }
            return Result(value: Float(reduce(changes)), curve: changes.map(Float.init))
        }
    }
}
