import Foundation
import LoupeIO
import Testing

/// `loupe batch`, `loupe merge` and `loupe report --from`, end to end through the binary, on the
/// Fashion-MNIST model over its 12 samples in every kind of source
/// (Tools/fixtures/make_batch_fixtures.py makes the `.npz` files).
@Suite("batch runs")
struct BatchTests {
    static let model = "Models/fashion-cnn.safetensors"
    static let fixtures = "Tests/LoupeCLITests/Fixtures/batch"
    static let npz = "\(fixtures)/fashion_val_12.npz"
    /// The samples' classes (as the model names them), in file name order.
    static let samples: [(file: String, label: Int)] = {
        let classes = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]
        let files =
            (try? FileManager.default.contentsOfDirectory(
                atPath: LoupeProcess.root.appendingPathComponent("Samples/fashion").path))?.sorted() ?? []
        return files.map { file in (file, classes.firstIndex(of: String(file.dropFirst(5).dropLast(4))) ?? -1) }
    }()

    /// A fresh temporary folder.
    static func folder(_ name: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-batch-\(name)-\(UUID())").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func batch(
        _ data: String, out: String, methods: String = "saliency,grad-cam", extra: [String] = [],
        environment: [String: String] = [:]
    ) throws -> LoupeProcess.Result {
        try LoupeProcess.run(
            ["batch", "--model", model, "--data", data, "--methods", methods, "--out", out, "--quiet"] + extra,
            environment: environment)
    }

    static func records(_ directory: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: "\(directory)/index.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }

    /// The merged records without their times, and every output file's bytes.
    static func outcome(_ directory: String) throws -> (records: [String], files: [String: Data]) {
        let records = try Self.records(directory).map { record -> String in
            var record = record
            record["seconds"] = nil
            return String(decoding: try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]), as: UTF8.self)
        }
        var files: [String: Data] = [:]
        let items = "\(directory)/items"
        for path in FileManager.default.subpaths(atPath: items) ?? [] {
            var isFolder: ObjCBool = false
            if FileManager.default.fileExists(atPath: "\(items)/\(path)", isDirectory: &isFolder), !isFolder.boolValue {
                files[path] = FileManager.default.contents(atPath: "\(items)/\(path)")
            }
        }
        return (records, files)
    }

    @Test func everyKindOfSourceGivesTheSameRecords() throws {
        let work = try Self.folder("sources")
        defer { try? FileManager.default.removeItem(atPath: work) }
        // The same 12 images, labelled by the model's class indices, as a folder named by the
        // model's classes (but T-shirt/top, which a folder cannot be called: so ImageFolder order),
        // a manifest, IDX files and the .npz in both NumPy spellings.
        let imagesFolder = "\(work)/photos"
        try FileManager.default.createDirectory(atPath: imagesFolder, withIntermediateDirectories: true)
        var rows = ["path,label"]
        for (file, label) in Self.samples {
            try FileManager.default.copyItem(
                atPath: LoupeProcess.root.appendingPathComponent("Samples/fashion/\(file)").path,
                toPath: "\(imagesFolder)/\(file)")
            rows.append("photos/\(file),\(label == 5 ? "Sandal" : String(label))")
        }
        try rows.joined(separator: "\r\n").write(toFile: "\(work)/manifest.csv", atomically: true, encoding: .utf8)
        let pixels = try Self.samples.flatMap { sample in
            try Image.read(LoupeProcess.root.appendingPathComponent("Samples/fashion/\(sample.file)").path).pixels
        }
        func bigEndian(_ values: [UInt32]) -> Data { Data(values.flatMap { withUnsafeBytes(of: $0.bigEndian) { Array($0) } }) }
        try (bigEndian([0x803, 12, 28, 28]) + Data(pixels)).write(to: URL(fileURLWithPath: "\(work)/images-idx3-ubyte"))
        try (bigEndian([0x801, 12]) + Data(Self.samples.map { UInt8($0.label) }))
            .write(to: URL(fileURLWithPath: "\(work)/labels-idx1-ubyte"))

        var outcomes: [String: [String]] = [:]
        let sources: [(name: String, data: String, extra: [String])] = [
            ("manifest", "\(work)/manifest.csv", []),
            ("idx", "\(work)/images-idx3-ubyte", ["--labels", "\(work)/labels-idx1-ubyte"]),
            ("npz", Self.npz, []),
            ("npz-numpy1", "\(Self.fixtures)/fashion_val_12_numpy1.npz", []),
        ]
        for source in sources {
            let out = "\(work)/run-\(source.name)"
            let result = try Self.batch(source.data, out: out, extra: source.extra)
            #expect(result.status == 0, "\(source.name): \(result.error)")
            let merged = try LoupeProcess.run(["merge", out])
            #expect(merged.status == 0, "\(source.name): \(merged.error)")
            let records = try Self.records(out)
            #expect(records.map { $0["label"] as? Int } == Self.samples.map(\.label), "\(source.name)")
            #expect(records.map { $0["prediction"] as? Int } == Self.samples.map(\.label), "\(source.name)")
            // The sources' own names aside, the records and the maps are the same.
            outcomes[source.name] = try Self.outcome(out).records.map {
                $0.replacingOccurrences(of: #""source":"[^"]*","#, with: "", options: .regularExpression)
            }
            let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/summary.json")))
            #expect((summary as? [String: Any])?["accuracy"] as? Double == 1, "\(source.name)")
        }
        // The gray photos give the same bytes however they are stored; the .npz holds them as RGB,
        // averaged back to gray in float, so there only the labels and predictions are compared.
        #expect(outcomes["manifest"] == outcomes["idx"], "the manifest's and the IDX file's records differ")
        #expect(outcomes["npz"] == outcomes["npz-numpy1"], "the two .npz spellings' records differ")

        // A folder: classes in sorted name order (ImageFolder), as no folder may be called T-shirt/top.
        let classFolders = "\(work)/classes"
        for (file, label) in Self.samples {
            let folder = "\(classFolders)/class-\(label)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: "\(imagesFolder)/\(file)", toPath: "\(folder)/\(file)")
        }
        let out = "\(work)/run-folder"
        #expect(try Self.batch(classFolders, out: out).status == 0)
        #expect(try LoupeProcess.run(["merge", out]).status == 0)
        let records = try Self.records(out)
        let folders = Set(Self.samples.map(\.label)).sorted()
        let expected = Self.samples.map { folders.firstIndex(of: $0.label)! }.sorted()
        #expect(records.map { $0["label"] as? Int }.compactMap { $0 } == expected)
        #expect(records.map { $0["source"] as? String }.allSatisfy { $0?.hasPrefix("class-") == true })
    }

    @Test func batchMetricsEqualLoupeMetrics() throws {
        let work = try Self.folder("metrics")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let photos = Array(Self.samples.prefix(3))
        let root = LoupeProcess.root.appendingPathComponent("Samples/fashion").path
        for photo in photos { try FileManager.default.copyItem(atPath: "\(root)/\(photo.file)", toPath: "\(work)/\(photo.file)") }
        try (["path,label"] + photos.map { "\($0.file),\($0.label)" })
            .joined(separator: "\n").write(toFile: "\(work)/list.csv", atomically: true, encoding: .utf8)
        let metrics = ["--metrics", "deletion,insertion,sparseness", "--metric-option", "deletion.step=49"]
        let batch = try Self.batch("\(work)/list.csv", out: "\(work)/run", extra: metrics)
        #expect(batch.status == 0, "\(batch.error)")
        #expect(try LoupeProcess.run(["merge", "\(work)/run"]).status == 0)
        let scored = try LoupeProcess.run(
            ["metrics", "--model", Self.model, "--images"] + photos.map { "Samples/fashion/\($0.file)" }
                + ["--methods", "saliency,grad-cam", "--out", "\(work)/metrics"] + metrics)
        #expect(scored.status == 0, "\(scored.error)")
        let reference =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: "\(work)/metrics/metrics.json"))) as! [[String: Any]]
        let records = try Self.records("\(work)/run")
        #expect(reference.count == 3 * 2 * 3)
        for entry in reference {
            let image = photos.firstIndex { $0.file == entry["image"] as? String }!
            let values = (records[image]["metrics"] as? [String: [String: Double]])?[entry["method"] as! String]
            let value = values?[entry["metric"] as! String], expected = entry["value"] as! Double
            // The maps come from a shared gradient pass in batch, from each method's own in metrics.
            #expect(
                value.map { abs($0 - expected) <= 1e-4 * max(1, abs(expected)) } == true,
                "\(entry): batch \(String(describing: value))")
        }
    }

    @Test func aHostileNPZIsRefusedWithNothingRun() throws {
        let work = try Self.folder("hostile")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let marker = LoupeProcess.root.appendingPathComponent("loupe-hostile-npz-ran").path
        let result = try Self.batch("\(Self.fixtures)/hostile.npz", out: "\(work)/run")
        #expect(result.status == 1)
        #expect(result.error.contains("posix.system"), "\(result.error)")
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(!FileManager.default.fileExists(atPath: "\(work)/run"))
    }

    @Test func shardsMergeToWhatOneProcessWrites() throws {
        let work = try Self.folder("shards")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let extra = ["--pass-size", "2", "--metrics", "deletion,sparseness", "--metric-option", "deletion.step=98"]
        #expect(try Self.batch(Self.npz, out: "\(work)/one", extra: extra).status == 0)
        #expect(try LoupeProcess.run(["merge", "\(work)/one"]).status == 0)
        // Four shards, the third from a Slurm array's environment (--array=3-9:2: task 7 is shard 2).
        for shard in [0, 1, 3] {
            #expect(try Self.batch(Self.npz, out: "\(work)/four", extra: extra + ["--shard", "\(shard)/4"]).status == 0)
        }
        let early = try LoupeProcess.run(["merge", "\(work)/four"])
        #expect(early.status == 1)
        #expect(early.error.contains("shard 2 of 4, never started: 6-7"), "\(early.error)")
        let slurm = [
            "SLURM_ARRAY_TASK_ID": "7", "SLURM_ARRAY_TASK_MIN": "3", "SLURM_ARRAY_TASK_STEP": "2", "SLURM_ARRAY_TASK_COUNT": "4",
        ]
        let third = try Self.batch(Self.npz, out: "\(work)/four", extra: extra, environment: slurm)
        #expect(third.status == 0 && third.output.contains("shard 2 of 4"), "\(third.output) \(third.error)")
        #expect(try LoupeProcess.run(["merge", "\(work)/four"]).status == 0)
        let (one, four) = (try Self.outcome("\(work)/one"), try Self.outcome("\(work)/four"))
        #expect(one.records == four.records)
        #expect(one.files == four.files)
        #expect(one.files.count == 12 * 5)
        #expect(try Self.records("\(work)/one").allSatisfy { ($0["metrics"] as? [String: [String: Any]])?.count == 2 })

        // A list array needs --shard; a Kubernetes Indexed Job gives its index with --shards.
        let list = try Self.batch(
            Self.npz, out: "\(work)/four", extra: extra,
            environment: ["SLURM_ARRAY_TASK_ID": "9", "SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_COUNT": "3"])
        #expect(list.status == 2 && list.error.contains("--shard i/N"), "\(list.error)")
        let indexed = try Self.batch(
            Self.npz, out: "\(work)/four", extra: extra + ["--shards", "4"], environment: ["JOB_COMPLETION_INDEX": "1"])
        #expect(indexed.status == 0 && indexed.output.contains("skipped 4 finished"), "\(indexed.output) \(indexed.error)")
    }

    @Test func aChangedSourceOrOtherArgumentsAreRefusedByThePlan() throws {
        let work = try Self.folder("plan")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let data = "\(work)/data.npz"
        try FileManager.default.copyItem(atPath: Self.npz, toPath: data)
        #expect(try Self.batch(data, out: "\(work)/run", extra: ["--shard", "0/2"]).status == 0)
        let other = try Self.batch(data, out: "\(work)/run", methods: "saliency", extra: ["--shard", "1/2"])
        #expect(other.status == 1 && other.error.contains("--methods was saliency,grad-cam"), "\(other.error)")
        let resharded = try Self.batch(data, out: "\(work)/run", extra: ["--shard", "1/3"])
        #expect(resharded.status == 1 && resharded.error.contains("it has 2 shards, not 3"), "\(resharded.error)")
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: data))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0]))
        try handle.close()
        let changed = try Self.batch(data, out: "\(work)/run", extra: ["--shard", "1/2"])
        #expect(changed.status == 1 && changed.error.contains("data.npz changed"), "\(changed.error)")
        #expect(!FileManager.default.fileExists(atPath: "\(work)/run/shards/1-of-2.jsonl"))
    }

    @Test func aRerunRepairsATornRecordAndRemovesTemporaryFiles() throws {
        let work = try Self.folder("torn")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let out = "\(work)/run"
        #expect(try Self.batch(Self.npz, out: out).status == 0)
        #expect(try LoupeProcess.run(["merge", out]).status == 0)
        let reference = try Self.outcome(out)
        // What a kill mid-append and mid-write leaves: half a line, a temporary file.
        let shard = "\(out)/shards/0-of-1.jsonl"
        var lines = try String(contentsOfFile: shard, encoding: .utf8).split(separator: "\n").map(String.init)
        let torn = lines.removeLast()
        try (lines.joined(separator: "\n") + "\n" + torn.prefix(40)).write(toFile: shard, atomically: true, encoding: .utf8)
        try Data("partial".utf8).write(to: URL(fileURLWithPath: "\(out)/items/11/.grad-cam.png.123.partial"))
        try FileManager.default.removeItem(atPath: "\(out)/items/11/grad-cam.png")
        let rerun = try Self.batch(Self.npz, out: out)
        #expect(rerun.output.contains("explained 1 images, skipped 11"), "\(rerun.output)")
        #expect(try LoupeProcess.run(["merge", out]).status == 0)
        let again = try Self.outcome(out)
        #expect(again.records == reference.records)
        #expect(again.files == reference.files)
    }

    @Test func killedAtRandomMomentsAndResumedGivesTheSameRun() throws {
        let work = try Self.folder("kill")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let extra = ["--pass-size", "3", "--samples", "4"]
        let methods = "saliency,smoothgrad,grad-cam,occlusion"
        #expect(try Self.batch(Self.npz, out: "\(work)/reference", methods: methods, extra: extra).status == 0)
        #expect(try LoupeProcess.run(["merge", "\(work)/reference"]).status == 0)
        let reference = try Self.outcome("\(work)/reference")
        // How long a whole run takes here, so that the kills land anywhere in it.
        let started = Date()
        #expect(try Self.batch(Self.npz, out: "\(work)/timing", methods: methods, extra: extra).status == 0)
        let span = max(Date().timeIntervalSince(started), 0.05)
        var generator = SystemRandomNumberGenerator()
        for trial in 0..<20 {
            let out = "\(work)/trial-\(trial)"
            let delay = Double.random(in: 0...span, using: &generator)
            let process = Process()
            process.executableURL = LoupeProcess.productsDirectory.appendingPathComponent("loupe")
            process.arguments =
                ["batch", "--model", Self.model, "--data", Self.npz, "--methods", methods, "--out", out, "--quiet"] + extra
            process.currentDirectoryURL = LoupeProcess.root
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            Thread.sleep(forTimeInterval: delay)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let resumed = try Self.batch(Self.npz, out: out, methods: methods, extra: extra)
            #expect(resumed.status == 0, "trial \(trial) (killed after \(delay) s): \(resumed.error)")
            #expect(try LoupeProcess.run(["merge", out]).status == 0, "trial \(trial)")
            let outcome = try Self.outcome(out)
            #expect(outcome.records == reference.records, "trial \(trial) (killed after \(delay) s)")
            #expect(outcome.files == reference.files, "trial \(trial) (killed after \(delay) s)")
            let leftovers = (FileManager.default.subpaths(atPath: out) ?? []).filter { $0.hasSuffix(partialFileSuffix) }
            #expect(leftovers.isEmpty, "trial \(trial): \(leftovers)")
        }
    }

    @Test func theReportFromARunLinksItsPictures() throws {
        let work = try Self.folder("report")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let out = "\(work)/run"
        #expect(try Self.batch(Self.npz, out: out).status == 0)
        let early = try LoupeProcess.run(["report", "--from", out])
        #expect(early.status == 1 && early.error.contains("loupe merge"), "\(early.error)")
        #expect(try LoupeProcess.run(["merge", out]).status == 0)
        let pages = "\(work)/pages"
        let report = try LoupeProcess.run(["report", "--from", out, "--out", pages, "--max-images", "1"])
        #expect(report.status == 0, "\(report.error)")
        let summary = try String(contentsOfFile: "\(pages)/index.html", encoding: .utf8)
        #expect(summary.contains("Least confident") && summary.contains("class-9.html"))
        #expect(summary.contains("label \\ predicted"), "the confusion matrix")
        let classPage = try String(contentsOfFile: "\(pages)/class-9.html", encoding: .utf8)
        let sources = classPage.components(separatedBy: "src=\"").dropFirst().map { $0.prefix { $0 != "\"" } }
        #expect(sources.count == 3, "one image: its input, saliency and grad-cam")
        for source in sources {
            #expect(FileManager.default.fileExists(atPath: "\(pages)/\(source)"), "\(source)")
        }
    }
}
