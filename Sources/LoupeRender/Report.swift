import Foundation
import LoupeExplain
import LoupeIO
import LoupeNN
import LoupeTensor

/// A picture with a caption, for a report section.
public struct Figure {
    public var image: Image
    public var caption: String
    /// Width on the page in pixels (`nil`: the image's own).
    public var displayWidth: Int?

    public init(_ image: Image, caption: String, displayWidth: Int? = nil) {
        self.image = image
        self.caption = caption
        self.displayWidth = displayWidth
    }
}

/// The HTML report: one self-contained page (images inline, no links out) comparing the
/// attribution methods side by side on a model's inputs.
///
/// Per image: the top predictions with class names, each method's overlay for the top class
/// (with the time it took and a histogram of its raw values), and the chosen layers'
/// activations. At the top, a run summary: the model, its input size and the mean time per
/// method. Extra sections (filter visualizations, training curves) can be added.
public struct Report {
    /// What to show for each image.
    public struct Settings {
        public var methods: [AttributionMethod] = MethodRegistry.defaultReport
        public var options = AttributionMethod.Options()
        /// Layers whose activations are shown as grids.
        public var layers: [String] = []
        /// The most channels shown per activation grid.
        public var maximumChannels = 32
        /// Predictions listed per image.
        public var topCount = 5
        /// Width of each picture on the page.
        public var displayWidth = 196
        /// Links shown under the title, as (text, relative address): the other pages of a run.
        public var links: [(text: String, address: String)] = []
        /// Metrics that score each method's map: their values go beside the pictures, their
        /// deletion and insertion curves into a plot, and a table at the top ranks the methods.
        /// With ``ExplanationMetric/mprt``, the first image also shows the maps as the model's
        /// layers are randomized from the top. Metrics that need a region cannot be shown here.
        public var metrics: [ExplanationMetric] = []
        /// Values for some of each metric's parameters, by metric name.
        public var metricSettings: [String: [String: Double]] = [:]
        /// Seeds the metrics' random draws.
        public var metricSeed: UInt64 = 0
        /// The most randomization steps the MPRT strip shows after the untouched model's map.
        public var randomizationSteps = 5

        public init() {}
    }

    public let title: String
    public let settings: Settings
    private let model: LoadedModel
    private let modelName: String
    private var inputShape: [Int] = []
    /// Image sections go to a temporary file as they are made, so a report over hundreds of
    /// images keeps memory flat; ``write(toDirectory:generator:)`` moves them into the page and
    /// deletes the file.
    private var spool: Spool?
    private var imageCount = 0
    private var extraSections: [String] = []
    private var seconds: [AttributionMethod: Double] = [:]
    /// Each metric's values by method, one per image.
    private var metricValues: [String: [String: [Float]]] = [:]

    public init(title: String, model: LoadedModel, modelName: String, settings: Settings = Settings()) {
        self.title = title
        self.model = model
        self.modelName = modelName
        self.settings = settings
    }

