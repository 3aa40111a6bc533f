import Foundation
import LoupeIO

/// Joins the shards of a batch run: `DIR/index.jsonl`, one record per image in plan order, and
/// `DIR/summary.json`.
///
/// The plan says which images there are, so a merge names every image that no shard finished,
/// even those of a shard that never started, and every image finished by two shards; either
/// stops it before anything is written. Every record's files are checked (size and SHA-256).
public enum BatchMerge {
    /// What `summary.json` holds.
    public struct Summary: Codable, Equatable, Sendable {
        public var images: Int
        /// Images with a label, and those predicted as their label.
        public var labelled: Int
        public var correct: Int
        /// `correct / labelled`, nil without labels.
        public var accuracy: Double?
        public var classes: [ClassAccuracy]
        /// How often each (label, prediction) pair occurs, the pairs in label then prediction order.
        public var confusion: [Confusion]
        /// Seconds per image for each step (`decode`, `predict`, each method): the mean and the total.
        public var timings: [Timing]
        /// Each method's mean value of each metric over the images (NaN values left out), when
        /// the run scored its maps.
        public var metrics: [MetricMean]?
    }

    public struct MetricMean: Codable, Equatable, Sendable {
        public var method: String
        public var metric: String
        public var mean: Float
        /// Images with a value (not NaN).
        public var images: Int
    }

    public struct ClassAccuracy: Codable, Equatable, Sendable {
        public var label: Int
        public var name: String
        public var images: Int
        public var correct: Int
        public var accuracy: Double
    }

    public struct Confusion: Codable, Equatable, Sendable {
        public var label: Int
        public var prediction: Int
        public var count: Int
    }

    public struct Timing: Codable, Equatable, Sendable {
        public var step: String
        public var meanSeconds: Double
        public var totalSeconds: Double
    }

    /// Reads every shard's records in `directory`, checks them against the plan, and writes the
    /// index and summary, each atomically. Returns the merged records.
    @discardableResult
    public static func merge(_ directory: String) throws -> (records: [BatchRecord], summary: Summary) {
        let plan = try BatchPlan.read(from: directory)
        for output in ["index.jsonl", "summary.json"] { removeAbandonedPartialFiles(of: "\(directory)/\(output)") }
        var byImage: [Int: [(shard: Int, record: BatchRecord)]] = [:]
        for shard in 0..<plan.shards {
            var latest: [Int: BatchRecord] = [:]
            for record in try RecordFile.read(BatchRun.recordFile(shard: shard, of: plan.shards, in: directory)) {
                guard record.index >= 0, record.index < plan.items.count else {
                    throw LoupeIOError(
                        "shard \(shard) of \(plan.shards) records image \(record.index), which the plan does not have")
                }
                latest[record.index] = record
            }
            for (index, record) in latest { byImage[index, default: []].append((shard, record)) }
        }
        let twice = byImage.filter { $0.value.count > 1 }.keys.sorted()
        guard twice.isEmpty else {
            throw LoupeIOError(
                "merge: \(twice.count) image(s) done by more than one shard: "
                    + twice.prefix(20).map { "\($0) (shards \(byImage[$0]!.map { String($0.shard) }.joined(separator: ", ")))" }
                    .joined(separator: ", ") + (twice.count > 20 ? ", ..." : ""))
        }
        let damaged = byImage.values.compactMap(\.first).filter { !$0.record.filesAreIntact(in: directory) }.map(\.record.index)
        let missing = (0..<plan.items.count).filter { byImage[$0] == nil } + damaged
        guard missing.isEmpty else {
            let byShard = Dictionary(grouping: missing.sorted(), by: plan.shard(ofImage:))
            let parts = byShard.keys.sorted().map { shard -> String in
                let images = byShard[shard]!
                let state =
                    FileManager.default.fileExists(atPath: BatchRun.recordFile(shard: shard, of: plan.shards, in: directory))
                    ? "" : ", never started"
                return "shard \(shard) of \(plan.shards)\(state): \(ranges(images))"
            }
            throw LoupeIOError(
                "merge: \(missing.count) of \(plan.items.count) images are not finished (rerun their shards): "
                    + parts.joined(separator: "; "))
        }
        let records = (0..<plan.items.count).map { byImage[$0]![0].record }
        let summary = summarize(records, classNames: plan.classNames ?? modelClassNames(in: records))
        let index = try records.reduce(into: Data()) { $0 += try $1.line() }
        try writeFileAtomically(index, to: "\(directory)/index.jsonl")
        try writeJSON(summary, to: "\(directory)/summary.json")
        return (records, summary)
    }

