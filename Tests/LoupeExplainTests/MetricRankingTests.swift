import LoupeExplain
import Testing

@Suite("Ranking the methods by a metric")
struct MetricRankingTests {
    @Test func meansRankByTheMetricsDirectionWithEqualMeansSharingARank() {
        let values: [(method: String, values: [Float])] = [
            ("a", [1, 2, 3]), ("b", [3, 3, 3]), ("c", [2, 2, 2]), ("d", [.nan, .nan]), ("e", [2, .nan, 4]),
        ]
        // Lower is better: a and c (mean 2) share rank 1; b and e (3) share rank 3; d has no value.
        let lower = MetricRanking(metric: .deletion, values: values).entries
        #expect(lower.map(\.method) == ["a", "c", "b", "e", "d"])
        #expect(lower.map(\.rank) == [1, 1, 3, 3, 5])
        #expect(lower[3].count == 2 && lower[4].mean.isNaN)
        let higher = MetricRanking(metric: .insertion, values: values).entries
        #expect(higher.map(\.method) == ["b", "e", "a", "c", "d"])
        // Under five values, no interval.
        #expect(lower.allSatisfy { $0.interval == nil })
    }

    @Test func theBootstrapIntervalSurroundsTheMeanAndRepeats() throws {
        let values: [Float] = [0.1, 0.4, 0.2, 0.9, 0.5, 0.3, 0.7, 0.6]
        let first = try #require(MetricRanking(metric: .deletion, values: [("m", values)]).entries.first)
        let interval = try #require(first.interval)
        #expect(abs(first.mean - 0.4625) < 1e-6)
        #expect(interval.low < first.mean && first.mean < interval.high)
        #expect(interval.low >= 0.1 && interval.high <= 0.9)
        // The resamples' spread is about the standard error, 0.086: the interval about ±1.96 of it.
        #expect(interval.high - interval.low > 0.2 && interval.high - interval.low < 0.45)
        let again = try #require(MetricRanking(metric: .deletion, values: [("m", values)]).entries.first?.interval)
        #expect(again == interval)
        // A constant metric's interval is a point.
        let constant = try #require(
            MetricRanking(metric: .deletion, values: [("m", Array(repeating: 2, count: 6))]).entries.first)
        #expect(constant.interval?.low == 2 && constant.interval?.high == 2)
    }
}