    /// Runs every method on one model input `[1, C, H, W]` and adds its section.
    ///
    /// - Parameters:
    ///   - picture: the photo as the model saw it, in `[0, 1]` (``LoupeIO/ImagePreprocessing/picture(of:)``);
    ///     by default the input with the metadata's normalization undone.
    ///   - progress: told the step about to run ("grad-cam"), for a progress line.
    public mutating func addImage(
        named name: String, input: Tensor, picture: Tensor? = nil, progress: (String) -> Void = { _ in }
    ) throws {
        precondition(input.rank == 4 && input.shape[0] == 1, "addImage: input must be [1, C, H, W]; got \(input.shape)")
        inputShape = input.shape
        let network = model.module
        progress("predict")
        let (output, activations) = try network.withTaps(settings.layers) { withoutGradients { network(input) } }
        let probabilities = output.softmax(along: 1)[0].scalars
        let ranked = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(settings.topCount)
        let top = ranked.first!
        let photo = (picture ?? model.metadata.denormalized(input)).clamped(min: 0, max: 1)
        let width = settings.displayWidth

        var overlays = [
            try HTML.image(Image(tensor: photo), displayWidth: width, alt: name).figure(caption: "input", width: width)
        ]
        var histograms: [String] = []
        var curves: [String: [(method: String, curve: [Float])]] = [:]
        for method in settings.methods {
            progress(method.name)
            let start = Date()
            let result = try method.attribute(network, input: input, target: .classes([top]), options: settings.options)
            let elapsed = Date().timeIntervalSince(start)
            seconds[method, default: 0] += elapsed
            let picture = try Render.attributionPicture(
                result.attribution[0], attributesToLayer: method.attributesToLayer, on: photo)
            let layerNote =
                (result.layers.isEmpty ? "" : " at \(result.layers.joined(separator: ", "))")
                + (method.attributesToLayer && result.attribution.abs().max().scalar == 0 ? " (zero everywhere)" : "")
            var scores = ""
            for metric in settings.metrics {
                progress("\(method.name): \(metric.name)")
                let scored = try score(metric, of: method, result.attribution, input: input, target: top)
                metricValues[metric.name, default: [:]][method.name, default: []].append(scored.value)
                scores += " · \(metric.name) \(Report.formatted(scored.value))"
                if let curve = scored.curve, Report.plottedCurves.contains(metric.name) {
                    curves[metric.name, default: []].append((method.name, curve))
                }
            }
            overlays.append(
                try HTML.image(picture, displayWidth: width, alt: method.name)
                    .figure(caption: "\(method.name)\(layerNote) · \(Report.milliseconds(elapsed))\(scores)", width: width))
            histograms.append(
                try HTML.image(
                    Render.histogram(result.attribution, title: "\(method.name): raw values", width: 300, height: 180),
                    alt: "\(method.name) histogram"
                ).figure(caption: ""))
        }

        var html = "<h2>\(HTML.escape(name))</h2>\n"
        let classes = model.classNames
        html += HTML.table(
            ranked.enumerated().map { rank, index in
                [
                    String(rank + 1), index < classes.count ? classes[index] : "class \(index)", String(index),
                    String(format: "%.2f%%", probabilities[index] * 100),
                ]
            }, header: ["#", "class", "index", "probability"])
        html +=
            "<h3>Why \(HTML.escape(top < classes.count ? classes[top] : "class \(top)"))? Each method's attribution for the top class</h3>\n"
        html += "<div class=\"row\">\(overlays.joined(separator: "\n"))</div>\n"
        html += try curvePlots(curves)
        if imageCount == 0, settings.metrics.contains(.mprt) {
            html += try randomizationStrip(input: input, target: top, photo: photo, progress: progress)
        }
        if !histograms.isEmpty {
            html +=
                "<details><summary>Histograms of the raw attributions</summary><div class=\"row\">\(histograms.joined(separator: "\n"))</div></details>\n"
        }
        for layer in settings.layers {
            guard let activation = activations[layer] else { continue }
            html += try Report.activationFigure(layer: layer, activation: activation, maximumChannels: settings.maximumChannels)
        }
        if spool == nil { spool = try Spool() }
        try spool!.append(html)
        imageCount += 1
    }

    /// The curves that a plot per image shows, one line per method.
    static let plottedCurves: Set<String> = ["deletion", "insertion"]

    /// `metric`'s result on a method's attribution of one image (`[1, …]`); metrics that explain
    /// again run the same method with the report's settings.
    private func score(
        _ metric: ExplanationMetric, of method: AttributionMethod, _ attribution: Tensor, input: Tensor, target: Int
    ) throws -> ExplanationMetric.Result {
        let explain = ExplanationMetric.explainer(for: method, options: settings.options)
        return try metric.evaluate(
            model.module, input: input, target: target,
            map: ExplanationMetric.metricMap(attribution, of: method, inputShape: input.shape),
            settings: settings.metricSettings[metric.name] ?? [:], explain: explain,
            draws: SeededMetricDraws(seed: settings.metricSeed))
    }

    /// One plot per curve metric (deletion, insertion), a line per method, with a legend in
    /// the page's colours.
    private func curvePlots(_ curves: [String: [(method: String, curve: [Float])]]) throws -> String {
        let figures = try settings.metrics.compactMap { metric -> String? in
            guard let lines = curves[metric.name], !lines.isEmpty else { return nil }
            let series = lines.map { line in
                PlotSeries(
                    line.method, points: line.curve.enumerated().map { (Float($0.offset), $0.element) },
                    color: Report.color(of: line.method, among: settings.methods))
            }
            let plot = Render.linePlot(
                series, title: "\(metric.name): target probability", xLabel: "step", width: 360, height: 220, legend: false)
            return try HTML.image(plot, alt: "\(metric.name) curves").figure(caption: "")
        }
        guard !figures.isEmpty else { return "" }
        let legend = settings.methods.map { method in
            let color = Report.color(of: method.name, among: settings.methods)
            let css = "rgb(\(Int(color.red * 255)),\(Int(color.green * 255)),\(Int(color.blue * 255)))"
            return "<span style=\"color:\(css)\">&#9632;</span> \(HTML.escape(method.name))"
        }.joined(separator: " &nbsp; ")
        return "<div class=\"row\">\(figures.joined(separator: "\n"))</div>\n<p class=\"note\">\(legend)</p>\n"
    }

