import Foundation
import LoupeExplain
import LoupeIO
import LoupeTensor
import Testing

/// Random combinations of commands (predict, explain, activations, summary, filters, train,
/// evaluate, report, metrics, batch, merge), options (valid, out of range, malformed) and files (valid, truncated, of the
/// wrong shape or type, NaN, Fortran-order, IDX with a huge header), run through the `loupe` binary.
/// Each must exit 0 with every output it names complete, or exit 1 (bad data) or 2 (usage) with
/// one `error:` line last on stderr and no output file left; never end on a signal.
///
/// `LOUPE_PROPERTY_RUNS` and `LOUPE_PROPERTY_SEED` set the number of runs and the seed
/// (`make fuzz` runs more); a failure prints the seed and the command line to reproduce it.
@Suite("loupe never traps")
struct CLIPropertyTests {
    static let environment = ProcessInfo.processInfo.environment
    static let runs = environment["LOUPE_PROPERTY_RUNS"].flatMap(Int.init) ?? 400
    static let seed = environment["LOUPE_PROPERTY_SEED"].flatMap(UInt64.init) ?? 20_261_201

    /// A model the combinations run, with inputs and layers it takes.
    struct Profile {
        let model: String
        let arrays: [String]
        let layers: [String]
    }

    /// The files the combinations draw from, made once in a temporary folder: models with inputs
    /// and layers they take, and files that are broken in every way the readers must refuse.
    struct Files {
        let folder: URL
        let profiles: [Profile]
        let images: [String]
        let badModels: [String]
        let badArrays: [String]
        let badImages: [String]
        /// IDX images and labels (20 Fashion-MNIST-sized images), and broken ones.
        let idx: (images: String, labels: String)
        let badIDX: [String]
        /// Datasets for batch (an .npz, the IDX images) and broken ones (a hostile .npz, ...).
        let data: [String]
        let badData: [String]
        /// Run folders for merge: a finished run, a damaged one, a missing one.
        let runs: [String]

