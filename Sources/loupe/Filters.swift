import ArgumentParser
import Foundation
import Loupe

struct Filters: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Visualize what channels of a layer (or classes) respond to, by gradient ascent on the input.")

    @OptionGroup var model: ModelOptions

    @Option(help: "The layer whose channels to maximize (module path).")
    var layer: String?

    @Option(help: "Channels, e.g. 0-7 (default: the first 8).")
    var channels: String?

    @Option(help: "Class indices to visualize instead of channels, e.g. 0,3,9 (class model visualization).")
    var classes: String?

    @Option(help: "Adam steps.")
    var steps = 200

    @Option(help: "Adam learning rate (in the model's input units).")
    var lr: Float = 0.05

    @Option(help: "L2 decay of the image.")
    var l2: Float = 1e-4

    @Option(help: "Jitter: random shift of up to this many pixels each step.")
    var jitter = 2

    @Option(help: "Blur the image every this many steps (0: never).")
    var blurEvery = 4

    @Option(help: "Start from gray, noise, or an image file (PNG/JPEG) for every channel.")
    var start = "gray"

    @Option(help: "Seed for noise and jitter.")
    var seed: UInt64 = 0

    @OptionGroup var grid: GridOptions

    @Option(help: "Grid PNG of the optimized images.")
    var out: String?

    @OptionGroup var enlarging: EnlargeOptions

    func validate() throws {
        guard (layer != nil) != (classes != nil) else { throw ValidationError("give --layer (with --channels) or --classes") }
    }

    func run() throws {
        let loaded = try model.load()
        let metadata = loaded.metadata
        let shape = metadata.inputShape
        let indices =
            try layer != nil
            ? parseIndexList(channels ?? "0-7", option: "--channels")
            : parseIndexList(classes!, option: "--classes", count: loaded.classNames.count)
        let objective: ActivationMaximization.Objective =
            layer.map { .channels(layer: $0, channels: indices) } ?? .classes(indices)
        var pixels: Tensor
        switch start {
        case "gray": pixels = Tensor.full([indices.count] + shape, value: 0.5)
        case "noise":
            var generator = RandomGenerator(seed: seed)
            pixels = Tensor.uniform([indices.count] + shape, low: 0.4, high: 0.6, generator: &generator)
        default:
            let photo = try loaded.input(image: start, array: nil)
            pixels = metadata.denormalized(photo).broadcast(to: [indices.count] + shape)
        }
        var maximizer = ActivationMaximization(valueRange: metadata.normalizedPixelRange)
        maximizer.steps = steps
        maximizer.learningRate = lr
        maximizer.l2Decay = l2
        maximizer.jitter = jitter
        maximizer.blurEvery = blurEvery
        maximizer.seed = seed
        let (images, objectives) = try maximizer.run(loaded.module, objective: objective, start: metadata.normalized(pixels))
        print(
            String(
                format: "mean objective: %.4f at the start, %.4f after %d steps", objectives.first ?? 0, objectives.last ?? 0,
                steps))
        if let out {
            try Render.imageGrid(metadata.denormalized(images).clamped(min: 0, max: 1), columns: grid.columns).enlarged(
                by: enlarging.enlarge
            )
            .writePNG(to: out)
        }
    }
}