    /// A method's line colour: its place in the report's method list, so plots and legend agree.
    static func color(of method: String, among methods: [AttributionMethod]) -> RGB {
        RGB.series[(methods.firstIndex { $0.name == method } ?? 0) % RGB.series.count]
    }

    /// Adebayo et al.'s figure for one image: each method's map with the model untouched, then as
    /// its layers are reset from the top (cascading), at up to ``Settings/randomizationSteps``
    /// evenly spaced steps, the last with every layer reset.
    private func randomizationStrip(
        input: Tensor, target: Int, photo: Tensor, progress: (String) -> Void
    ) throws -> String {
        let network = model.module
        let layers = network.randomizableLayers.count
        guard layers > 0 else { return "" }
        let shown = Set(
            (1...Swift.min(settings.randomizationSteps, layers)).map {
                layers * $0 / Swift.min(settings.randomizationSteps, layers)
            } + [0])
        var rows = ""
        for method in settings.methods {
            progress("\(method.name): cascading randomization")
            var figures: [String] = []
            var step = 0
            try ExplanationMetric.cascadingRandomization(of: network, draws: SeededMetricDraws(seed: settings.metricSeed)) {
                layer in
                defer { step += 1 }
                guard shown.contains(step) else { return }
                let result = try method.attribute(network, input: input, target: .classes([target]), options: settings.options)
                let picture = try Render.attributionPicture(
                    result.attribution[0], attributesToLayer: method.attributesToLayer, on: photo)
                figures.append(
                    try HTML.image(picture, displayWidth: 96, alt: "\(method.name) \(layer ?? "model")").figure(
                        caption: layer.map { "to \($0)" } ?? method.name, width: 96))
            }
            rows += "<div class=\"row\">\(figures.joined(separator: "\n"))</div>\n"
        }
        return "<h3>Model parameter randomization (Adebayo et al.): each map as the layers are reset from the top</h3>\n"
            + rows
    }

    /// Adds a section of figures under a heading, with an optional paragraph.
    public mutating func addSection(heading: String, text: String? = nil, figures: [Figure]) throws {
        var html = "<h2>\(HTML.escape(heading))</h2>\n"
        if let text { html += "<p class=\"note\">\(HTML.escape(text))</p>\n" }
        html += "<div class=\"row\">"
        html += try figures.map {
            try HTML.image($0.image, displayWidth: $0.displayWidth, alt: $0.caption).figure(caption: $0.caption)
        }
        .joined(separator: "\n")
        html += "</div>\n"
        extraSections.append(html)
    }

    /// Writes the page to `directory/page` (creating the folder): streamed to a temporary
    /// file beside it, then renamed, so a failure leaves no partial page.
    ///
    /// - Parameter generator: who made it ("loupe 0.1.0"), shown in the summary.
    public func write(toDirectory directory: String, page: String = "index.html", generator: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let final = "\(directory)/\(page)", partial = "\(directory)/.\(page).\(UUID().uuidString).partial"
        guard FileManager.default.createFile(atPath: partial, contents: nil), let output = FileHandle(forWritingAtPath: partial)
        else {
            throw LoupeIOError("cannot write into \(directory)")
        }
        do {
            try output.write(contentsOf: Data(head(generator: generator).utf8))
            try spool?.copy(to: output)
            try output.write(contentsOf: Data(tail.utf8))
            try output.close()
            guard rename(partial, final) == 0 else { throw LoupeIOError("cannot write \(final) (errno \(errno))") }
            spool?.remove()
        } catch {
            try? output.close()
            try? FileManager.default.removeItem(atPath: partial)
            throw error
        }
    }

