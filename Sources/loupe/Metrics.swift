import ArgumentParser
import Foundation
import Loupe

struct MetricsCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "metrics",
            abstract: "Score attribution methods with explanation-quality metrics, and rank them.",
            discussion: """
                For every image, method and metric, writes DIR/metrics.json (a list of {"image", "method", "metric", "value"}),
                the same as DIR/metrics.csv, and each curve as DIR/curves/<image>-<method>-<metric>.json; prints the methods
                ranked by their mean value per metric. A CAM map is resized (bilinear) to the input before it is scored.
                Metrics (--metrics), with their options (--metric-option NAME.KEY=VALUE):
                \(metricHelp)
                Methods (--methods):
                \(methodHelp)
                """)
    }

    @OptionGroup var model: ModelOptions
    @OptionGroup var preprocessing: PreprocessingOptions
    @OptionGroup var sizes: MethodSizeOptions

    @Option(parsing: .upToNextOption, help: "PNG or JPEG images.")
    var images: [String] = []

    @Option(help: "A float32 .npy array that IS the model input, one image (with or without the batch dimension).")
    var input: String?

    @Option(help: "Class index to explain and score (default: each image's top class).")
    var target: Int?

    @Option(help: "Methods, comma-separated, or all.")
    var methods: String

    @Option(help: "Metrics, comma-separated, or all: \(MetricRegistry.all.map(\.name).joined(separator: ", ")).")
    var metrics: String

    @OptionGroup var metricSettings: MetricSettingOptions

    @Option(
        help:
            "Where the object is, for pointing-game and attribution-localisation: JSON {\"image\": [[x0, y0, x1, y1], ...]} in the photo's pixels (the input's with --input)."
    )
    var boxes: String?

    @Option(
        help:
            "Where the object is, as a folder of masks: DIR/<image name without extension>.png, the photo's size, nonzero on the object."
    )
    var masks: String?

    @OptionGroup var running: MethodRunOptions

    @Option(help: "The folder to write metrics.json, metrics.csv and curves/ into.")
    var out: String

    func validate() throws {
        guard images.isEmpty != (input == nil) else { throw ValidationError("give exactly one of --images and --input") }
        guard boxes == nil || masks == nil else { throw ValidationError("give at most one of --boxes and --masks") }
        _ = try attributionMethods(methods)
        if let needing = try explanationMetrics(metrics).first(where: { $0.requirements.contains(.region) }),
            boxes == nil && masks == nil
        {
            throw ValidationError("\(needing.name) needs where the object is: give --boxes FILE or --masks DIR")
        }
    }

    /// One score, as metrics.json and metrics.csv hold it.
    struct Record: Codable {
        var image: String
        var method: String
        var metric: String
        var value: Float
    }

    func run() throws {
        let loaded = try model.load()
        let network = loaded.module
        let (methods, metrics, settings) = (
            try attributionMethods(self.methods), try explanationMetrics(self.metrics), try metricSettings.settings()
        )
        let needsRegion = metrics.contains { $0.requirements.contains(.region) }
        let boxes = try self.boxes.map(readBoxes)
        // Read every input first, so a bad file stops the run before any work or output.
        var inputs: [(name: String, tensor: Tensor, region: Tensor?)] = []
        if let input {
            let tensor = try loaded.input(image: nil, array: input)
            let name = URL(fileURLWithPath: input).deletingPathExtension().lastPathComponent
            let region =
                try needsRegion ? self.region(for: input, named: name, boxes: boxes, shape: tensor.shape, preparation: nil) : nil
            inputs = [(name, tensor, region)]
        } else {
            let preparation = try preprocessing.resolved(for: loaded)
            for image in images {
                let tensor = try loaded.photoInput(image, preprocessing: preparation).input
                let name = URL(fileURLWithPath: image).lastPathComponent
                let region =
                    try needsRegion
                    ? self.region(for: image, named: name, boxes: boxes, shape: tensor.shape, preparation: preparation) : nil
                inputs.append((name, tensor, region))
            }
        }
        var options = AttributionMethod.Options()
        sizes.apply(to: &options)
        try running.apply(to: &options)
        var records: [Record] = []
        var curves: [(file: String, curve: [Float])] = []
        for (index, (name, x, region)) in inputs.enumerated() {
            let scores = network.predictions(for: x)
            let classes = scores.shape.last ?? 0
            let chosen = target ?? scores[0].argmax()
            guard chosen >= 0 && chosen < classes else {
                throw ValidationError("--target \(chosen) is out of range; the model has \(classes) classes (0...\(classes - 1))")
            }
            for method in methods {
                let step = "image \(index + 1)/\(inputs.count) \(name): \(method.name)"
                Progress.line("metrics: \(step)")
                let attribution = try method.attribute(network, input: x, target: .classes([chosen]), options: options)
                let map = ExplanationMetric.metricMap(attribution.attribution, of: method, inputShape: x.shape)
                let explain = ExplanationMetric.explainer(for: method, options: options)
                for metric in metrics {
                    let result = try metric.evaluate(
                        network, input: x, target: chosen, map: map, settings: settings[metric.name] ?? [:], explain: explain,
                        region: region, draws: SeededMetricDraws(seed: metricSettings.seed),
                        progress: { done, total in Progress.line("metrics: \(step), \(metric.name) \(done)/\(total)") })
                    records.append(Record(image: name, method: method.name, metric: metric.name, value: result.value))
                    if let curve = result.curve {
                        curves.append(("\(fileSafe(name))-\(method.name)-\(metric.name).json", curve))
                    }
                }
            }
        }
        Progress.finish()
        try write(records, curves)
        printRanking(records, metrics: metrics, methods: methods)
    }

    /// `--boxes`: each image's boxes by file name.
    private func readBoxes(_ path: String) throws -> [String: [[Double]]] {
        let data = try readFile(path, what: "boxes")
        guard let boxes = try? JSONDecoder().decode([String: [[Double]]].self, from: data),
            boxes.values.allSatisfy({ $0.allSatisfy { $0.count == 4 && $0.allSatisfy(\.isFinite) } })
        else {
            throw ValidationError("--boxes: \(path) is not JSON of the form {\"image\": [[x0, y0, x1, y1], ...]}")
        }
        return boxes
    }

    /// Where the object is in `file` (a photo, or the --input array), as the model sees it:
    /// from its boxes (by file name) or its mask in the --masks folder, in the file's pixels,
    /// carried to the model's input by the photo's resize and crop (none for --input).
    private func region(
        for file: String, named name: String, boxes: [String: [[Double]]]?, shape: [Int], preparation: ImagePreprocessing?
    ) throws -> Tensor {
        let (height, width) = (shape[2], shape[3])
        let geometry = preparation ?? ImagePreprocessing(resize: nil, crop: nil, mean: [0], std: [1], channels: 1)
        let size = try preparation.map { _ in try Image.read(file) }.map { ($0.width, $0.height) } ?? (width, height)
        let mask: Image
        if let boxes {
            guard let listed = boxes[name] ?? boxes[file] else { throw ValidationError("--boxes has no entry for '\(name)'") }
            mask = ImagePreprocessing.boxMask(width: size.0, height: size.1, boxes: listed)
        } else {
            let path = URL(fileURLWithPath: masks!).appendingPathComponent(
                URL(fileURLWithPath: name).deletingPathExtension().lastPathComponent + ".png"
            ).path
            mask = try Image.read(path)
            guard mask.width == size.0 && mask.height == size.1 else {
                throw ValidationError(
                    "--masks: \(path) is \(mask.width)×\(mask.height); it must be the \(preparation == nil ? "input" : "photo")'s \(size.0)×\(size.1)"
                )
            }
        }
        let region = geometry.region(fromMask: mask)
        guard region.shape == [height, width] else {
            throw ValidationError("the region of '\(name)' is \(region.shape); the input is \(height)×\(width)")
        }
        return region
    }

    /// Writes every output once all scores exist, each file atomically.
    private func write(_ records: [Record], _ curves: [(file: String, curve: [Float])]) throws {
        let folder = URL(fileURLWithPath: out)
        do {
            try FileManager.default.createDirectory(
                at: folder.appendingPathComponent("curves"), withIntermediateDirectories: true)
        } catch {
            throw ValidationError("cannot create '\(out)': \(error.localizedDescription)")
        }
        try writeJSON(records, to: folder.appendingPathComponent("metrics.json").path)
        let csv =
            (["image,method,metric,value"] + records.map { "\(csvField($0.image)),\($0.method),\($0.metric),\($0.value)" })
            .joined(separator: "\n") + "\n"
        try writeFileAtomically(Data(csv.utf8), to: folder.appendingPathComponent("metrics.csv").path)
        for (file, curve) in curves {
            try writeJSON(["curve": curve], to: folder.appendingPathComponent("curves").appendingPathComponent(file).path)
        }
    }

    /// Each metric's methods from best to worst by their mean over the images, equal means in the
    /// order given.
    private func printRanking(_ records: [Record], metrics: [ExplanationMetric], methods: [AttributionMethod]) {
        for metric in metrics {
            let ranking = MetricRanking(
                metric: metric,
                values: methods.map { method in
                    (method.name, records.filter { $0.metric == metric.name && $0.method == method.name }.map(\.value))
                })
            let line = ranking.entries.map { "\($0.rank). \($0.method) \(String(format: "%.4g", $0.mean))" }
            print("\(metric.name) (\(metric.direction.rawValue) is better): \(line.joined(separator: "  "))")
        }
        print("Wrote \(out)/metrics.json, metrics.csv and curves/")
    }
}

