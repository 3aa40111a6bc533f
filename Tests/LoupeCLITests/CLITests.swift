import Foundation
import LoupeExplain
import LoupeIO
import LoupeTensor
import Testing

/// Runs the built `loupe` executable end to end.
@Suite("loupe command line")
struct CLITests {
    private let root = LoupeProcess.root

    private func run(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
        let result = try LoupeProcess.run(arguments)
        return (result.status, result.output, result.error)
    }

    @Test func versionAndHelp() throws {
        let version = try run(["--version"])
        #expect(version.status == 0)
        #expect(version.output.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
        let help = try run(["--help"])
        #expect(help.status == 0)
        #expect(help.output.contains("See inside a convolutional image classifier"))
        #expect(help.output.contains("demo"))
    }

    /// Checks that a report page stands alone: every image is an inline PNG that decodes, and
    /// nothing points outside the page. Returns the page and its images.
    private func readSelfContainedPage(_ path: String) throws -> (html: String, images: [Image]) {
        let html = try String(contentsOfFile: path, encoding: .utf8)
        for outside in ["http:", "https:", "<link", "<script", "<iframe", "url(", "@import", "src=\"//"] {
            #expect(!html.contains(outside), "the page refers outside itself: \(outside)")
        }
        // Links only to sibling pages of the same run.
        let links = html.components(separatedBy: "href=\"").dropFirst().map { $0.prefix { $0 != "\"" } }
        #expect(links.allSatisfy { $0.hasSuffix(".html") && !$0.contains("/") && !$0.contains(":") }, "\(links)")
        let sources = html.components(separatedBy: "src=\"").dropFirst().map { $0.prefix { $0 != "\"" } }
        #expect(sources.allSatisfy { $0.hasPrefix("data:image/png;base64,") })
        let images = try sources.map { source in
            let data = try #require(Data(base64Encoded: String(source.dropFirst("data:image/png;base64,".count))))
            return try Image.decode(data)
        }
        return (html, images)
    }