        init() throws {
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-property-\(UUID())")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
            func write(_ name: String, _ bytes: Data) throws -> String {
                try bytes.write(to: URL(fileURLWithPath: path(name)))
                return path(name)
            }
            func npy(_ name: String, _ tensor: Tensor) throws -> String {
                try NPY.write(tensor, to: path(name))
                return path(name)
            }
            var generator = RandomGenerator(seed: 7)
            let fashion = Tensor.uniform([1, 1, 28, 28], generator: &generator)
            let fixtures = "Tests/LoupeExplainTests/Fixtures"
            let profiles = [
                Profile(
                    model: "Models/fashion-cnn.safetensors",
                    arrays: [try npy("fashion.npy", fashion), try npy("unbatched.npy", fashion[0])],
                    layers: ["features.0", "features.2", "features.4", "features.5"]),
                Profile(
                    model: "\(fixtures)/small-cnn/small-cnn.onnx", arrays: ["\(fixtures)/small-cnn/input.npy"],
                    layers: ["/conv1/Conv_output_0", "/relu2/Relu_output_0"]),
                Profile(
                    model: "\(fixtures)/keras-style/keras-style.onnx", arrays: ["\(fixtures)/keras-style/input.npy"],
                    layers: ["conv", "pool"]),
            ]
            let weights = try Data(contentsOf: LoupeProcess.root.appendingPathComponent("Models/fashion-cnn.safetensors"))
            let badModels = [
                try write("truncated.safetensors", weights.prefix(200)),
                try write("garbage.onnx", Data((0..<300).map { UInt8($0 % 251) })),
                try write("garbage.pth", Data("not a zip".utf8)), path("missing.safetensors"), "Package.swift",
            ]
            let header = try Data(contentsOf: URL(fileURLWithPath: profiles[0].arrays[0]))
            let badArrays = [
                try npy("wrong-shape.npy", Tensor.zeros([1, 3, 17, 5])), try npy("tiny.npy", Tensor.zeros([1, 1, 2, 2])),
                try npy("flat.npy", Tensor.zeros([784])),
                try npy("nan.npy", Tensor(shape: [1, 1, 28, 28], scalars: [Float.nan] + Array(repeating: 0, count: 783))),
                try write("fortran.npy", header.replacingFirst("'fortran_order': False", with: "'fortran_order': True ")),
                try write("huge-header.npy", header.replacingFirst("(1, 1, 28, 28)", with: "(1,9999,99999)")),
                try write("float64.npy", header.replacingFirst("<f4", with: "<f8")),
                try write("truncated.npy", header.prefix(100)), try write("empty.npy", Data()),
                try write("text.npy", Data("hello".utf8)),
            ]
            let png = try Data(contentsOf: LoupeProcess.root.appendingPathComponent("Samples/fashion/0000-ankle-boot.png"))
            try Image(width: 1, height: 1, channels: 1, pixels: [128]).writePNG(to: path("one-pixel.png"))
            let badImages = [
                try write("truncated.png", png.prefix(60)), try write("text.png", Data("not a picture".utf8)),
                path("missing.png"),
            ]
            func bigEndian(_ values: [UInt32]) -> Data {
                Data(values.flatMap { withUnsafeBytes(of: $0.bigEndian) { Array($0) } })
            }
            let pixels = Data((0..<20 * 28 * 28).map { UInt8(truncatingIfNeeded: $0 &* 7) })
            let idxImages = try write("images-idx3-ubyte", bigEndian([0x803, 20, 28, 28]) + pixels)
            let idxLabels = try write("labels-idx1-ubyte", bigEndian([0x801, 20]) + Data((0..<20).map { UInt8($0 % 10) }))
            idx = (idxImages, idxLabels)
            badIDX = [
                try write("truncated-idx3-ubyte", bigEndian([0x803, 20, 28, 28]) + pixels.prefix(100)),
                try write("huge-idx3-ubyte", bigEndian([0x803, 1 << 30, 1 << 15, 1 << 15])),
                try write("few-labels-idx1-ubyte", bigEndian([0x801, 3]) + Data([0, 1, 2])), path("missing-idx"),
            ]
            let batch = "Tests/LoupeCLITests/Fixtures/batch"
            data = ["\(batch)/fashion_val_12.npz", idxImages]
            badData = [
                "\(batch)/hostile.npz",
                try write(
                    "truncated.npz",
                    try Data(
                        contentsOf: LoupeProcess.root.appendingPathComponent(
                            "\(batch)/fashion_val_12.npz")
                    ).prefix(3000)), try write("empty.csv", Data()),
                try write("bad.csv", Data("path,label\n\"unclosed,1\n/etc/passwd,2\n".utf8)), path("missing-folder"),
                "Package.swift",
            ]
            let finished = path("finished-run")
            _ = try LoupeProcess.run([
                "batch", "--model", profiles[0].model, "--data", data[0], "--methods", "saliency", "--out", finished, "--quiet",
            ])
            let damaged = path("damaged-run")
            try FileManager.default.createDirectory(atPath: "\(damaged)/shards", withIntermediateDirectories: true)
            _ = try write("damaged-run/plan.json", Data("{\"version\": 1}".utf8))
            _ = try write("damaged-run/shards/0-of-1.jsonl", Data("{\"index\": 0}\n{\"ind".utf8))
            runs = [finished, damaged, path("missing-run")]
            (self.folder, self.profiles, self.badModels, self.badArrays, self.badImages) =
                (folder, profiles, badModels, badArrays, badImages)
            images = ["Samples/fashion/0000-ankle-boot.png", "Samples/imagenet/dog.jpg", path("one-pixel.png")]
        }
    }

    /// A small deterministic generator of choices.
    struct Choices {
        var generator: RandomGenerator

        mutating func pick<Element>(_ options: [Element]) -> Element {
            options[Int(generator.next() % UInt64(options.count))]
        }

        mutating func chance(_ percent: UInt64) -> Bool { generator.next() % 100 < percent }
    }

    /// An option a command may take: values it accepts for every profile, and values that are
    /// out of range or malformed.
    struct OptionSpec {
        let name: String
        let valid: [String]
        let invalid: [String]
    }

