import Dispatch
import Foundation
@_spi(Engine) import LoupeTensor
import LoupeNN
import LoupeIO
import LoupeExplain
import LoupeRender

/// One shard of a batch run: every image of the shard predicted, explained by each method (raw
/// `.npy` and picture `.png`), optionally scored, and recorded.
///
/// Files go to `DIR/items/<index>/` (`input.png`, the photo as the model saw it, then
/// `<method>.npy` and `<method>.png`), each written atomically; the image's ``BatchRecord`` is
/// appended to `DIR/shards/<i>-of-<N>.jsonl` only after its files exist. Rerun with the same
/// arguments, a shard skips its finished images, redoes the rest (whole passes, so the results
/// are the same bytes), and removes what a killed run left: a torn last record line, temporary
/// files.
public struct BatchRun {
    /// Which class each image's explanation is for.
    public enum TargetMode: String, Sendable, CaseIterable {
        /// The predicted class.
        case top
        /// The true class, from the source's labels.
        case label
    }

    /// What each image gets.
    public struct Settings {
        public var methods: [AttributionMethod] = []
        public var options = AttributionMethod.Options()
        public var targetMode = TargetMode.top
        /// How many top classes a record lists.
        public var topCount = 5
        /// Metrics that score each method's map (none that needs a region).
        public var metrics: [ExplanationMetric] = []
        public var metricSettings: [String: [String: Double]] = [:]
        public var metricSeed: UInt64 = 0

        public init() {}
    }

    /// How far a shard has got, for a progress display.
    public struct Progress: Sendable {
        /// Images of the shard finished, this run or before.
        public var done: Int
        /// Images in the shard.
        public var total: Int
        /// Images explained by this run.
        public var explained: Int
        /// Seconds since this run started.
        public var elapsed: Double
    }

    /// What a shard's run did.
    public struct Outcome: Sendable {
        /// Images explained by this run.
        public var explained: Int
        /// Images found finished and skipped.
        public var skipped: Int
        public var seconds: Double
        /// The shard's record file.
        public var recordFile: String
    }

    public let plan: BatchPlan
    public let directory: String
    public let model: LoadedModel
    public let source: DataSource
    public let preprocessing: ImagePreprocessing
    public let settings: Settings

    public init(
        plan: BatchPlan, directory: String, model: LoadedModel, source: DataSource, preprocessing: ImagePreprocessing,
        settings: Settings
    ) {
        self.plan = plan
        self.directory = directory
        self.model = model
        self.source = source
        self.preprocessing = preprocessing
        self.settings = settings
    }

    /// The record file of shard `index` of `count`.
    public static func recordFile(shard index: Int, of count: Int, in directory: String) -> String {
        "\(directory)/shards/\(index)-of-\(count).jsonl"
    }

    /// The folder of image `index`'s files, relative to the run folder.
    public static func itemFolder(_ index: Int) -> String { "items/\(index)" }

    /// Runs shard `shard` (0-based) of the plan.
    public func run(shard: Int, progress: (Progress) -> Void = { _ in }) throws -> Outcome {
        let started = DispatchTime.now()
        let recordFile = Self.recordFile(shard: shard, of: plan.shards, in: directory)
        try createFolder("\(directory)/shards")
        let images = plan.images(ofShard: shard)
        let finished = try finishedImages(recordFile: recordFile, images: images)
        try removePartialFiles(of: images)
        var outcome = Outcome(explained: 0, skipped: finished.count, seconds: 0, recordFile: recordFile)
        func report() {
            progress(
                Progress(
                    done: outcome.skipped + outcome.explained, total: images.count, explained: outcome.explained,
                    elapsed: seconds(since: started)))
        }
        report()
        let pending = plan.passes(ofShard: shard).filter { pass in plan.images(ofPass: pass).contains { !finished.contains($0) } }
        // While a pass runs, the next one's images are decoded and the last one's files written
        // (then its records appended), each on a thread of its own.
        var next = pending.first.map { pass in Prefetch { try self.decode(pass: pass) } }
        var writing: Prefetch<Int>? = nil
        for (position, pass) in pending.enumerated() {
            let decoded = try next!.value()
            next = position + 1 < pending.count ? Prefetch { try self.decode(pass: pending[position + 1]) } : nil
            let computed = try explain(pass: pass, decoded: decoded).filter { !finished.contains($0.record.index) }
            if let writing {
                outcome.explained += try writing.value()
                report()
            }
            writing = Prefetch {
                for image in computed { try RecordFile.append(try self.write(image), to: recordFile) }
                return computed.count
            }
        }
        if let writing {
            outcome.explained += try writing.value()
            report()
        }
        outcome.seconds = seconds(since: started)
        return outcome
    }

