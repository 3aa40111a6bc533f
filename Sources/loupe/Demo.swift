import ArgumentParser
import Foundation
import Loupe

/// Loupe's main job on what ships in the repository: the Fashion-MNIST model explains a dozen
/// test images with every method, and the report adds its activations, filter visualizations
/// and training curves.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the HTML report for the bundled Fashion-MNIST model and test images (no network).")

    @Option(help: "The bundled model's weights (its .json metadata and -history.json sit beside them).")
    var model = "Models/fashion-cnn.safetensors"

    @Option(help: "A folder of the model's test images; a file's name ends in its true class (0019-tshirt.png).")
    var images = "Samples/fashion"

    @Option(help: "The folder to write index.html into.")
    var out = "loupe-demo"

    func run() throws {
        let started = Date()
        // Read every input before writing anything, so a bad file leaves no output behind.
        let loaded = try LoadedModel.load(model, architecture: nil)
        let historyPath = TrainingHistory.path(besideWeights: model)
        let history = try TrainingHistory.read(historyPath).epochs
        let files = try FileManager.default.contentsOfDirectory(atPath: images).filter { $0.hasSuffix(".png") }.sorted()
        guard !files.isEmpty else { throw ValidationError("\(images) holds no PNG images") }
        let inputs = try files.map { try loaded.input(image: "\(images)/\($0)", array: nil) }

        var settings = Report.Settings()
        settings.layers = ["features.1", "features.4"]
        // Settings for 28×28 inputs: a 4-pixel occlusion window, blurs up to a quarter of the image.
        settings.options.window = 4
        settings.options.stride = 2
        settings.options.sigmas = [0.5, 1, 2, 4]
        settings.displayWidth = 112
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
        try report.write(toDirectory: out, generator: "loupe \(loupeVersion) demo")
        print("Wrote \(out)/index.html in " + String(format: "%.1f s", Date().timeIntervalSince(started)))
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
