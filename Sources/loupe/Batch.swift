import ArgumentParser
import Foundation
import Loupe

struct BatchCommand: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            commandName: "batch",
            abstract: "Explain a whole dataset, as one process or as shards of a cluster job; rerun to resume.",
            discussion: """
                --data is a folder of class subfolders (labels in sorted name order, or the model's class indices when every
                folder is one of its class names), a CSV manifest (path,label,target; paths relative to it), an IDX image file
                (--labels for its IDX labels) or an .npz (X uint8 images [N,H,W(,C)], y labels, label_map).
                Writes DIR/plan.json (checked by every shard), DIR/items/<index>/input.png, <method>.npy and <method>.png, and
                one JSON record per image to DIR/shards/<i>-of-<N>.jsonl once its files exist. Then loupe merge DIR.
                Shards: --shard i/N; else a Slurm job array's SLURM_ARRAY_TASK_ID, _MIN, _STEP and _COUNT; else a Kubernetes
                Indexed Job's JOB_COMPLETION_INDEX with --shards N.
                Methods (--methods):
                \(methodHelp)
                """)
    }

    @OptionGroup var model: ModelOptions
    @OptionGroup var preprocessing: PreprocessingOptions
    @OptionGroup var sizes: MethodSizeOptions

    @Option(help: "The images: a folder of class folders, a .csv manifest, an IDX image file or an .npz.")
    var data: String

    @Option(help: "An IDX file of labels, for an IDX image file.")
    var labels: String?

    @Option(help: "Methods, comma-separated, or all.")
    var methods: String

    @Option(help: "Explain the predicted class (top) or the true one (label); a manifest's target column wins.")
    var target: BatchRun.TargetMode = .top

    @Option(help: "How many top classes each record lists.")
    var top = 5

    @Option(help: "Metrics to score each map with, comma-separated (see loupe metrics --help); none that needs a region.")
    var metrics: String?

    @OptionGroup var metricSettings: MetricSettingOptions
    @OptionGroup var running: MethodRunOptions

    @Option(help: "Images per pass, counted from the first image of the data, so that every sharding computes the same passes.")
    var passSize = 8

    @Option(help: "Which shard this process runs, i/N (0-based); overrides the Slurm and Kubernetes environment.")
    var shard: String?

    @Option(help: "How many shards, for a Kubernetes Indexed Job (JOB_COMPLETION_INDEX gives this shard).")
    var shards: Int?

    @Flag(help: "No progress bar.")
    var quiet = false

    @Option(help: "The run folder.")
    var out: String

    func validate() throws {
        _ = try attributionMethods(methods)
        if let needing = try metrics.map(explanationMetrics)?.first(where: { $0.requirements.contains(.region) }) {
            throw ValidationError(
                "batch cannot score \(needing.name), which needs where the object is: use loupe metrics --boxes or --masks")
        }
        guard top >= 1 else { throw ValidationError("--top must be at least 1; got \(top)") }
        guard (1...1024).contains(passSize) else { throw ValidationError("--pass-size is 1...1024; got \(passSize)") }
        if let shards, shards < 1 { throw ValidationError("--shards must be at least 1; got \(shards)") }
        if let shard { _ = try Self.parseShard(shard) }
    }

    /// `--shard i/N`.
    static func parseShard(_ text: String) throws -> (index: Int, count: Int) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map { Int($0) }
        guard parts.count == 2, let index = parts[0], let count = parts[1], count >= 1, (0..<count).contains(index) else {
            throw ValidationError("--shard is i/N with 0 <= i < N (such as 0/4); got '\(text)'")
        }
        return (index, count)
    }

    /// This process's shard: `--shard`, else a Slurm job array's task, else a Kubernetes Indexed
    /// Job's completion index with `--shards`, else the whole run.
    func chosenShard(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> (index: Int, count: Int) {
        if let shard { return try Self.parseShard(shard) }
        if let task = environment["SLURM_ARRAY_TASK_ID"].flatMap({ Int($0) }) {
            let minimum = environment["SLURM_ARRAY_TASK_MIN"].flatMap { Int($0) } ?? 0
            let step = environment["SLURM_ARRAY_TASK_STEP"].flatMap { Int($0) } ?? 1
            guard let count = environment["SLURM_ARRAY_TASK_COUNT"].flatMap({ Int($0) }), step >= 1, task >= minimum,
                (task - minimum) % step == 0, (task - minimum) / step < count
            else {
                throw ValidationError(
                    "this Slurm job array is not a range with a step (it has gaps or is a list): give each task --shard i/N")
            }
            return ((task - minimum) / step, count)
        }
        if let index = environment["JOB_COMPLETION_INDEX"] {
            guard let shards else { throw ValidationError("JOB_COMPLETION_INDEX is set: give the shard count, --shards N") }
            guard let value = Int(index), (0..<shards).contains(value) else {
                throw ValidationError("JOB_COMPLETION_INDEX is '\(index)'; with --shards \(shards) it must be 0...\(shards - 1)")
            }
            return (value, shards)
        }
        if shards != nil {
            throw ValidationError("--shards is for a Kubernetes Indexed Job (JOB_COMPLETION_INDEX); else give --shard i/N")
        }
        return (0, 1)
    }

    /// The arguments that shape the outputs, as the plan records them.
    private func planArguments() -> [String: String] {
        var arguments: [String: String] = [
            "methods": methods, "target": target.rawValue, "top": String(top), "pass-size": String(passSize),
            "samples": String(sizes.samples), "steps": String(sizes.steps), "window": String(sizes.window),
            "stride": String(sizes.stride), "seed": String(metricSettings.seed),
        ]
        let optional: [String: String?] = [
            "model": model.model, "arch": model.arch, "output": model.output,
            "explain-probabilities": model.explainProbabilities ? "yes" : nil, "resize": preprocessing.resize,
            "interpolation": preprocessing.interpolation?.rawValue, "crop": preprocessing.crop.map(String.init),
            "mean": preprocessing.mean, "std": preprocessing.std, "channel-order": preprocessing.channelOrder?.rawValue,
            "pixel-scale": preprocessing.pixelScale, "letterbox": preprocessing.letterbox?.rawValue,
            "pad-value": preprocessing.padValue.map { String($0) }, "metrics": metrics,
            "metric-option": metricSettings.metricOption.isEmpty ? nil : metricSettings.metricOption.joined(separator: " "),
            "cam-layer": running.camLayer, "eigen-smooth": running.cam.eigenSmooth ? "yes" : nil,
            "aug-smooth": running.cam.augSmooth ? "yes" : nil,
        ]
        for case (let key, let value?) in optional { arguments[key] = value }
        return arguments
    }

    func run() throws {
        let (shardIndex, shardCount) = try chosenShard()
        let loaded = try model.load()
        let preparation = try preprocessing.resolved(for: loaded)
        let source = try DataSource.open(data, labels: labels, modelClassNames: loaded.classNames)
        if target == .label, let unlabelled = source.items.firstIndex(where: { $0.label == nil && $0.target == nil }) {
            throw ValidationError(
                "--target label needs every image's label; image \(unlabelled) (\(source.items[unlabelled].source)) has none")
        }
        let modelPath = model.model ?? ""
        let modelStamp = try DataSource.FileStamp.of(modelPath, as: "model:" + URL(fileURLWithPath: modelPath).lastPathComponent)
        let plan = BatchPlan(
            source: source, labels: labels, model: modelStamp, shards: shardCount, passSize: passSize, arguments: planArguments())
        do {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        } catch {
            throw ValidationError("cannot create '\(out)': \(error.localizedDescription)")
        }
        try plan.establish(in: out)
        var settings = BatchRun.Settings()
        settings.methods = try attributionMethods(methods)
        sizes.apply(to: &settings.options)
        try running.apply(to: &settings.options)
        settings.targetMode = target
        settings.topCount = top
        settings.metrics = try metrics.map(explanationMetrics) ?? []
        settings.metricSettings = try metricSettings.settings()
        settings.metricSeed = metricSettings.seed
        let runner = BatchRun(
            plan: plan, directory: out, model: loaded, source: source, preprocessing: preparation, settings: settings)
        let name = "shard \(shardIndex) of \(shardCount)"
        let outcome = try runner.run(shard: shardIndex) { progress in
            guard !quiet else { return }
            Progress.line("batch \(name): " + Self.bar(progress))
        }
        Progress.finish()
        let rate = outcome.seconds > 0 ? Double(outcome.explained) / outcome.seconds : 0
        print(
            "batch \(name): explained \(outcome.explained) images, skipped \(outcome.skipped) finished, in "
                + String(format: "%.1f s (%.2f images/s)", outcome.seconds, rate) + "; records in \(outcome.recordFile)")
    }

    /// The progress bar: images done of the shard's, the rate and the time left.
    static func bar(_ progress: BatchRun.Progress) -> String {
        let width = 24
        let filled = progress.total == 0 ? width : width * progress.done / progress.total
        let rate = progress.elapsed > 0 ? Double(progress.explained) / progress.elapsed : 0
        let left = progress.total - progress.done
        let eta = rate > 0 ? Int((Double(left) / rate).rounded()) : nil
        return "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
            + "\(progress.done)/\(progress.total)  " + String(format: "%.2f images/s", rate)
            + "  ETA " + (eta.map { $0 >= 60 ? "\($0 / 60)m\($0 % 60)s" : "\($0)s" } ?? "-")
    }
}

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Join a batch run's shards: DIR/index.jsonl (one record per image) and DIR/summary.json.",
        discussion: """
            Reads DIR/plan.json and every shard's records; names every image no shard finished (even those of a shard that never
            started) and any image done by two shards, and then writes nothing. Each record's files are checked (size and
            SHA-256). summary.json holds per-class accuracy, confusion counts and per-method timings.
            """)

    @Argument(help: "The run folder (loupe batch --out).")
    var directory: String

    func run() throws {
        let (records, summary) = try BatchMerge.merge(directory)
        let accuracy =
            summary.accuracy.map { String(format: "; accuracy %.4f (%d/%d)", $0, summary.correct, summary.labelled) } ?? ""
        print("merged \(records.count) images into \(directory)/index.jsonl and summary.json\(accuracy)")
    }
}
