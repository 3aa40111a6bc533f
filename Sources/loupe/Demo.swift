import ArgumentParser
import Foundation
import Loupe

/// Loupe's main job on what ships in the repository, as two linked pages: torchvision's ImageNet
/// MobileNetV2 on five photos with the classic pictures (`index.html`), and the Fashion-MNIST
/// model explaining a dozen test images with every method, with its activations, filter
/// visualizations and training curves (`fashion.html`).
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the HTML reports for the bundled models and images: ImageNet and Fashion-MNIST (no network).")

    @Option(help: "The bundled ImageNet model's weights (its .json metadata sits beside them).")
    var photoModel = "Models/mobilenet_v2.safetensors"

    @Option(help: "A folder of JPEG photos for the ImageNet model.")
    var photos = "Samples/imagenet"

    @Option(help: "The bundled model's weights (its .json metadata and -history.json sit beside them).")
    var model = "Models/fashion-cnn.safetensors"

    @Option(help: "A folder of the model's test images; a file's name ends in its true class (0019-tshirt.png).")
    var images = "Samples/fashion"

    @Option(help: "The folder to write index.html into.")
    var out = "loupe-demo"

    func run() throws {
        let started = Date()
        // Read every input before writing anything, so a bad file leaves no output behind.
        let photoModel = try LoadedModel.load(self.photoModel, architecture: nil)
        let photoFiles = try FileManager.default.contentsOfDirectory(atPath: photos).filter {
            $0.lowercased().hasSuffix(".jpg")
        }.sorted()
        guard !photoFiles.isEmpty else { throw ValidationError("\(photos) holds no JPEG photos") }
        let photoInputs = try photoFiles.map { try photoModel.photoInput("\(photos)/\($0)") }
        let loaded = try LoadedModel.load(model, architecture: nil)
        let historyPath = TrainingHistory.path(besideWeights: model)
        let history = try TrainingHistory.read(historyPath).epochs
        let files = try FileManager.default.contentsOfDirectory(atPath: images).filter { $0.hasSuffix(".png") }.sorted()
        guard !files.isEmpty else { throw ValidationError("\(images) holds no PNG images") }
        let inputs = try files.map { try loaded.input(image: "\(images)/\($0)", array: nil) }

        let imageNet = try imageNetReport(photoModel, files: photoFiles, inputs: photoInputs)

        var settings = Report.Settings()
        settings.links = [("The ImageNet page: MobileNetV2 on five photos", "index.html")]
        settings.layers = ["features.1", "features.4"]
        // Settings for 28×28 inputs: a 4-pixel occlusion window, blurs up to a quarter of the image.
        settings.options.window = 4
        settings.options.stride = 2
        settings.options.sigmas = [0.5, 1, 2, 4]
        settings.displayWidth = 112
        // Deletion and insertion 28 pixels (a row) a step; MPRT on this small model only.
        settings.metrics = [.deletion, .insertion, .sparseness, .mprt]
        settings.metricSettings = ["deletion": ["step": 28], "insertion": ["step": 28]]
        var report = Report(
            title: "Loupe demo: a small CNN on Fashion-MNIST", model: loaded, modelName: model, settings: settings)

        print("Predictions of \(model) (file name = true class):")
        var correct = 0
        for (file, input) in zip(files, inputs) {
            let probabilities = withoutGradients { loaded.module(input).softmax(along: 1)[0] }
            let best = probabilities.argmax()
            let label = loaded.classNames[best]
            let letters = { (text: String) in text.lowercased().filter(\.isLetter) }
            if letters(label).hasPrefix(letters(String(file.dropLast(4).drop { $0 != "-" }))) { correct += 1 }
            print(
                "  \(file.padding(toLength: 22, withPad: " ", startingAt: 0)) \(label.padding(toLength: 12, withPad: " ", startingAt: 0)) p="
                    + String(format: "%.3f", probabilities.scalars[best]))
        }
        print("\(correct) of \(files.count) right")
        for (index, (file, input)) in zip(files, inputs).enumerated() {
            try report.addImage(named: file, input: input) { step in
                Progress.line("demo: image \(index + 1)/\(files.count): \(step)")
            }
        }

        Progress.line("demo: filter visualizations")
        try report.addSection(
            heading: "What the filters respond to",
            text: "Gradient ascent on the input (Adam, weights frozen, jitter, blur, clipping to the pixel range) from gray, "
                + "200 steps. Left: the first 16 channels of features.4 (the second convolution's ReLU); right: one image "
                + "per class maximizing its score (Simonyan et al.'s class model visualization).",
            figures: try filterFigures(loaded))
        try report.addSection(
            heading: "Training", text: "Loss and accuracy per epoch of the bundled model (\(historyPath)).",
            figures: [Figure(Render.trainingCurves(history), caption: "Adam, Fashion-MNIST training and validation split")])
        Progress.finish()
        try report.write(toDirectory: out, page: "fashion.html", generator: "loupe \(loupeVersion) demo")
        try imageNet.write(toDirectory: out, generator: "loupe \(loupeVersion) demo")
        print("Wrote \(out)/index.html and \(out)/fashion.html in " + String(format: "%.1f s", Date().timeIntervalSince(started)))
    }

    /// The real network's page: each photo's top-5 classes and the classic pictures of its top class.
    private func imageNetReport(
        _ loaded: LoadedModel, files: [String], inputs: [(input: Tensor, picture: Tensor)]
    ) throws -> Report {
        var settings = Report.Settings()
        settings.methods = [.saliency, .smoothgrad, .guidedBackprop, .gradCAM, .guidedGradCAM, .occlusion]
        settings.links = [("The Fashion-MNIST page: every method, activations, filters, training", "fashion.html")]
        // Deletion and insertion eight rows (1,792 pixels) a step: 29 points over 224 × 224.
        settings.metrics = [.deletion, .insertion, .sparseness]
        settings.metricSettings = ["deletion": ["step": 1792], "insertion": ["step": 1792]]
        var report = Report(
            title: "Loupe demo: torchvision's MobileNetV2 on ImageNet photos", model: loaded, modelName: photoModel,
            settings: settings)
        print("Top-5 of \(photoModel):")
        for (file, input) in zip(files, inputs) {
            let probabilities = withoutGradients { loaded.module(input.input).softmax(along: 1)[0] }.scalars
            let top = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(5)
            print(
                "  \(file.padding(toLength: 18, withPad: " ", startingAt: 0)) "
                    + top.map { "\(loaded.classNames[$0]) " + String(format: "%.3f", probabilities[$0]) }.joined(separator: ", "))
        }
        for (index, (file, input)) in zip(files, inputs).enumerated() {
            try report.addImage(named: file, input: input.input, picture: input.picture) { step in
                Progress.line("demo: photo \(index + 1)/\(files.count): \(step)")
            }
        }
        return report
    }

    private func filterFigures(_ loaded: LoadedModel) throws -> [Figure] {
        let metadata = loaded.metadata
        var maximizer = ActivationMaximization(valueRange: metadata.normalizedPixelRange)
        maximizer.steps = 200
        maximizer.learningRate = 0.05
        func optimized(_ objective: ActivationMaximization.Objective, count: Int) throws -> Tensor {
            let start = metadata.normalized(Tensor.full([count] + metadata.inputShape, value: 0.5))
            return metadata.denormalized(try maximizer.run(loaded.module, objective: objective, start: start).images).clamped(
                min: 0, max: 1)
        }
        let channels = try optimized(.channels(layer: "features.4", channels: Array(0..<16)), count: 16)
        let classes = try optimized(.classes(Array(0..<loaded.classNames.count)), count: loaded.classNames.count)
        let classTiles = (0..<loaded.classNames.count).map {
            Tile(loaded.classNames[$0], Image(tensor: classes[$0]).enlarged(by: 3))
        }
        return [
            Figure(Render.imageGrid(channels, columns: 8, gap: 1).enlarged(by: 2), caption: "features.4, channels 0-15"),
            Figure(Render.panel(classTiles, columns: 5), caption: "class model visualization"),
        ]
    }
}