    static let options: [String: [OptionSpec]] = {
        let preprocessing = [
            OptionSpec(name: "--crop", valid: ["16", "14"], invalid: ["0", "-3", "x", "100000", "2"]),
            OptionSpec(name: "--resize", valid: ["16", "20"], invalid: ["0", "x", "100000", "1"]),
        ]
        let explain = [
            OptionSpec(name: "--target", valid: ["0", "3", "4"], invalid: ["10", "-1", "x", "99999999999999999999"]),
            OptionSpec(name: "--window", valid: ["4", "8"], invalid: ["0", "29", "x", "-2"]),
            OptionSpec(name: "--stride", valid: ["2", "4"], invalid: ["0", "x", "-1"]),
            OptionSpec(name: "--samples", valid: ["2", "3"], invalid: ["0", "x", "-5"]),
            OptionSpec(name: "--steps", valid: ["2", "4"], invalid: ["1", "0", "x"]),
            OptionSpec(name: "--reduce", valid: ["abs", "max", "absmax"], invalid: ["x", ""]),
            OptionSpec(name: "--colormap", valid: ["jet", "bwr"], invalid: ["x"]),
            OptionSpec(name: "--alpha", valid: ["0.5", "1"], invalid: ["-1", "2", "nan", "x"]),
            OptionSpec(name: "--enlarge", valid: ["1", "3"], invalid: ["0", "33", "x"]),
            OptionSpec(name: "--sigmas", valid: ["1,3", "2"], invalid: ["0", "-1", "1,x", ""]),
            OptionSpec(name: "--baseline", valid: ["0", "mean", "blur"], invalid: ["x", "nan"]),
        ]
        return [
            "predict": preprocessing + [OptionSpec(name: "--top", valid: ["1", "3", "5"], invalid: ["0", "-1", "x", ""])],
            "explain": preprocessing + explain,
            "activations": preprocessing + [
                OptionSpec(name: "--channels", valid: ["0", "0-1", "0,2"], invalid: ["5-1", "x", "100", "-1"]),
                OptionSpec(name: "--columns", valid: ["2", "4"], invalid: ["0", "x"]),
            ],
            "summary": [OptionSpec(name: "--input-size", valid: [], invalid: ["1,a,28", "0,28,28", "1,1,1", "3,2,2", "1,5,5"])],
            "filters": [OptionSpec(name: "--channels", valid: ["0", "0-1"], invalid: ["x", "100"])],
            "train": [
                OptionSpec(name: "--epochs", valid: ["1"], invalid: ["0", "-1", "x"]),
                OptionSpec(name: "--batch-size", valid: ["8", "20"], invalid: ["0", "x"]),
                OptionSpec(name: "--lr", valid: ["0.01"], invalid: ["x", "nan"]),
                OptionSpec(name: "--validation", valid: ["0.2", "0"], invalid: ["1.5", "-0.1", "x"]),
                OptionSpec(name: "--optimizer", valid: ["adam", "sgd"], invalid: ["x"]),
                OptionSpec(name: "--loss", valid: ["ce"], invalid: ["x", "bce"]),
                OptionSpec(name: "--class-names", valid: [], invalid: ["a,b", "a,,b"]),
            ],
            "report": [
                OptionSpec(name: "--methods", valid: ["saliency", "saliency,grad-cam"], invalid: ["saliency,magic", ""]),
                OptionSpec(name: "--layers", valid: [], invalid: ["nope", ""]),
            ],
            "batch": [
                OptionSpec(name: "--pass-size", valid: ["1", "5"], invalid: ["0", "x", "2000"]),
                OptionSpec(name: "--shard", valid: ["0/1", "1/3"], invalid: ["2/2", "x", "1/0", "-1/3", "0/"]),
                OptionSpec(name: "--target", valid: ["top"], invalid: ["x", ""]),
                OptionSpec(name: "--top", valid: ["1", "3"], invalid: ["0", "x"]),
                OptionSpec(name: "--metrics", valid: ["sparseness"], invalid: ["pointing-game", "magic"]),
                OptionSpec(name: "--shards", valid: [], invalid: ["0", "3", "x"]),
            ],
            "metrics": [
                OptionSpec(
                    name: "--metrics", valid: ["sparseness", "deletion,complexity"], invalid: ["magic", "", "deletion,"]),
                OptionSpec(
                    name: "--metric-option", valid: ["deletion.step=64", "pixel-flipping.features=300"],
                    invalid: [
                        "deletion.steps=1", "deletion.step=0", "deletion.step=1.5", "x", "magic.step=1", "deletion.step=nan",
                    ]),
            ],
        ]
    }()

    /// The methods the executable knows (this test process may register more).
    static let methods = MethodRegistry.builtIn.map(\.name)

