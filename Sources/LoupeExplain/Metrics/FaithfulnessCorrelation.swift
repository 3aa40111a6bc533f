import LoupeTensor

extension ExplanationMetric {
    /// Quantus' `FaithfulnessCorrelation` (Bhatt et al., 2020): `runs` times, a random subset of
    /// `subset` input values (channels counted apart; the map broadcast to the channels) is set
    /// to the input's smallest value ("black"). The scalar is Pearson's correlation, over the
    /// runs, between the map's sum over each subset and the target's probability drop; the curve
    /// is the drops. A faithful map puts its mass where removing it costs the most.
    public static let faithfulnessCorrelation = ExplanationMetric(
        name: "faithfulness-correlation",
        summary: "Correlation between the map's sum over random subsets and the probability drop when each is removed (Quantus)",
        direction: .higherIsBetter,
        parameters: [
            Parameter("runs", default: 100, count: true, "Random subsets (Quantus' nr_runs)"),
            Parameter("subset", default: 224, count: true, "Values set to the minimum in each (Quantus' subset_size)"),
        ]
    ) { context in
        let input = context.input.scalars
        let (runs, size) = (context.count("runs"), context.count("subset"))
        guard size < input.count else {
            throw ExplanationError("faithfulness-correlation.subset must be below the input's \(input.count) values; got \(size)")
        }
        let map = context.broadcastMap
        let black = input.min() ?? 0
        var sums: [Double] = []
        // The first copy is the input itself: the probability every drop is measured from.
        let probabilities = targetProbabilities(context, count: runs + 1) { run in
            guard run > 0 else { return input }
            let subset = context.draws.subset(size: size, of: input.count)
            sums.append(subset.reduce(0.0) { $0 + Double(map[$1]) })
            var copy = input
            for index in subset { copy[index] = black }
            return copy
        }
        let drops = probabilities.dropFirst().map { probabilities[0] - $0 }
        return Result(value: Float(pearsonCorrelation(sums, drops.map(Double.init))), curve: drops)
    }
}