    @Test func demoWritesTwoSelfContainedLinkedPages() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-demo-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try run(["demo", "--out", folder.path])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("12 of 12 right"))
        // The real network's top-1 on the five photos, as torchvision's (RealMobileNetV2Tests).
        for line in [
            "dog.jpg            malamute 0.760", "eagle.jpg          bald eagle 0.735", "grace_hopper.jpg   bow tie 0.510",
            "horses.jpg         ox 0.281", "person.jpg         English setter 0.242",
        ] {
            #expect(result.output.contains(line), "\(line)")
        }
        // ImageNet: per photo the input, per classic method an overlay and a histogram, and the
        // deletion and insertion curves; the methods ranked by deletion, insertion and sparseness.
        let (imageNet, photos) = try readSelfContainedPage(folder.appendingPathComponent("index.html").path)
        #expect(photos.count == 5 * (1 + 2 * 6 + 2))
        for metric in ["deletion (lower is better)", "insertion (higher is better)", "sparseness (higher is better)"] {
            #expect(imageNet.contains(metric), "\(metric) missing from the ImageNet page's ranking")
        }
        // The classic pictures the demo shows, each captioned with its name (and a CAM's layer).
        let classic: [AttributionMethod] = [.saliency, .smoothgrad, .guidedBackprop, .gradCAM, .guidedGradCAM, .occlusion]
        let captions = classic.map { ">\($0.name)" + ($0.attributesToLayer || $0 == .guidedGradCAM ? " at features.18 " : " ") }
        for text in ["MobileNetV2", "grace_hopper.jpg", "bald eagle", "href=\"fashion.html\""] + captions {
            #expect(imageNet.contains(text), "\(text) missing from the ImageNet page")
        }
        // Fashion-MNIST: per image the input, an overlay and a histogram per method, two curve
        // plots and two activation grids; for the first image each method's map as the model's four
        // layers are reset from the top (MPRT); then filters and training curves. The default
        // report's: the executable's methods (this process may register more) that it shows.
        let (html, images) = try readSelfContainedPage(folder.appendingPathComponent("fashion.html").path)
        let methods = MethodRegistry.builtIn.filter(\.isInDefaultReport).map(\.name)
        #expect(images.count == 12 * (1 + 2 * methods.count + 2 + 2) + methods.count * (1 + 4) + 2 + 1)
        #expect(html.contains("mprt (lower is better)") && html.contains("Model parameter randomization"))
        for method in methods {
            #expect(html.contains(">\(method) "), "\(method) missing from the report")
        }
        for text in [
            "Run summary", "0019-tshirt.png", "Activations of features.4", "What the filters respond to", "Training",
            "Ankle boot", "href=\"index.html\"",
        ] {
            #expect(html.contains(text), "\(text) missing from the report")
        }
    }

    @Test func reportComparesChosenMethodsAndRefusesBadRequests() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-report-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        let images = ["Samples/fashion/0000-ankle-boot.png", "Samples/fashion/0002-trouser.png"]
        let result = try run(
            ["report", "--model", "Models/fashion-cnn.safetensors", "--images"] + images
                + [
                    "--methods", "saliency,grad-cam,occlusion", "--window", "7", "--stride", "7", "--layers", "features.1",
                    "--out", folder.path,
                ])
        #expect(result.status == 0, "\(result.error)")
        let (html, pictures) = try readSelfContainedPage(folder.appendingPathComponent("index.html").path)
        #expect(pictures.count == 2 * (1 + 3 + 3 + 1))
        #expect(html.contains("0002-trouser.png") && html.contains("<td>Trouser</td>") && html.contains("grad-cam at features"))
        #expect(html.contains("<td>occlusion</td>") && !html.contains("<td>smoothgrad</td>"))

        let other = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-report-\(UUID())")
        let unknown = try run([
            "report", "--model", "Models/fashion-cnn.safetensors", "--images", images[0], "--methods", "saliency,magic",
            "--out", other.path,
        ])
        #expect(unknown.status == 2 && unknown.error.contains("unknown method 'magic'"))
        let badImage = try run([
            "report", "--model", "Models/fashion-cnn.safetensors", "--images", images[0], "Package.swift", "--out", other.path,
        ])
        #expect(badImage.status == 1 && badImage.error.contains("neither a PNG nor a JPEG"))
        let badLayer = try run([
            "report", "--model", "Models/fashion-cnn.safetensors", "--images", images[0], "--layers", "features.42",
            "--out", other.path,
        ])
        #expect(badLayer.status != 0 && badLayer.error.contains("features.42"))
        #expect(!FileManager.default.fileExists(atPath: other.path))
    }

    @Test func reportRanksTheMethodsByTheMetrics() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-report-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        let images = try FileManager.default.contentsOfDirectory(atPath: "Samples/fashion").filter { $0.hasSuffix(".png") }
            .sorted().prefix(5).map { "Samples/fashion/\($0)" }
        let base =
            ["report", "--model", "Models/fashion-cnn.safetensors", "--images"] + images + ["--methods", "saliency,grad-cam"]
        let result = try run(
            base + [
                "--metrics", "deletion,sparseness,mprt", "--metric-option", "deletion.step=28", "--out", folder.path,
            ])
        #expect(result.status == 0, "\(result.error)")
        let page = try String(contentsOf: folder.appendingPathComponent("index.html"), encoding: .utf8)
        #expect(page.contains("Methods ranked by each metric") && page.contains("deletion (lower is better)"))
        // Five images: every method's mean comes with an interval ("a to b"), in each of the three tables.
        #expect(page.components(separatedBy: " to ").count - 1 >= 3 * 2)
        #expect(page.contains("alt=\"deletion curves\"") && !page.contains("alt=\"sparseness curves\""))
        #expect(page.contains("Model parameter randomization") && page.contains("to features.0"))
        #expect(page.contains("· deletion ") && page.contains("· mprt "))

        let refused = try run(base + ["--metrics", "pointing-game", "--out", folder.path + "-refused"])
        #expect(refused.status == 2 && refused.error.contains("the report cannot score pointing-game"), "\(refused.error)")
        #expect(!FileManager.default.fileExists(atPath: folder.path + "-refused"))
    }

    @Test func metricsScoreAndRankTheMethodsAndRefuseBadRequests() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-metrics-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        let images = ["Samples/fashion/0000-ankle-boot.png", "Samples/fashion/0002-trouser.png"]
        let base = ["metrics", "--model", "Models/fashion-cnn.safetensors", "--images"] + images
        let result = try run(
            base + [
                "--methods", "saliency,grad-cam", "--metrics", "deletion,sparseness", "--metric-option", "deletion.step=28",
                "--out", folder.path,
            ])
        #expect(result.status == 0, "\(result.error)")
        let records = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("metrics.json")))
                as? [[String: Any]])
        #expect(records.count == 2 * 2 * 2)
        #expect(Set(records.compactMap { $0["metric"] as? String }) == ["deletion", "sparseness"])
        let csv = try String(contentsOf: folder.appendingPathComponent("metrics.csv"), encoding: .utf8)
        #expect(csv.hasPrefix("image,method,metric,value\n0000-ankle-boot.png,saliency,deletion,"))
        #expect(csv.split(separator: "\n").count == 1 + 8)
        // Deletion has a curve (29 points at 28 pixels a step over 28 × 28); sparseness has none.
        let curve = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: folder.appendingPathComponent("curves/0002-trouser.png-grad-cam-deletion.json")))
                as? [String: [Double]])
        #expect(curve["curve"]?.count == 29)
        #expect(
            !FileManager.default.fileExists(
                atPath: folder.appendingPathComponent("curves/0002-trouser.png-grad-cam-sparseness.json").path))
        #expect(
            result.output.contains("deletion (lower is better): 1. ")
                && result.output.contains("sparseness (higher is better): 1. "))

        let other = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-metrics-\(UUID())")
        for (arguments, message) in [
            (["--methods", "saliency", "--metrics", "magic"], "unknown metric 'magic'"),
            (
                ["--methods", "saliency", "--metrics", "deletion", "--metric-option", "deletion.steps=2"],
                "deletion has no option 'steps' (it has step)"
            ),
            (
                ["--methods", "saliency", "--metrics", "deletion", "--metric-option", "deletion.step=0"],
                "--metric-option: deletion.step must be a whole number ≥ 1; got 0.0"
            ),
            (
                ["--methods", "saliency", "--metrics", "deletion", "--metric-option", "step=2"],
                "--metric-option is NAME.KEY=VALUE"
            ),
            (["--methods", "magic", "--metrics", "deletion"], "unknown method 'magic'"),
        ] {
            let refused = try run(base + arguments + ["--out", other.path])
            #expect(refused.status == 2 && refused.error.contains(message), "\(refused.error)")
        }
        let badImage = try run(
            [
                "metrics", "--model", "Models/fashion-cnn.safetensors", "--images", images[0], "Package.swift", "--methods",
                "saliency",
                "--metrics", "deletion", "--out", other.path,
            ])
        #expect(badImage.status == 1 && badImage.error.contains("neither a PNG nor a JPEG"))
        #expect(!FileManager.default.fileExists(atPath: other.path))
    }

    @Test func metricsTakeBoxesMasksAndTheMethodToExplainAgain() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-metrics-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let images = ["Samples/fashion/0000-ankle-boot.png", "Samples/fashion/0002-trouser.png"]
        let base = ["metrics", "--model", "Models/fashion-cnn.safetensors", "--images"] + images + ["--methods", "saliency"]
        func values(_ out: URL) throws -> [String: Any] {
            let records = try #require(
                try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("metrics.json")))
                    as? [[String: Any]])
            return Dictionary(
                records.map { ("\($0["image"]!) \($0["method"]!) \($0["metric"]!)", $0["value"]!) },
                uniquingKeysWith: { first, _ in first })
        }
        // The whole photo holds all of the map; an empty box holds nothing, which is undefined.
        let boxes = folder.appendingPathComponent("boxes.json")
        try Data(#"{"0000-ankle-boot.png": [[0, 0, 28, 28]], "0002-trouser.png": [[3, 3, 3, 9]]}"#.utf8).write(to: boxes)
        let boxed = folder.appendingPathComponent("boxed")
        let result = try run(
            base + ["--metrics", "pointing-game,attribution-localisation", "--boxes", boxes.path, "--out", boxed.path])
        #expect(result.status == 0, "\(result.error)")
        let scores = try values(boxed)
        #expect(scores["0000-ankle-boot.png saliency pointing-game"] as? Double == 1)
        #expect(abs((scores["0000-ankle-boot.png saliency attribution-localisation"] as? Double ?? 0) - 1) < 1e-6)
        #expect(scores["0002-trouser.png saliency pointing-game"] as? String == "nan")
        // A mask of the left half holds part of the map.
        let masks = folder.appendingPathComponent("masks")
        try FileManager.default.createDirectory(at: masks, withIntermediateDirectories: true)
        for image in images {
            let name = URL(fileURLWithPath: image).deletingPathExtension().lastPathComponent
            try Image(width: 28, height: 28, channels: 1, pixels: (0..<784).map { $0 % 28 < 14 ? 255 : 0 })
                .writePNG(to: masks.appendingPathComponent("\(name).png").path)
        }
        let masked = folder.appendingPathComponent("masked")
        #expect(
            try run(base + ["--metrics", "attribution-localisation", "--masks", masks.path, "--out", masked.path]).status == 0)
        let share = try #require(try values(masked)["0002-trouser.png saliency attribution-localisation"] as? Double)
        #expect(share > 0.05 && share < 0.95)
        // The metrics that explain again run the methods given, gradient-free work around them
        // or not (a CAM's gradients at its layer included).
        let again = folder.appendingPathComponent("again")
        let rerun = try run(
            base.dropLast() + [
                "saliency,grad-cam",
                "--metrics", "max-sensitivity,mprt,random-logit", "--metric-option", "max-sensitivity.samples=2", "--out",
                again.path,
            ])
        #expect(rerun.status == 0, "\(rerun.error)")
        let explainedAgain = try values(again)
        #expect(
            explainedAgain.count == 2 * 2 * 3 && explainedAgain.values.allSatisfy { ($0 as? Double)?.isFinite == true },
            "\(explainedAgain)")

        let refused = folder.appendingPathComponent("refused")
        for (arguments, message) in [
            (["--metrics", "pointing-game"], "pointing-game needs where the object is: give --boxes FILE or --masks DIR"),
            (["--metrics", "pointing-game", "--boxes", "Package.swift"], "--boxes: Package.swift is not JSON"),
            (["--metrics", "pointing-game", "--masks", folder.path], "0000-ankle-boot.png"),
        ] {
            let result = try run(base + arguments + ["--out", refused.path])
            #expect(result.status != 0 && result.error.contains(message), "\(result.error)")
        }
        #expect(!FileManager.default.fileExists(atPath: refused.path))
    }

    @Test func explainDrawsWithTheChosenColormapAndStyle() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-colors-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let picture = directory.appendingPathComponent("a.png").path
        let base = [
            "explain", "--model", "Models/fashion-cnn.safetensors", "--image", "Samples/fashion/0000-ankle-boot.png",
            "--method", "grad-cam", "--out", picture,
        ]
        #expect(try run(base + ["--style", "red", "--alpha", "1"]).status == 0)
        // Alpha 1 in the red style: green and blue are 0 everywhere, red is the scaled map.
        let red = try Image.read(picture)
        #expect(stride(from: 0, to: red.pixels.count, by: 3).allSatisfy { red.pixels[$0 + 1] == 0 && red.pixels[$0 + 2] == 0 })
        #expect(red.pixels.contains(255))
        #expect(try run(base + ["--colormap", "viridis", "--alpha", "1"]).status == 0)
        // Alpha 1 blended: every pixel is a viridis color; the map's minimum is viridis at 0.
        let viridis = try Image.read(picture)
        #expect((0..<viridis.pixels.count / 3).contains { viridis.pixels[$0 * 3..<$0 * 3 + 3].elementsEqual([68, 1, 84]) })
        let badColormap = try run(base + ["--colormap", "rainbowish"])
        #expect(badColormap.status == 2 && badColormap.error.contains("'rainbowish' is invalid for '--colormap"))
        #expect(badColormap.error.contains("viridis, magma"), "the error lists the colormaps: \(badColormap.error)")
        let badAlpha = try run(base + ["--alpha", "2"])
        #expect(badAlpha.status == 2)
    }

    /// A comma list with an entry that does not read is refused, naming the entry and its place,
    /// instead of being taken without it (`3,a,224,224` once read as `[3, 224, 224]`).
    @Test func commaListsRefuseABadEntryByPosition() throws {
        let photo = ["--image", "Samples/fashion/0000-ankle-boot.png"]
        let model = ["--model", "Models/fashion-cnn.safetensors"]
        let cases: [([String], String)] = [
            (["summary", "--arch", "resnet18", "--input-size", "3,a,224,224"], "--input-size: entry 2 of '3,a,224,224', 'a'"),
            (["summary", "--arch", "resnet18", "--input-size", "3,224,,224"], "--input-size: entry 3"),
            (["explain"] + model + photo + ["--method", "blur-saliency", "--sigmas", "1,x"], "--sigmas: entry 2 of '1,x', 'x'"),
            (["predict"] + model + photo + ["--mean", "0.5,nan"], "--mean: entry 2"),
            (
                [
                    "train", "--idx-images", "a", "--idx-labels", "b", "--arch", "resnet18", "--head", "2048,x,512",
                    "--out", "/tmp/never.safetensors",
                ], "--head: entry 2 of '2048,x,512', 'x'"
            ),
            (["activations"] + model + photo + ["--layer", "features.1", "--channels", "0,2-x"], "--channels: entry 2"),
        ]
        for (arguments, message) in cases {
            let result = try run(arguments)
            #expect(result.status == 2, "\(arguments): exit \(result.status)")
            #expect(result.error.contains(message), "\(arguments): \(result.error)")
            #expect(result.error.split(separator: "\n").count == 1, "\(arguments): \(result.error)")
        }
        // The enum-like options list their values in the help.
        let help = try run(["explain", "--help"]).output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(help.contains("(values: none, abs, max, absmax)"), "\(help)")
        #expect(help.contains("(values: gausslegendre, riemann-trapezoid; default: gausslegendre)"), "\(help)")
    }

    @Test func badImageFailsWithOneLineAndNoOutput() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-bad-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        let images = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-bad-images-\(UUID())")
        try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: images) }
        try Data("not a picture".utf8).write(to: images.appendingPathComponent("0001-bag.png"))
        let result = try run(["demo", "--images", images.path, "--out", folder.path])
        #expect(result.status != 0)
        #expect(result.error.contains("neither a PNG nor a JPEG"))
        #expect(result.error.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: folder.path))
    }

    private var squeezeNetFixtures: URL {
        root.appendingPathComponent("Tests/LoupeNNTests/Fixtures")
    }

    @Test func summaryPrintsTorchinfoTotals() throws {
        let resnet = try run(["summary", "--arch", "resnet18"])
        #expect(resnet.status == 0, "\(resnet.error)")
        #expect(resnet.output.contains("Total params: 11,689,512"))
        #expect(resnet.output.contains("layer4.1.conv2"))
        #expect(resnet.output.contains("[1, 512, 7, 7]"))
        let vgg = try run(["summary", "--arch", "vgg16"])
        #expect(vgg.output.contains("Total params: 138,357,544"))
    }

    @Test func predictReportsTheModelsOwnOutput() throws {
        // The fixture input, written as the model input itself (no preprocessing).
        let values: [Float] = (0..<(3 * 64 * 64)).map { index in
            let step = (index * 31 + 7) % 257
            return Float(Double(step) / 128.0 - 1.0)
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-predict-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("x.npy").path
        try NPY.write(Tensor(shape: [3, 64, 64], scalars: values), to: input)
        let raw = directory.appendingPathComponent("logits.npy").path
        let result = try run([
            "predict", "--model", squeezeNetFixtures.appendingPathComponent("squeezenet1_1-10.pth").path,
            "--arch", "squeezenet1_1", "--input", input, "--json", "--top", "3", "--raw", raw,
        ])
        #expect(result.status == 0, "\(result.error)")
        let expected = try NPY.read(squeezeNetFixtures.appendingPathComponent("squeezenet1_1-10-logits.npy").path)[0]
        let logits = try NPY.read(raw)
        #expect(logits.shape == [10])
        #expect((logits - expected).abs().max().scalar < 1e-4 * expected.abs().max().scalar)
        let parsed = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
        let top = try #require(parsed?["top"] as? [[String: Any]])
        #expect(top.count == 3)
        #expect(top[0]["index"] as? Int == expected.argmax())
    }

    /// A graph ending in Softmax: predict shows the graph's own probabilities (no second softmax),
    /// whether Loupe scores the logits (the default, said in one line) or keeps the softmax;
    /// summary lists every output; --output names one, and only on ONNX models.
    @Test func predictShowsASoftmaxGraphsOwnProbabilities() throws {
        let folder = root.appendingPathComponent("Tests/LoupeIOTests/Fixtures/onnx-converters")
        let (model, input) = (
            folder.appendingPathComponent("head-softmax/model.onnx").path,
            folder.appendingPathComponent("head-softmax/input.npy").path
        )
        let given = try NPY.read(folder.appendingPathComponent("head-softmax/prob.npy").path)[0].scalars
        for extra in [[], ["--explain-probabilities"]] {
            let result = try run(["predict", "--model", model, "--input", input, "--json", "--top", "5"] + extra)
            #expect(result.status == 0, "\(result.error)")
            #expect(result.error.contains("comes out of Softmax") == extra.isEmpty, "\(result.error)")
            let parsed = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
            let top = try #require(parsed?["top"] as? [[String: Any]])
            for row in top {
                let (index, probability) = (try #require(row["index"] as? Int), try #require(row["probability"] as? Double))
                #expect(abs(Float(probability) - given[index]) < 1e-5, "\(extra): class \(index)")
            }
        }
        let summary = try run(["summary", "--model", folder.appendingPathComponent("head-three/model.onnx").path])
        #expect(summary.status == 0, "\(summary.error)")
        #expect(summary.output.contains("Outputs:\n  features  [1, 6, 8, 8]\n  logits  [1, 5]  (classified)\n  aux  [1, 3]"))
        let aux = try run([
            "predict", "--model", folder.appendingPathComponent("head-three/model.onnx").path, "--input",
            folder.appendingPathComponent("head-three/input.npy").path, "--output", "aux", "--json",
        ])
        #expect(aux.status == 0, "\(aux.error)")
        let auxTop = try JSONSerialization.jsonObject(with: Data(aux.output.utf8)) as? [String: Any]
        #expect((auxTop?["top"] as? [[String: Any]])?.count == 3, "aux has three classes")
        let notONNX = try run([
            "predict", "--model", "Models/fashion-cnn.safetensors", "--image", "Samples/fashion/0000-ankle-boot.png",
            "--output", "logits",
        ])
        #expect(notONNX.status != 0 && notONNX.error.contains("is not an .onnx file"))
    }

    /// A graph with symbolic height and width takes a photo only at an exact size.
    @Test func symbolicSizesNeedAnExactResize() throws {
        let model = "Tests/LoupeIOTests/Fixtures/onnx-converters/symbolic-size/model.onnx"
        let unsized = try run(["predict", "--model", model, "--image", "Samples/imagenet/dog.jpg"])
        #expect(unsized.status != 0 && unsized.error.split(separator: "\n").count == 1)
        #expect(unsized.error.contains("--input X.npy, --resize HxW, or a metadata .json"), "\(unsized.error)")
        let sized = try run(["predict", "--model", model, "--image", "Samples/imagenet/dog.jpg", "--resize", "10x14", "--json"])
        #expect(sized.status == 0, "\(sized.error)")
        for bad in ["3x", "x4", "0x4", "4x4x4", "4X4", "big"] {
            let refused = try run(["predict", "--model", model, "--image", "Samples/imagenet/dog.jpg", "--resize", bad])
            #expect(refused.status != 0 && refused.error.contains("--resize is a size N or HxW"), "\(bad): \(refused.error)")
        }
    }

    /// Preprocessing for models that are not torchvision's, on the command line.
    @Test func preprocessingOptionsForOtherFrameworks() throws {
        let model = ["--model", "Models/fashion-cnn.safetensors", "--image", "Samples/imagenet/dog.jpg"]
        for extra in [
            ["--letterbox"], ["--letterbox=topleft", "--pad-value", "255"], ["--pixel-scale", "1/255"],
            ["--pixel-scale", "1", "--mean", "128", "--std", "64"], ["--channel-order", "bgr"],
        ] {
            let result = try run(["predict"] + model + extra + ["--json"])
            #expect(result.status == 0, "\(extra): \(result.error)")
        }
        for (extra, message) in [
            (["--pixel-scale", "0"], "--pixel-scale is a positive number"), (["--pixel-scale", "1/0"], "--pixel-scale"),
            (["--pad-value", "300"], "--pad-value is a pixel value"), (["--channel-order", "brg"], "--channel-order"),
            (["--letterbox=middle"], "--letterbox"),
        ] {
            let result = try run(["predict"] + model + extra)
            #expect(result.status == 2 && result.error.contains(message), "\(extra): \(result.error)")
        }
        // --out draws over the photo as the model saw it: letterboxed into the 28 × 28 input.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-letterbox-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let picture = directory.appendingPathComponent("a.png").path
        let explained = try run(
            ["explain"] + model + ["--letterbox", "--pad-value", "255", "--method", "saliency", "--out", picture, "--alpha", "0"])
        #expect(explained.status == 0, "\(explained.error)")
        let drawn = try Image.read(picture)
        #expect(drawn.width == 28 && drawn.height == 28)
        // The dog photo is wider than tall: the padded rows at the top are white (alpha 0 shows the photo).
        #expect(drawn.pixels.prefix(28 * 3).allSatisfy { $0 == 255 })
    }

    @Test func predictWithoutArchitectureOrMetadataIsAClearError() throws {
        let result = try run([
            "predict", "--model", squeezeNetFixtures.appendingPathComponent("squeezenet1_1-10.pth").path,
            "--image", "Samples/imagenet/dog.jpg",
        ])
        #expect(result.status != 0)
        #expect(result.error.contains("needs --arch"))
        #expect(result.error.split(separator: "\n").count == 1)
    }

    /// A class-per-folder set of flat-colour PNGs: dark "cat"s and bright "dog"s.
    private func makeImageFolder(_ root: URL, side: Int, channels: Int) throws {
        for (name, value) in [("cat", UInt8(30)), ("dog", UInt8(220))] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(name), withIntermediateDirectories: true)
            for index in 0..<6 {
                let shade = UInt8(Int(value) + index * 3 - 8)
                try Image(
                    width: side, height: side, channels: channels,
                    pixels: Array(repeating: shade, count: side * side * channels)
                )
                .writePNG(to: root.appendingPathComponent("\(name)/\(index).png").path)
            }
        }
    }

    @Test func trainWritesAModelThatPredictWithoutArch() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-train-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        try makeImageFolder(directory.appendingPathComponent("data"), side: 28, channels: 1)
        let weights = directory.appendingPathComponent("tiny.safetensors").path
        let trained = try run([
            "train", "--images", directory.appendingPathComponent("data").path, "--preset", "small-cnn",
            "--epochs", "2", "--batch-size", "4", "--validation", "0", "--out", weights,
        ])
        #expect(trained.status == 0, "\(trained.error)")
        #expect(FileManager.default.fileExists(atPath: directory.appendingPathComponent("tiny.json").path))
        let history =
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: directory.appendingPathComponent("tiny-history.json"))) as? [String: Any]
        #expect((history?["epochs"] as? [Any])?.count == 2)
        let curves = try Image.read(directory.appendingPathComponent("tiny-curves.png").path)
        #expect(curves.width == 840 && curves.channels == 3)
        let predicted = try run([
            "predict", "--model", weights, "--image",
            directory.appendingPathComponent("data/dog/0.png").path, "--json",
        ])
        #expect(predicted.status == 0, "\(predicted.error)")
        #expect(predicted.output.contains("\"label\":\"dog\"") || predicted.output.contains("\"label\":\"cat\""))
    }

    @Test func transferLearningFreezesTheBackboneAndTrainsANewHead() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-transfer-\(UUID())")
        defer { try? FileManager.default.removeItem(at: directory) }
        try makeImageFolder(directory.appendingPathComponent("data"), side: 32, channels: 3)
        // A backbone file: resnet18 weights, 1000-class head.
        let backbone = directory.appendingPathComponent("resnet18.safetensors").path
        let loaded = try LoadedModel.untrained("resnet18")
        try SafeTensors.write(loaded.module.stateDict(), to: backbone)
        let weights = directory.appendingPathComponent("catdog.safetensors").path
        let trained = try run([
            "train", "--images", directory.appendingPathComponent("data").path, "--arch", "resnet18",
            "--backbone", backbone, "--head", "16", "--freeze-features", "--loss", "bce",
            "--image-size", "32", "--epochs", "1", "--batch-size", "4", "--validation", "0",
            "--out", weights,
        ])
        #expect(trained.status == 0, "\(trained.error)")
        let before = try SafeTensors.read(backbone), after = try SafeTensors.read(weights)
        #expect(after["layer4.1.conv2.weight"]?.scalars == before["layer4.1.conv2.weight"]?.scalars)
        #expect(after["fc.0.weight"]?.shape == [16, 512])
        #expect(after["fc.2.weight"]?.shape == [1, 16])
        #expect(after["fc.weight"] == nil)
        let metadata = try ModelMetadata.read(directory.appendingPathComponent("catdog.json").path)
        #expect(metadata.architecture == "resnet18" && metadata.classes == ["cat", "dog"])
    }

    /// Every method of the registry (the executable's own), with `--raw` and `--out`: a pixel
    /// method's raw attribution is the input's shape, a CAM's is at its layer (the fashion CNN's
    /// last spatial activation, 14×14), FullGrad's at the input's 28×28.
    @Test("explain writes the raw attribution and a picture", arguments: MethodRegistry.builtIn)
    func explainWritesRawAndPicture(_ method: AttributionMethod) throws {
        let shape = !method.attributesToLayer ? [1, 28, 28] : method.usesLayer ? [14, 14] : [28, 28]
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-explain-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let raw = directory.appendingPathComponent("a.npy").path, picture = directory.appendingPathComponent("a.png").path
        let result = try run([
            "explain", "--model", "Models/fashion-cnn.safetensors", "--image", "Samples/fashion/0000-ankle-boot.png",
            "--method", method.name, "--samples", "4", "--steps", "8", "--window", "7", "--stride", "7",
            "--raw", raw, "--out", picture,
        ])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("class 9 (Ankle boot)"))
        let attribution = try NPY.read(raw)
        #expect(attribution.shape == shape)
        #expect(attribution.abs().max().scalar > 0)
        let image = try Image.read(picture)
        #expect(image.width == 28 && image.height == 28 && image.channels == 3)
    }

    @Test func explainRejectsBadRequests() throws {
        let unknown = try run([
            "explain", "--model", "Models/fashion-cnn.safetensors", "--image", "Samples/fashion/0000-ankle-boot.png",
            "--method", "magic",
        ])
        #expect(unknown.status != 0 && unknown.error.contains("unknown method 'magic'"))
        let target = try run([
            "explain", "--model", "Models/fashion-cnn.safetensors", "--image", "Samples/fashion/0000-ankle-boot.png",
            "--method", "saliency", "--target", "10",
        ])
        #expect(target.status != 0 && target.error.contains("out of range"))
        let layer = try run([
            "explain", "--model", "Models/fashion-cnn.safetensors", "--image", "Samples/fashion/0000-ankle-boot.png",
            "--method", "grad-cam", "--layer", "features.9",
        ])
        #expect(layer.status != 0 && layer.error.contains("no layer named 'features.9'"))
    }

    @Test func activationsAndFiltersWriteGrids() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-filters-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let grid = directory.appendingPathComponent("maps.png").path, raw = directory.appendingPathComponent("maps.npy").path
        let activations = try run([
            "activations", "--model", "Models/fashion-cnn.safetensors", "--image", "Samples/fashion/0013-dress.png",
            "--layer", "features.4", "--channels", "0-3,10", "--out", grid, "--raw", raw,
        ])
        #expect(activations.status == 0, "\(activations.error)")
        #expect(try NPY.read(raw).shape == [64, 14, 14])
        #expect(try Image.read(grid).width == 8 * 14 + 9 * 2)
        let filters = directory.appendingPathComponent("filters.png").path
        let result = try run([
            "filters", "--model", "Models/fashion-cnn.safetensors", "--layer", "features.4", "--channels", "0-3",
            "--steps", "30", "--out", filters,
        ])
        #expect(result.status == 0, "\(result.error)")
        #expect(try Image.read(filters).channels == 1)  // a grayscale model's inputs
        // "mean objective: A at the start, B after 30 steps" with B > A.
        let numbers = result.output.split(whereSeparator: { !"0123456789.-".contains($0) }).compactMap { Float($0) }
        #expect(numbers.count >= 2 && numbers[1] > numbers[0])
    }

    @Test func usageErrorsExitTwoAndBadDataExitsOneWithOneLine() throws {
        let usage = try run([
            "explain", "--model", "Models/fashion-cnn.safetensors", "--image", "Samples/fashion/0013-dress.png",
            "--method", "magic",
        ])
        #expect(usage.status == 2)
        let unknownCommand = try run(["frobnicate"])
        #expect(unknownCommand.status == 2)
        let missing = try run([
            "predict", "--model", "/nonexistent/weights.pth", "--arch", "resnet18", "--image", "Samples/imagenet/dog.jpg",
        ])
        #expect(missing.status == 1)
        #expect(missing.error == "error: weights file '/nonexistent/weights.pth' does not exist\n")
        for result in [usage, unknownCommand, missing] {
            #expect(result.error.split(separator: "\n").count == 1, "\(result.error)")
            #expect(result.output.isEmpty)
        }
    }

    @Test func explainRefusesAMultiChannelPictureWithoutReduction() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-reduce-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("x.npy").path
        try NPY.write(Tensor.full([3, 64, 64], value: 0.1), to: input)
        let raw = directory.appendingPathComponent("a.npy").path, picture = directory.appendingPathComponent("a.png").path
        let result = try run([
            "explain", "--model", squeezeNetFixtures.appendingPathComponent("squeezenet1_1-10.pth").path,
            "--arch", "squeezenet1_1", "--input", input, "--method", "saliency", "--reduce", "none",
            "--out", picture, "--raw", raw,
        ])
        #expect(result.status == 2)
        #expect(result.error.contains("--reduce none keeps 3 channels"))
        #expect(!FileManager.default.fileExists(atPath: picture) && !FileManager.default.fileExists(atPath: raw))
    }

    @Test func onnxModelsPredictExplainAndSummarizeInTheirOwnLayout() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-onnx-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let fixtures = "Tests/LoupeExplainTests/Fixtures/keras-style"
        let model = "\(fixtures)/keras-style.onnx", input = "\(fixtures)/input.npy"
        let probabilities = directory.appendingPathComponent("p.npy").path
        let predicted = try run(["predict", "--model", model, "--input", input, "--raw", probabilities])
        #expect(predicted.status == 0, "\(predicted.error)")
        let expected = try NPY.read("\(root.path)/\(fixtures)/probabilities.npy")
        #expect((try NPY.read(probabilities) - expected.reshaped([5])).abs().max().scalar < 1e-6)

        let raw = directory.appendingPathComponent("s.npy").path, picture = directory.appendingPathComponent("s.png").path
        let explained = try run([
            "explain", "--model", model, "--input", input, "--method", "saliency", "--raw", raw, "--out", picture,
        ])
        #expect(explained.status == 0, "\(explained.error)")
        let saliency = try NPY.read(raw)
        #expect(saliency.shape == [16, 16, 3])  // the model's own H, W, C layout
        // The graph ends in Softmax: the logit before it is explained, and the probability with
        // --explain-probabilities.
        #expect(explained.error.contains("comes out of Softmax"), "\(explained.error)")
        let reference = try NPY.read("\(root.path)/\(fixtures)/logit_saliency.npy")
        #expect((saliency - reference.reshaped([16, 16, 3])).abs().max().scalar <= 1e-4 * reference.abs().max().scalar)
        let kept = try run([
            "explain", "--model", model, "--input", input, "--method", "saliency", "--raw", raw, "--explain-probabilities",
        ])
        #expect(kept.status == 0, "\(kept.error)")
        let probabilitySaliency = try NPY.read(raw)
        let probabilityReference = try NPY.read("\(root.path)/\(fixtures)/saliency.npy")
        #expect(
            (probabilitySaliency - probabilityReference.reshaped([16, 16, 3])).abs().max().scalar
                <= 1e-4 * probabilityReference.abs().max().scalar)
        #expect(try Image.read(picture).width == 16)

        let cam = try run(["explain", "--model", model, "--input", input, "--method", "grad-cam", "--raw", raw])
        #expect(cam.status == 0 && cam.error.contains("grad-cam layer: relu"), "\(cam.error)")
        let activations = try run([
            "activations", "--model", model, "--input", input, "--layer", "sequential/conv2d/Relu", "--raw", raw,
        ])
        #expect(activations.status == 0, "\(activations.error)")
        #expect(try NPY.read(raw).shape == [4, 16, 16])

        let summary = try run(["summary", "--model", model])
        #expect(
            summary.status == 0 && summary.output.contains("dense ") && summary.output.contains("MatMul")
                && summary.output.contains("[1, 8, 8, 4]") && summary.output.contains("Total params: 1,397"))
    }

    @Test func badOnnxModelsFailWithOneLine() throws {
        let unsupported = try run([
            "predict", "--model", "Tests/LoupeExplainTests/Fixtures/keras-style/unsupported.onnx",
            "--input", "Tests/LoupeExplainTests/Fixtures/keras-style/input.npy",
        ])
        #expect(unsupported.status == 1)
        #expect(
            unsupported.error
                == "error: Tests/LoupeExplainTests/Fixtures/keras-style/unsupported.onnx uses operators Loupe does not support: TopK (pick_top), Frobnicate (custom_step)\n"
        )
        let garbage = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-garbage-\(UUID()).onnx")
        try Data((0..<300).map { UInt8(($0 * 73 + 11) % 256) }).write(to: garbage)
        defer { try? FileManager.default.removeItem(at: garbage) }
        let malformed = try run(["summary", "--model", garbage.path])
        #expect(malformed.status == 1 && malformed.error.hasPrefix("error: \(garbage.path) is not a valid ONNX model"))
        #expect(malformed.error.split(separator: "\n").count == 1)
    }

    /// Each kind of bad request: one line on stderr, exit 2 for usage and 1 for bad data, and an
    /// existing output file left exactly as it was.
    @Test func badRequestsLeaveExistingOutputsUntouched() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-errors-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let picture = directory.appendingPathComponent("out.png").path, raw = directory.appendingPathComponent("out.npy").path
        let before = Data("previous contents".utf8)
        try before.write(to: URL(fileURLWithPath: picture))
        try before.write(to: URL(fileURLWithPath: raw))
        func array(_ name: String, _ tensor: Tensor) throws -> String {
            let path = directory.appendingPathComponent(name).path
            try NPY.write(tensor, to: path)
            return path
        }
        let nan = try array("nan.npy", Tensor.full([1, 28, 28], value: .nan))
        let infinite = try array("inf.npy", Tensor.full([1, 1, 28, 28], value: .infinity))
        let wrongShape = try array("shape.npy", Tensor.zeros([3, 28, 28]))
        let unreadable = directory.appendingPathComponent("locked.png").path
        try Data("x".utf8).write(to: URL(fileURLWithPath: unreadable))
        try FileManager.default.setAttributes([.posixPermissions: 0o000], ofItemAtPath: unreadable)
        let model = ["--model", "Models/fashion-cnn.safetensors"]
        let outputs = ["--out", picture, "--raw", raw]
        let cases: [(arguments: [String], status: Int32, message: String)] =
            [
                (["explain"] + model + ["--input", nan, "--method", "saliency"] + outputs, 1, "NaN or infinite"),
                (["explain"] + model + ["--input", infinite, "--method", "saliency"] + outputs, 1, "NaN or infinite"),
                (
                    ["explain"] + model + ["--input", wrongShape, "--method", "saliency"] + outputs, 1,
                    "the model takes [1, 1, 28, 28]"
                ),
                (["explain"] + model + ["--image", "/nonexistent.png", "--method", "saliency"] + outputs, 1, "does not exist"),
                (
                    ["explain"] + model + ["--image", "Package.swift", "--method", "saliency"] + outputs, 1,
                    "neither a PNG nor a JPEG"
                ),
                (
                    ["explain"] + model + [
                        "--image", "Samples/fashion/0013-dress.png", "--method", "grad-cam", "--layer", "feature.4",
                    ] + outputs,
                    1, "did you mean 'features.4'"
                ),
                (
                    ["explain"] + model + ["--image", "Samples/fashion/0013-dress.png", "--method", "saliency", "--target", "10"]
                        + outputs,
                    2, "out of range"
                ),
                (
                    ["explain"] + model + [
                        "--image", "Samples/fashion/0013-dress.png", "--method", "occlusion", "--window", "40",
                    ] + outputs,
                    1, "does not fit"
                ),
                (
                    ["explain"] + model + ["--image", "Samples/fashion/0013-dress.png", "--method", "magic"] + outputs, 2,
                    "unknown method"
                ),
                (["predict"] + model + ["--image", "Samples/fashion/0013-dress.png", "--raw", raw, "--top", "0"], 2, "--top"),
                (
                    ["activations"] + model + [
                        "--image", "Samples/fashion/0013-dress.png", "--layer", "features.4", "--channels", "70",
                    ] + outputs,
                    2, "outside"
                ),
            ]
            + (getuid() == 0
                ? []
                : [(["explain"] + model + ["--image", unreadable, "--method", "saliency"] + outputs, Int32(1), "cannot read")])
        for (arguments, status, message) in cases {
            let result = try run(arguments)
            #expect(result.status == status, "\(arguments.joined(separator: " ")): exit \(result.status), \(result.error)")
            #expect(
                result.error.hasPrefix("error: ") && result.error.contains(message),
                "\(arguments.joined(separator: " ")): \(result.error)")
            #expect(result.error.split(separator: "\n").count == 1, "\(result.error)")
            #expect(
                try Data(contentsOf: URL(fileURLWithPath: picture)) == before
                    && (try Data(contentsOf: URL(fileURLWithPath: raw))) == before,
                "\(arguments.joined(separator: " ")) touched an existing output")
        }
    }
}