    /// One random command line, and the output files it names: a valid one with 0 to 3
    /// mutations (an option's value out of range or malformed, a broken file, a missing option).
    static func combination(_ choices: inout Choices, files: Files, index: Int) -> (arguments: [String], outputs: [String]) {
        let out = files.folder.appendingPathComponent("out-\(index)").path
        let command = choices.pick([
            "predict", "explain", "explain", "explain", "activations", "summary", "filters", "train", "evaluate", "report",
            "metrics", "batch", "merge",
        ])
        let profile = ["train", "evaluate"].contains(command) ? files.profiles[0] : choices.pick(files.profiles)
        var parts: [(name: String, value: String?)] =
            command == "train"
            ? [("--preset", "small-cnn")] : command == "merge" ? [(choices.pick(files.runs), nil)] : [("--model", profile.model)]
        var outputs: [String] = []
        if ["train", "evaluate"].contains(command) {
            parts += [("--idx-images", files.idx.images), ("--idx-labels", files.idx.labels)]
        }
        if command == "train" {
            parts += [("--epochs", "1"), ("--out", out + ".safetensors")]
            outputs.append(out + ".safetensors")
        }
        if command == "report" {
            parts += [("--images", choices.pick(files.images)), ("--methods", "saliency"), ("--out", out + "-report")]
            outputs.append(out + "-report/index.html")
        }
        if command == "batch" {
            let data = choices.pick(files.data)
            parts += [("--data", data), ("--methods", choices.pick(["saliency", "grad-cam"])), ("--out", out + "-batch")]
            if data == files.idx.images { parts.append(("--labels", files.idx.labels)) }
            outputs.append(out + "-batch/plan.json")
        }
        if command == "metrics" {
            parts += [
                ("--methods", choices.pick(["saliency", "grad-cam"])), ("--metrics", "sparseness"), ("--out", out + "-metrics"),
            ]
            outputs.append(out + "-metrics/metrics.json")
        }
        if !["summary", "filters", "train", "evaluate", "report", "batch", "merge"].contains(command) {
            let image = command == "metrics" ? "--images" : "--image"
            parts.append(choices.chance(60) ? ("--input", choices.pick(profile.arrays)) : (image, choices.pick(files.images)))
        }
        switch command {
        case "explain": parts.append(("--method", choices.pick(methods)))
        case "activations", "filters": parts.append(("--layer", choices.pick(profile.layers)))
        default: break
        }
        if command == "filters" { parts.append(("--steps", choices.pick(["1", "2"]))) }
        if command == "predict" && choices.chance(30) { parts.append(("--json", nil)) }
        let specs = options[command] ?? []
        for spec in specs where !spec.valid.isEmpty && choices.chance(25) { parts.append((spec.name, choices.pick(spec.valid))) }
        for (name, suffix) in ["summary", "train", "evaluate", "report", "metrics", "batch", "merge"].contains(command)
            ? [] : [("--out", ".png"), ("--raw", ".npy")]
        where choices.chance(50) && !(command == "filters" && name == "--raw") && !(command == "predict" && name == "--out") {
            parts.append((name, out + suffix))
            outputs.append(out + suffix)
        }
        for _ in 0..<choices.pick([0, 0, 1, 1, 2, 3]) {
            switch choices.pick(["option", "option", "option", "file", "drop", "unknown"]) {
            case "option":
                guard let spec = specs.isEmpty ? nil : choices.pick(specs), !spec.invalid.isEmpty else { continue }
                parts.removeAll { $0.name == spec.name }
                parts.append((spec.name, choices.pick(spec.invalid)))
            case "file":
                let slots = ["--model", "--input", "--image", "--images", "--idx-images", "--idx-labels", "--data"]
                guard let slot = parts.firstIndex(where: { slots.contains($0.name) }) else { continue }
                let pool =
                    switch parts[slot].name {
                    case "--model": files.badModels
                    case "--input": files.badArrays
                    case "--idx-images", "--idx-labels": files.badIDX
                    case "--data": files.badData
                    default: files.badImages
                    }
                parts[slot].value = choices.pick(pool)
            case "drop":
                guard parts.count > 1 else { continue }
                parts.remove(at: Int(choices.generator.next() % UInt64(parts.count)))
            default:
                parts.append((choices.pick(["--frobnicate", "--layer", "--method", "--top"]), choices.pick(["nope", "", "1"])))
            }
        }
        let arguments = [command] + parts.flatMap { [$0.name] + ($0.value.map { [$0] } ?? []) }
        // An output is named when its path, or its folder (a report's), is still an argument.
        return (
            arguments, outputs.filter { arguments.contains($0) || arguments.contains(($0 as NSString).deletingLastPathComponent) }
        )
    }