/// `--metric-option` and `--seed`: the metrics' settings, shared by metrics and report.
struct MetricSettingOptions: ParsableArguments {
    @Option(help: "A metric's setting, NAME.KEY=VALUE (for example deletion.step=224); repeat for several.")
    var metricOption: [String] = []

    @Option(help: "Seeds the metrics' random draws (ROAD's noise, sensitivity's perturbations, subsets, classes, new weights).")
    var seed: UInt64 = 0

    func validate() throws { _ = try settings() }

    /// `--metric-option`s by metric name, each checked as the metric checks its settings.
    func settings() throws -> [String: [String: Double]] {
        var settings: [String: [String: Double]] = [:]
        for option in metricOption {
            let parts = option.split(separator: "=", maxSplits: 1).map(String.init)
            let names = parts[0].split(separator: ".", maxSplits: 1).map(String.init)
            guard parts.count == 2, names.count == 2, let value = Double(parts[1]) else {
                throw ValidationError("--metric-option is NAME.KEY=VALUE with a number; got '\(option)'")
            }
            guard let metric = MetricRegistry.metric(named: names[0]) else {
                throw ValidationError("--metric-option: unknown metric '\(names[0])'")
            }
            settings[metric.name, default: [:]][names[1]] = value
            do {
                _ = try metric.resolvedParameters(settings[metric.name]!)
            } catch let error as ExplanationError {
                throw ValidationError("--metric-option: \(error.description)")
            }
        }
        return settings
    }
}

/// The metrics a comma-separated `--metrics` list names, or every one for `all`.
func explanationMetrics(_ list: String) throws -> [ExplanationMetric] {
    if list == "all" { return MetricRegistry.all }
    return try CommaList.names(list, option: "--metrics").map { name in
        guard let metric = MetricRegistry.metric(named: name) else {
            throw ValidationError(
                "unknown metric '\(name)'; choose one of \(MetricRegistry.all.map(\.name).joined(separator: ", "))")
        }
        return metric
    }
}

/// Every metric with its summary and options, one line each, for the help.
var metricHelp: String {
    MetricRegistry.all.map { metric in
        let options = metric.parameters.map { "\(metric.name).\($0.key) (default \(formatted($0.defaultValue))): \($0.summary)" }
        return "  \(metric.name): \(metric.summary); \(metric.direction.rawValue) is better"
            + options.map { "\n    \($0)" }.joined()
    }.joined(separator: "\n")
}

private func formatted(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
}

/// A name with every character but letters, digits, '.', '_' and '-' replaced by '_'.
private func fileSafe(_ name: String) -> String {
    String(name.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "_" })
}

/// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
private func csvField(_ text: String) -> String {
    text.contains(where: { ",\"\n\r".contains($0) }) ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
}