    /// Reads a merged run's records.
    public static func records(in directory: String) throws -> [BatchRecord] {
        let path = "\(directory)/index.jsonl"
        guard FileManager.default.fileExists(atPath: path) else {
            throw LoupeIOError("\(directory) has no index.jsonl; run loupe merge \(directory) first")
        }
        return try RecordFile.read(path)
    }

    /// Per-class accuracy, confusion counts and timings of `records`.
    public static func summarize(_ records: [BatchRecord], classNames: [String]) -> Summary {
        let labelled = records.filter { $0.label != nil }
        let correct = labelled.filter { $0.label == $0.prediction }.count
        let byLabel = Dictionary(grouping: labelled, by: { $0.label! })
        let classes = byLabel.keys.sorted().map { label in
            let images = byLabel[label]!
            let right = images.filter { $0.prediction == label }.count
            return ClassAccuracy(
                label: label, name: className(label, in: classNames), images: images.count,
                correct: right, accuracy: Double(right) / Double(images.count))
        }
        var pairs: [[Int]: Int] = [:]
        for record in labelled { pairs[[record.label!, record.prediction], default: 0] += 1 }
        let confusion = pairs.keys.sorted { $0.lexicographicallyPrecedes($1) }.map {
            Confusion(label: $0[0], prediction: $0[1], count: pairs[$0]!)
        }
        var totals: [String: Double] = [:]
        for record in records { for (step, seconds) in record.seconds { totals[step, default: 0] += seconds } }
        // Decoding and prediction first, then each method and its metrics, as a pass runs them.
        let order = records.first.map { ["decode", "predict"] + $0.files.map(\.path) } ?? []
        func rank(_ step: String) -> Int {
            let isMetric = step.hasPrefix("metrics:")
            let method = isMetric ? String(step.dropFirst(8)) : step
            let position = order.firstIndex { $0 == method || $0.hasSuffix("/\(method).npy") } ?? order.count
            return 2 * position + (isMetric ? 1 : 0)
        }
        let steps = totals.keys.sorted { (rank($0), $0) < (rank($1), $1) }
        let timings = steps.map { Timing(step: $0, meanSeconds: totals[$0]! / Double(records.count), totalSeconds: totals[$0]!) }
        var values: [String: [String: [Float]]] = [:]
        var scored: [(method: String, metric: String)] = []
        for record in records {
            for (method, scores) in (record.metrics ?? [:]).sorted(by: { $0.key < $1.key }) {
                for (metric, value) in scores.sorted(by: { $0.key < $1.key }) {
                    if values[method]?[metric] == nil { scored.append((method, metric)) }
                    values[method, default: [:]][metric, default: []] += value.isNaN ? [] : [value]
                }
            }
        }
        let means = scored.map { pair in
            let scores = values[pair.method]![pair.metric]!
            return MetricMean(
                method: pair.method, metric: pair.metric, mean: scores.isEmpty ? .nan : scores.reduce(0, +) / Float(scores.count),
                images: scores.count)
        }
        return Summary(
            images: records.count, labelled: labelled.count, correct: correct,
            accuracy: labelled.isEmpty ? nil : Double(correct) / Double(labelled.count), classes: classes,
            confusion: confusion, timings: timings, metrics: means.isEmpty ? nil : means)
    }

    /// The model's class names as the records' top classes name them (`class K` where none does).
    static func modelClassNames(in records: [BatchRecord]) -> [String] {
        var names: [Int: String] = [:]
        for record in records { for ranked in record.top { names[ranked.class] = ranked.name } }
        return (0..<((names.keys.max() ?? -1) + 1)).map { names[$0] ?? "class \($0)" }
    }

    /// Image indices as ranges: `0-11, 24, 30-35`.
    static func ranges(_ indices: [Int]) -> String {
        var parts: [String] = []
        var start = 0
        while start < indices.count {
            var end = start
            while end + 1 < indices.count, indices[end + 1] == indices[end] + 1 { end += 1 }
            parts.append(end == start ? "\(indices[start])" : "\(indices[start])-\(indices[end])")
            start = end + 1
        }
        return parts.joined(separator: ", ")
    }
}