    /// What is wrong with one run's outcome, or `nil`.
    static func problem(_ result: LoupeProcess.Result, outputs: [String]) -> String? {
        if result.signaled { return "ended on signal \(result.status)" }
        let lines = result.error.split(whereSeparator: { $0 == "\n" || $0 == "\r" })
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        switch result.status {
        case 0:
            for output in outputs {
                guard FileManager.default.fileExists(atPath: output) else { return "succeeded without writing \(output)" }
                let readable =
                    if output.hasSuffix(".npy") {
                        (try? NPY.read(output)) != nil
                    } else if output.hasSuffix(".png") {
                        (try? Image.read(output)) != nil
                    } else {
                        ((try? Data(contentsOf: URL(fileURLWithPath: output)))?.count ?? 0) > 0
                    }
                if !readable { return "wrote an unreadable \(output)" }
            }
            if lines.contains(where: { $0.hasPrefix("error:") }) { return "succeeded with an error line" }
            return nil
        case 1, 2:
            guard let last = lines.last, last.hasPrefix("error:") else {
                return "exit \(result.status) without a last error: line"
            }
            if lines.dropLast().contains(where: { $0.hasPrefix("error:") }) { return "more than one error: line" }
            // A batch run that fails part-way keeps what it finished, to resume from.
            let written = outputs.filter { !$0.hasSuffix("-batch/plan.json") }.flatMap {
                $0.hasSuffix("-report/index.html") || $0.hasSuffix("-metrics/metrics.json")
                    ? [$0, ($0 as NSString).deletingLastPathComponent] : [$0]
            }
            if let left = written.first(where: { FileManager.default.fileExists(atPath: $0) }) {
                return "failed but left \(left)"
            }
            return nil
        default:
            return "exit status \(result.status)"
        }
    }

    @Test func randomCommandLinesExitCleanly() throws {
        let files = try Files()
        defer { try? FileManager.default.removeItem(at: files.folder) }
        var choices = Choices(generator: RandomGenerator(seed: Self.seed))
        let combinations = (0..<Self.runs).map { Self.combination(&choices, files: files, index: $0) }
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            for index in stride(from: worker, to: combinations.count, by: 2) {
                let (arguments, outputs) = combinations[index]
                let problem: String?
                do {
                    let result = try LoupeProcess.run(arguments)
                    failures.count(result.signaled ? -1 : result.status)
                    problem = Self.problem(result, outputs: outputs)
                } catch {
                    problem = "could not run: \(error)"
                }
                if let problem {
                    failures.add("\(problem): loupe \(arguments.map { $0.isEmpty ? "''" : $0 }.joined(separator: " "))")
                }
            }
        }
        let (found, statuses) = (failures.items, failures.statuses)
        print("loupe never traps: \(Self.runs) runs, exit statuses \(statuses.sorted { $0.key < $1.key })")
        // Enough of them get past the checks that the commands' work is exercised too.
        #expect(statuses[0, default: 0] * 10 >= Self.runs, "only \(statuses[0, default: 0]) runs succeeded")
        #expect(
            found.isEmpty, "\(found.count) of \(Self.runs) runs (seed \(Self.seed)):\n\(found.prefix(12).joined(separator: "\n"))"
        )
    }

    /// Failures collected from the worker threads.
    final class Failures: @unchecked Sendable {
        private let lock = NSLock()
        private var collected: [String] = []
        private var statusCounts: [Int32: Int] = [:]

        func count(_ status: Int32) {
            lock.lock()
            statusCounts[status, default: 0] += 1
            lock.unlock()
        }

        var statuses: [Int32: Int] {
            lock.lock()
            defer { lock.unlock() }
            return statusCounts
        }

        func add(_ failure: String) {
            lock.lock()
            collected.append(failure)
            lock.unlock()
        }

        var items: [String] {
            lock.lock()
            defer { lock.unlock() }
            return collected
        }
    }
}

extension Data {
    /// These bytes with the first occurrence of `text` replaced by `replacement` (same length).
    fileprivate func replacingFirst(_ text: String, with replacement: String) -> Data {
        guard let range = range(of: Data(text.utf8)) else { return self }
        var copy = self
        copy.replaceSubrange(range, with: Data(replacement.utf8))
        return copy
    }
}