    /// Everything before the image sections: the title and the run summary.
    private func head(generator: String) -> String {
        let images = imageCount
        let parameters = model.module.namedParameters().reduce(0) { $0 + $1.parameter.value.count }
        let rows = [
            ["model", modelName],
            ["architecture", model.metadata.architecture ?? "layer stack from metadata"],
            ["parameters", String(parameters)],
            ["input", inputShape.isEmpty ? "-" : "[" + inputShape.map(String.init).joined(separator: ", ") + "]"],
            ["classes", String(model.classNames.count)],
            ["images", String(images)],
            ["total method time", Report.milliseconds(seconds.values.reduce(0, +))],
            ["made by", generator],
        ]
        let times = settings.methods.map { method in
            [method.name, images > 0 ? Report.milliseconds((seconds[method] ?? 0) / Double(images)) : "-"]
        }
        let rankings = settings.metrics.map { metric in
            let ranking = MetricRanking(
                metric: metric, values: settings.methods.map { ($0.name, metricValues[metric.name]?[$0.name] ?? []) })
            let rows = ranking.entries.map { entry in
                [
                    String(entry.rank), entry.method, Report.formatted(entry.mean),
                    entry.interval.map { "\(Report.formatted($0.low)) to \(Report.formatted($0.high))" } ?? "-",
                ]
            }
            return HTML.table(
                rows, header: ["#", "method", "\(metric.name) (\(metric.direction.rawValue) is better)", "95% interval"])
        }
        let ranking =
            rankings.isEmpty
            ? ""
            : """
            <h2>Methods ranked by each metric</h2>
            <p class="note">The mean over the images; the interval is a bootstrap of the mean (1,000 resamples of the images, \
            seed 0), shown from \(MetricRanking.minimumImagesForInterval) images on.</p>
            <div class="row">\(rankings.joined())</div>
            """
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(HTML.escape(title))</title>
            <style>\(HTML.style)</style></head><body>
            <h1>\(HTML.escape(title))</h1>
            \(settings.links.map { "<p><a href=\"\(HTML.escape($0.address))\">\(HTML.escape($0.text))</a></p>" }.joined())
            <h2>Run summary</h2>
            <div class="row">\(HTML.table(rows))\(HTML.table(times, header: ["method", "time per image"]))</div>
            \(ranking)

            """
    }

    /// Everything after the image sections.
    private var tail: String { extraSections.joined(separator: "\n") + "\n</body></html>\n" }

    static func activationFigure(layer: String, activation: Tensor, maximumChannels: Int) throws -> String {
        let values = activation[0]
        guard values.rank == 3 else {
            return "<p class=\"note\">\(HTML.escape(layer)): shape \(activation.shape) is not a stack of feature maps.</p>\n"
        }
        let shown = Swift.min(values.shape[0], maximumChannels)
        let grid = Render.grid(values.slice(along: 0, from: 0, to: shown), columns: 8, gap: 1, colormap: .viridis)
        let factor = Swift.max(1, 56 / Swift.max(values.shape[1], values.shape[2]))
        let caption =
            "\(layer): \(shown) of \(values.shape[0]) channels, \(values.shape[1])×\(values.shape[2]); "
            + String(format: "min %.3g, mean %.3g, max %.3g", values.min().scalar, values.mean().scalar, values.max().scalar)
        return "<h3>Activations of \(HTML.escape(layer))</h3>\n<div class=\"row\">"
            + (try HTML.image(grid, displayWidth: grid.width * factor, alt: layer).figure(caption: caption)) + "</div>\n"
    }

    static func milliseconds(_ seconds: Double) -> String { String(format: "%.1f ms", seconds * 1000) }

    /// A metric value with four significant digits ("nan" where it is undefined).
    static func formatted(_ value: Float) -> String { value.isNaN ? "nan" : String(format: "%.4g", value) }
}

extension String {
    /// This HTML wrapped in a `<figure>` with a caption, `width` pixels wide when given (the
    /// caption wraps to it).
    func figure(caption: String, width: Int? = nil) -> String {
        (width.map { "<figure style=\"width:\($0)px\">" } ?? "<figure>") + self
            + (caption.isEmpty ? "" : "<figcaption>\(HTML.escape(caption))</figcaption>") + "</figure>"
    }
}

/// A temporary file that collects text: a path, opened for each append.
struct Spool {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-report-\(UUID().uuidString).html").path
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw LoupeIOError("cannot create a temporary file in \(FileManager.default.temporaryDirectory.path)")
        }
    }

    func append(_ text: String) throws {
        guard let handle = FileHandle(forWritingAtPath: path) else { throw LoupeIOError("cannot append to \(path)") }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((text + "\n").utf8))
    }

    /// Copies what was collected to `output`, a megabyte at a time.
    func copy(to output: FileHandle) throws {
        guard let reader = FileHandle(forReadingAtPath: path) else { throw LoupeIOError("cannot read \(path)") }
        defer { try? reader.close() }
        while let chunk = try reader.read(upToCount: 1 << 20), !chunk.isEmpty { try output.write(contentsOf: chunk) }
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}
