import ArgumentParser
import Foundation
import Loupe

/// The smallest honest demo until the report lands: a fixed-filter convolution layer on a
/// photo, its feature maps, and the gradient of its edge energy with respect to the pixels.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the engine on a bundled photo and write pictures to a folder.")

    @Option(help: "The photo to look at (PNG or JPEG).")
    var image = "Samples/dog.jpg"

    @Option(help: "The folder to write into.")
    var out = "loupe-demo"

    func run() throws {
        let photo = try Image.read(image)
        let input = photo.tensor().resizedBilinear(to: Size2D(224, 224))
        let gray = input.mean(along: 1, keepingDimensions: true)
        // A conv layer with hand-made filters: identity, Sobel x, Sobel y, Laplacian.
        let filters = Tensor(shape: [4, 1, 3, 3], scalars: [
            0, 0, 0, 0, 1, 0, 0, 0, 0,
            -1, 0, 1, -2, 0, 2, -1, 0, 1,
            -1, -2, -1, 0, 0, 0, 1, 2, 1,
            0, 1, 0, 1, -4, 1, 0, 1, 0,
        ])
        func layer(_ x: Tensor) -> Tensor {
            x.mean(along: 1, keepingDimensions: true).gaussianBlurred(sigma: 1)
                .convolved2D(with: filters, padding: 1)
        }
        let maps = layer(input)
        // Saliency of the layer's total edge energy (squared Sobel responses).
        let (energy, pixelGradient) = valueWithGradient(at: input) { x in
            layer(x).slice(along: 1, from: 1, to: 3).pow(2).sum()
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try Render.grid(maps[0], columns: 4).writePNG(to: "\(out)/feature-maps.png")
        try Render.grid(pixelGradient[0].abs().max(along: 0, keepingDimensions: true), columns: 1)
            .writePNG(to: "\(out)/saliency.png")
        try Render.grid(gray[0], columns: 1).writePNG(to: "\(out)/input.png")
        print("Edge energy of \(image): \(energy.scalar)")
        print("Wrote \(out)/input.png, \(out)/feature-maps.png (identity, Sobel x, Sobel y, Laplacian) and \(out)/saliency.png")
    }
}
