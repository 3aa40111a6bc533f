import ArgumentParser
import Foundation
import Loupe

struct Explain: ParsableCommand {
    static var configuration: CommandConfiguration {
        CommandConfiguration(
            abstract: "Attribute a class score to the input pixels (or to a layer, for CAM methods).",
            discussion: """
                Methods (--method):
                \(methodHelp)
                --raw writes float32 before any normalization: the input's shape without the batch dimension for
                pixel methods, (h, w) at the layer for CAM methods; (H, W) at the input's size, scaled to 0...1, for
                full-grad and for CAM methods at several layers or with --aug-smooth.
                """)
    }

    @OptionGroup var model: ModelOptions
    @OptionGroup var input: InputOptions
    @OptionGroup var sizes: MethodSizeOptions

    @Option(help: "The attribution method: \(methodNames).")
    var method: String

    @Option(help: "Class index to explain (default: the model's top class).")
    var target: Int?

    @Option(
        help:
            "Layer for CAM methods, or several, comma-separated (default: the architecture's CAM layer, else the last spatial activation; printed)."
    )
    var layer: String?

    @OptionGroup var cam: CAMOptions

    @Option(help: "Heat map PNG over the input image.")
    var out: String?

    @Option(help: "Raw attribution (float32 .npy).")
    var raw: String?

    @Option(help: "How --out reduces a pixel map's channels to one (default: absmax; a one-channel map is kept signed).")
    var reduce: ChannelReduction?

    @Option(
        help:
            "Colormap for --out (default: jet for CAM methods, bwr for signed pixel maps, inferno otherwise)."
    )
    var colormap: Colormap?

    @Option(
        help:
            "How values become colors; percentile is Captum's outlier clipping, 2% (default: minmax for CAM methods, symmetric for signed pixel maps, percentile otherwise)."
    )
    var scaling: ScalingChoice?

    @Option(help: "Opacity of the map over the photo, 0...1.")
    var alpha: Float = 0.5

    @Option(help: "Overlay style: blend (colored map over the photo) or red (map in the red channel of the gray photo).")
    var style: OverlayStyle = .blend

    @OptionGroup var enlarging: EnlargeOptions

    @Option(help: "SmoothGrad noise, as a fraction of the input's max − min.")
    var noise: Float = 0.15

    @Option(help: "Integrated-gradients rule.")
    var rule: IntegrationRule = .gausslegendre

    @Option(help: "Occlusion baseline: a number, mean, or blur.")
    var baseline = "0"

    @Option(help: "Blur-saliency standard deviations (pixels), comma-separated.")
    var sigmas = "1,3,9,27"

    @Option(help: "Seed for SmoothGrad noise.")
    var seed: UInt64 = 0

    func validate() throws {
        _ = try attributionMethod(named: method)
        guard (0...1).contains(alpha) else { throw ValidationError("--alpha is between 0 and 1; got \(alpha)") }
        _ = try CommaList.numbers(sigmas, option: "--sigmas")
        if let layer { _ = try CommaList.names(layer, option: "--layer") }
    }

    /// The method settings from the command line.
    func methodOptions() throws -> AttributionMethod.Options {
        var options = AttributionMethod.Options()
        sizes.apply(to: &options)
        options.noise = noise
        options.seed = seed
        options.rule = rule.rule
        switch baseline {
        case "mean": options.baseline = .mean
        case "blur": options.baseline = .blur(5)
        default:
            guard let value = Float(baseline) else {
                throw ValidationError("--baseline is a number, mean or blur; got '\(baseline)'")
            }
            options.baseline = .value(value)
        }
        options.sigmas = try CommaList.numbers(sigmas, option: "--sigmas")
        try cam.apply(to: &options, layers: layer, option: "--layer")
        return options
    }

    func run() throws {
        let loaded = try model.load()
        let (x, picture) = try input.readWithPicture(for: loaded)
        let network = loaded.module
        let output = network.predictions(for: x)
        let classes = output.shape.last ?? 0
        let chosen = target ?? output[0].argmax()
        guard chosen >= 0 && chosen < classes else {
            throw ValidationError("--target \(chosen) is out of range; the model has \(classes) classes (0...\(classes - 1))")
        }
        let method = try attributionMethod(named: self.method)
        let result = try method.attribute(network, input: x, target: .classes([chosen]), options: methodOptions()) {
            done, total in
            Progress.line("occlusion: \(done)/\(total) windows")
        }
        Progress.finish()
        if layer == nil, let chosenLayer = result.layers.first {
            FileHandle.standardError.write(Data("\(method.name) layer: \(chosenLayer)\n".utf8))
        }
        if method.attributesToLayer, result.layers.count == 1, let used = result.layers.first,
            result.attribution.abs().max().scalar == 0
        {
            let earlier = try network.camLayerCandidates(inputShape: x.shape).prefix { $0 != used }.last
            FileHandle.standardError.write(
                Data(
                    ("\(method.name): the map is zero everywhere at \(used); "
                        + (earlier.map { "try an earlier layer, --layer \($0)" }
                            ?? "try another --layer (loupe summary lists them)")
                        + "\n").utf8))
        }
        if let delta = result.convergenceDelta { FileHandle.standardError.write(Data("convergence delta: \(delta[0])\n".utf8)) }
        let attribution = result.attribution
        if let out {
            // The overlay draws over the photo as the model saw it (resized and cropped, or
            // letterboxed); without a photo, over mid-gray.
            let photo = picture ?? Tensor.full([1, 1, x.shape[2], x.shape[3]], value: 0.5)
            let picture: Image
            do {
                picture = try Render.attributionPicture(
                    attribution[0], attributesToLayer: method.attributesToLayer, on: photo, reduction: reduce,
                    colormap: colormap, scaling: scaling?.scaling, alpha: alpha, style: style)
            } catch let error as RenderError {
                throw ValidationError("--reduce \(error)")
            }
            try picture.enlarged(by: enlarging.enlarge).writePNG(to: out)
        }
        if let raw {
            // Pixel attributions keep the model's own input layout (H, W, C for a channels-last ONNX model).
            let inModelLayout =
                method.attributesToLayer ? attribution : loaded.onnxModule?.toModelLayout(attribution) ?? attribution
            try NPY.write(inModelLayout[0], to: raw)
        }
        print(
            "\(method.name) for class \(chosen)" + (chosen < loaded.classNames.count ? " (\(loaded.classNames[chosen]))" : "")
                + (raw.map { ", raw → \($0)" } ?? "") + (out.map { ", picture → \($0)" } ?? ""))
    }
}