    /// The images of `images` whose record is in the shard's file with intact files (a torn last
    /// line cut from the file first).
    private func finishedImages(recordFile: String, images: Range<Int>) throws -> Set<Int> {
        var latest: [Int: BatchRecord] = [:]
        for record in try RecordFile.read(recordFile, repair: true) where images.contains(record.index) {
            latest[record.index] = record
        }
        return Set(latest.values.filter { $0.filesAreIntact(in: directory) }.map(\.index))
    }

    /// Removes the temporary files a killed run left in the shard's image folders.
    private func removePartialFiles(of images: Range<Int>) throws {
        let manager = FileManager.default
        for index in images {
            let folder = "\(directory)/\(Self.itemFolder(index))"
            guard let entries = try? manager.contentsOfDirectory(atPath: folder) else { continue }
            for entry in entries where entry.hasSuffix(partialFileSuffix) {
                try? manager.removeItem(atPath: "\(folder)/\(entry)")
            }
        }
    }

    /// An image made the model's input, with its picture and the seconds it took.
    struct Decoded {
        let index: Int
        let input: Tensor
        let picture: Tensor
        let seconds: Double
    }

    private func decode(pass: Int) throws -> [Decoded] {
        try plan.images(ofPass: pass).map { index in
            let started = DispatchTime.now()
            let item = plan.items[index]
            let image = try source.image(at: index)
            let (input, picture) = try model.photoInput(decoded: image, named: item.source, preprocessing: preprocessing)
            return Decoded(index: index, input: input, picture: picture, seconds: seconds(since: started))
        }
    }

    /// An image explained, before its files are written: its record (no files yet), the photo as
    /// the model saw it, and each method's map.
    struct Computed {
        var record: BatchRecord
        let picture: Tensor
        let maps: [(method: AttributionMethod, map: Tensor)]
    }

    /// Explains a pass: its images in runs of equal input shape, each run one batch.
    private func explain(pass: Int, decoded: [Decoded]) throws -> [Computed] {
        var records: [Computed] = []
        var start = 0
        while start < decoded.count {
            var end = start + 1
            while end < decoded.count, decoded[end].input.shape == decoded[start].input.shape { end += 1 }
            records += try explain(Array(decoded[start..<end]))
            start = end
        }
        return records
    }

