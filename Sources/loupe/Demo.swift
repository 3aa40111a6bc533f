import ArgumentParser
import Foundation
import Loupe

/// The demo until the HTML report lands: the bundled Fashion-MNIST model classifies the
/// bundled test images and shows its first layer's feature maps; a fixed-filter layer shows
/// edge maps of a photo and the gradient of their energy with respect to the pixels.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the bundled model on the bundled images and write pictures to a folder.")

    @Option(help: "The bundled model's weights (its .json metadata sits beside them).")
    var model = "Models/fashion-cnn.safetensors"

    @Option(help: "A folder of small grayscale images for the model.")
    var images = "Samples/fashion"

    @Option(help: "A photo for the edge-filter demo (PNG or JPEG).")
    var photo = "Samples/dog.jpg"

    @Option(help: "The folder to write into.")
    var out = "loupe-demo"

    func run() throws {
        // Read every input before writing anything, so a bad file leaves no output behind.
        let photoInput = try Image.read(photo).tensor().resizedBilinear(to: Size2D(224, 224))
        let loaded = try LoadedModel.load(model, architecture: nil)
        let files = try FileManager.default.contentsOfDirectory(atPath: images).filter { $0.hasSuffix(".png") }.sorted()
        var activationInput: Tensor?
        var correct = 0
        print("Predictions of \(model) (file name = true class):")
        for file in files {
            let x = try loaded.input(image: "\(images)/\(file)", array: nil)
            activationInput = activationInput ?? x
            let probabilities = withoutGradients { loaded.module(x).softmax(along: 1)[0] }
            let best = probabilities.argmax()
            let label = loaded.classNames[best]
            // File names end in the true class ("0019-tshirt.png" for "T-shirt/top").
            let letters = { (text: String) in text.lowercased().filter(\.isLetter) }
            let truth = String(file.dropLast(4).drop { $0 != "-" })
            if letters(label).hasPrefix(letters(truth)) { correct += 1 }
            let padded = file.padding(toLength: 22, withPad: " ", startingAt: 0)
            print("  \(padded) \(label.padding(toLength: 12, withPad: " ", startingAt: 0)) p=" + String(format: "%.3f", probabilities.scalars[best]))
        }
        print("\(correct) of \(files.count) right")

        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        if let activationInput {
            let (_, activations) = try loaded.module.withTaps(["features.1"]) { withoutGradients { loaded.module(activationInput) } }
            if let maps = activations["features.1"] {
                try Render.grid(maps[0], columns: 8).writePNG(to: "\(out)/first-layer.png")
            }
        }
        try edgeDemo(photoInput)
        print("Wrote \(out)/first-layer.png (features.1 of \(files.first ?? "")), \(out)/feature-maps.png and \(out)/saliency.png")
    }

    /// A conv layer with hand-made filters (identity, Sobel x, Sobel y, Laplacian) after a blur,
    /// and the gradient of the Sobel energy with respect to the pixels.
    private func edgeDemo(_ input: Tensor) throws {
        let filters = Tensor(shape: [4, 1, 3, 3], scalars: [
            0, 0, 0, 0, 1, 0, 0, 0, 0,
            -1, 0, 1, -2, 0, 2, -1, 0, 1,
            -1, -2, -1, 0, 0, 0, 1, 2, 1,
            0, 1, 0, 1, -4, 1, 0, 1, 0,
        ])
        func layer(_ x: Tensor) -> Tensor {
            x.mean(along: 1, keepingDimensions: true).gaussianBlurred(sigma: 1).convolved2D(with: filters, padding: 1)
        }
        let (_, pixelGradient) = valueWithGradient(at: input) { x in layer(x).slice(along: 1, from: 1, to: 3).pow(2).sum() }
        try Render.grid(withoutGradients { layer(input) }[0], columns: 4).writePNG(to: "\(out)/feature-maps.png")
        try Render.grid(pixelGradient[0].abs().max(along: 0, keepingDimensions: true), columns: 1)
            .writePNG(to: "\(out)/saliency.png")
    }
}
