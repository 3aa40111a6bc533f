import LoupeTensor

/// Methods ranked by one metric over a set of images: each method's mean value, with a bootstrap
/// 95% interval of the mean, best first (``ExplanationMetric/direction``). Undefined values (NaN:
/// an empty region, a constant curve) are left out, as NumPy's `nanmean`; a method with none ranks
/// last.
public struct MetricRanking: Sendable {
    public struct Entry: Sendable {
        public var method: String
        /// 1 for the best; equal means share a rank (1, 1, 3).
        public var rank: Int
        public var mean: Float
        /// The 2.5th and 97.5th percentiles of the mean over `resamples` bootstrap resamples of
        /// the images; `nil` for fewer than ``MetricRanking/minimumImagesForInterval`` images.
        public var interval: (low: Float, high: Float)?
        /// The images with a defined value.
        public var count: Int
    }

    /// Fewer images than this give no interval: a bootstrap of two or three values says little.
    public static let minimumImagesForInterval = 5

    public let metric: ExplanationMetric
    public let entries: [Entry]

    /// Ranks the methods by their values, in the order given where means are equal.
    ///
    /// - Parameters:
    ///   - values: each method's name with its value on every image.
    ///   - resamples: bootstrap resamples of the images (1,000), drawn from `seed`.
    public init(
        metric: ExplanationMetric, values: [(method: String, values: [Float])], resamples: Int = 1000, seed: UInt64 = 0
    ) {
        self.metric = metric
        var generator = RandomGenerator(seed: seed)
        let summaries = values.map { method, all -> Entry in
            let defined = all.filter { !$0.isNaN }
            let mean = defined.isEmpty ? Float.nan : defined.reduce(0, +) / Float(defined.count)
            var interval: (Float, Float)?
            if defined.count >= Self.minimumImagesForInterval {
                let means = (0..<resamples).map { _ in
                    (0..<defined.count).reduce(Float(0)) { sum, _ in sum + defined[Int(generator.next() % UInt64(defined.count))]
                    }
                        / Float(defined.count)
                }.sorted()
                let at = { (fraction: Float) in means[Swift.min(Int(fraction * Float(resamples - 1)), resamples - 1)] }
                interval = (at(0.025), at(0.975))
            }
            return Entry(method: method, rank: 0, mean: mean, interval: interval, count: defined.count)
        }
        let better: (Float, Float) -> Bool = metric.direction == .higherIsBetter ? (>) : (<)
        let ordered = summaries.enumerated().sorted { first, second in
            let (a, b) = (first.element.mean, second.element.mean)
            if a.isNaN || b.isNaN || a == b { return !a.isNaN && (b.isNaN || first.offset < second.offset) }
            return better(a, b)
        }.map(\.element)
        entries = ordered.map { entry in
            var ranked = entry
            ranked.rank = (ordered.firstIndex { $0.mean == entry.mean } ?? ordered.firstIndex { $0.method == entry.method }!) + 1
            return ranked
        }
    }
}