    private func explain(_ images: [Decoded]) throws -> [Computed] {
        let network = model.module
        let batch = Tensor.concatenate(images.map(\.input), along: 0)
        let share = 1 / Double(images.count)
        let chosen = try images.map { image -> Int? in
            let item = plan.items[image.index]
            if let given = item.target { return given }
            guard settings.targetMode == .label else { return nil }
            guard let label = item.label else {
                throw LoupeIOError("image \(image.index) (\(item.source)) has no label to explain (--target label)")
            }
            return label
        }
        // The prediction and every method at once: those that read only the standard gradients
        // share one forward and backward pass.
        let together: AttributionMethod.Together
        do {
            together = try AttributionMethod.attributeTogether(
                settings.methods, model: network, input: batch, targets: chosen, options: settings.options)
        } catch let error as ExplanationError {
            let sources = images.map { "\($0.index) (\(plan.items[$0.index].source))" }.joined(separator: ", ")
            throw LoupeIOError("images \(sources): \(error.description)")
        }
        let probabilities = model.probabilities(fromScores: together.output)
        var records = images.enumerated().map { position, image in
            let item = plan.items[image.index]
            let row = probabilities[position].scalars
            let ranked = row.indices.sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 < $1) }
            let top = ranked.prefix(settings.topCount).map { index in
                BatchRecord.Ranked(class: index, name: model.className(index), probability: row[index])
            }
            var seconds = ["decode": image.seconds, "predict": (together.seconds["shared"] ?? 0) * share]
            for method in settings.methods { seconds[method.name] = (together.seconds[method.name] ?? 0) * share }
            return BatchRecord(
                index: image.index, source: item.source, label: item.label, target: together.targets[position],
                prediction: ranked[0], top: top, files: [], metrics: settings.metrics.isEmpty ? nil : [:], seconds: seconds)
        }
        for (method, result) in zip(settings.methods, together.results) where !settings.metrics.isEmpty {
            let started = DispatchTime.now()
            let explain = ExplanationMetric.explainer(for: method, options: settings.options)
            for (position, image) in images.enumerated() {
                let map = ExplanationMetric.metricMap(
                    result.attribution.slice(along: 0, from: position, to: position + 1), of: method,
                    inputShape: image.input.shape)
                var values: [String: Float] = [:]
                for metric in settings.metrics {
                    values[metric.name] =
                        try metric.evaluate(
                            network, input: image.input, target: records[position].target, map: map,
                            settings: settings.metricSettings[metric.name] ?? [:], explain: explain,
                            draws: SeededMetricDraws(seed: settings.metricSeed)
                        ).value
                }
                records[position].metrics?[method.name] = values
            }
            let metricSeconds = seconds(since: started) * share
            for position in records.indices { records[position].seconds["metrics:\(method.name)"] = metricSeconds }
        }
        return images.enumerated().map { position, image in
            Computed(
                record: records[position], picture: image.picture,
                maps: zip(settings.methods, together.results).map {
                    ($0, $1.attribution.slice(along: 0, from: position, to: position + 1))
                })
        }
    }

    /// Writes an explained image's files (`input.png`, and per method `.npy` and `.png`) and
    /// returns its record with them.
    private func write(_ image: Computed) throws -> BatchRecord {
        var record = image.record
        let folder = try itemFolder(for: record.index)
        record.files.append(try write(Image(tensor: image.picture).encodePNG(fast: true), "input.png", in: folder))
        for (method, map) in image.maps {
            // Pixel maps keep the model's own input layout (H, W, C for a channels-last ONNX model).
            let raw = method.attributesToLayer ? map : model.onnxModule?.toModelLayout(map) ?? map
            record.files.append(try write(NPY.encode(raw[0]), "\(method.name).npy", in: folder))
            let picture = try Render.attributionPicture(map[0], attributesToLayer: method.attributesToLayer, on: image.picture)
            record.files.append(try write(picture.encodePNG(fast: true), "\(method.name).png", in: folder))
        }
        return record
    }

    private func itemFolder(for index: Int) throws -> String {
        let folder = "\(directory)/\(Self.itemFolder(index))"
        try createFolder(folder)
        return folder
    }

    /// Writes `data` atomically as `name` in `folder` and describes it for the record.
    private func write(_ data: Data, _ name: String, in folder: String) throws -> BatchRecord.OutputFile {
        try writeFileAtomically(data, to: "\(folder)/\(name)")
        let relative = String(folder.dropFirst(directory.count + 1)) + "/\(name)"
        return BatchRecord.OutputFile(path: relative, size: data.count, sha256: SHA256.hex(data))
    }
}

/// Creates `path` and its parents when missing.
func createFolder(_ path: String) throws {
    do {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
        throw LoupeIOError("cannot create '\(path)': \(error.localizedDescription)")
    }
}

func seconds(since start: DispatchTime) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
}

/// A value computed on another thread, waited for when needed.
final class Prefetch<Value>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: Result<Value, Error>?

    /// Starts `work` on another thread; it must not share mutable state with the caller's.
    init(_ work: @escaping () throws -> Value) {
        nonisolated(unsafe) let work = work
        DispatchQueue.global().async {
            self.result = Result { try work() }
            self.done.signal()
        }
    }

    func value() throws -> Value {
        done.wait()
        return try result!.get()
    }
}
