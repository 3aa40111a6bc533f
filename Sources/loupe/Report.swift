import ArgumentParser
import Foundation
import Loupe

struct ReportCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "report",
            abstract: "Compare the attribution methods side by side on some images, as one self-contained HTML page.",
            discussion: """
                Writes DIR/index.html: per image the top-5 prediction, every method's overlay for the top class and the
                activations of the --layers; a run summary with the time per method. Images are inline; the page needs no network.
                With --metrics, each picture also shows the metrics' values, deletion and insertion curves are plotted, a table
                ranks the methods (mean and bootstrap 95% interval), and with mprt the first image shows the maps as the
                model's layers are randomized from the top.
                Methods (--methods):
                \(methodHelp)
                """)
    }

    @OptionGroup var model: ModelOptions
    @OptionGroup var preprocessing: PreprocessingOptions
    @OptionGroup var sizes: MethodSizeOptions

    @Option(parsing: .upToNextOption, help: "PNG or JPEG images.")
    var images: [String] = []

    @Option(help: "A merged batch run's folder (loupe batch, loupe merge): draw its pages without recomputing.")
    var from: String?

    @Option(help: "With --from: the most images on each class page and in each list of the summary.")
    var maxImages = 24

    @Option(
        help: "Methods, comma-separated, or all (default: \(MethodRegistry.defaultReport.map(\.name).joined(separator: ","))).")
    var methods: String?

    @Option(help: "Layers whose activations to show, comma-separated (default: the CAM layer).")
    var layers: String?

    @OptionGroup var running: MethodRunOptions

    @Option(
        help:
            "Metrics to score each method's map with, comma-separated (see loupe metrics --help): their values beside the pictures, deletion and insertion curves, and a table ranking the methods."
    )
    var metrics: String?

    @OptionGroup var metricSettings: MetricSettingOptions

    @Option(help: "The folder to write index.html into (with --from: default the run's folder).")
    var out: String?

    func validate() throws {
        if from != nil {
            guard images.isEmpty, model.model == nil else {
                throw ValidationError("--from draws a finished batch run; give it without --images and --model")
            }
            guard maxImages >= 1 else { throw ValidationError("--max-images must be at least 1; got \(maxImages)") }
            return
        }
        guard !images.isEmpty else { throw ValidationError("give at least one image: --images A.jpg B.png ...") }
        guard out != nil else { throw ValidationError("give the folder to write the report into: --out DIR") }
        _ = try chosenMethods()
        if let needing = try metrics.map(explanationMetrics)?.first(where: { $0.requirements.contains(.region) }) {
            throw ValidationError(
                "the report cannot score \(needing.name), which needs where the object is: use loupe metrics with --boxes or --masks"
            )
        }
    }

    func chosenMethods() throws -> [AttributionMethod] {
        try methods.map(attributionMethods) ?? MethodRegistry.defaultReport
    }

    func run() throws {
        if let from {
            let pages = try BatchReport.write(run: from, to: out, maxImages: maxImages, generator: "loupe \(loupeVersion)")
            print("Wrote \(pages[0]) and \(pages.count - 1) class pages")
            return
        }
        guard let out else { return }
        let loaded = try model.load()
        let preparation = try preprocessing.resolved(for: loaded)
        // Decode every image first, so a bad file stops the run before any work or output.
        let prepared = try images.map { try loaded.photoInput($0, preprocessing: preparation) }
        var settings = Report.Settings()
        settings.methods = try chosenMethods()
        sizes.apply(to: &settings.options)
        try running.apply(to: &settings.options)
        settings.metrics = try metrics.map(explanationMetrics) ?? []
        settings.metricSettings = try metricSettings.settings()
        settings.metricSeed = metricSettings.seed
        settings.layers =
            try layers.map { try CommaList.names($0, option: "--layers") }
            ?? [settings.options.layers.first ?? loaded.module.defaultCAMLayer(inputShape: prepared[0].input.shape)]
        var report = Report(
            title: "Loupe report: \(URL(fileURLWithPath: model.model ?? "").lastPathComponent)", model: loaded,
            modelName: model.model ?? "", settings: settings)
        for (index, (path, photo)) in zip(images, prepared).enumerated() {
            let name = URL(fileURLWithPath: path).lastPathComponent
            try report.addImage(named: name, input: photo.input, picture: photo.picture) { step in
                Progress.line("report: image \(index + 1)/\(images.count) \(name): \(step)")
            }
        }
        Progress.finish()
        try report.write(toDirectory: out, generator: "loupe \(loupeVersion)")
        print("Wrote \(out)/index.html (\(images.count) images, \(settings.methods.count) methods)")
    }
}
