import ArgumentParser
import Foundation
import Loupe

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attribute a class score to the input pixels (or to a layer, for CAM methods).",
        discussion: """
        Methods: saliency, input-x-gradient, guided-backprop, deconvnet, smoothgrad, smoothgrad-squared,
        vargrad, blur-saliency, integrated-gradients, occlusion, grad-cam, grad-cam++, guided-grad-cam.
        --raw writes float32 before any normalization: the input's shape without the batch dimension for
        pixel methods, (h, w) at the layer for CAM methods.
        """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var input: InputOptions

    @Option(help: "The attribution method.")
    var method: String

    @Option(help: "Class index to explain (default: the model's top class).")
    var target: Int?

    @Option(help: "Layer for CAM methods (default: the last spatial activation, printed).")
    var layer: String?

    @Option(help: "Heat map PNG over the input image.")
    var out: String?

    @Option(help: "Raw attribution (float32 .npy).")
    var raw: String?

    @Option(help: "2-D summary for --out: none, abs, max or absmax.")
    var reduce = "absmax"

    @Option(help: "SmoothGrad samples.")
    var samples = 50

    @Option(help: "SmoothGrad noise, as a fraction of the input's max − min.")
    var noise: Float = 0.15

    @Option(help: "Integrated-gradients steps.")
    var steps = 50

    @Option(help: "Integrated-gradients rule: gausslegendre or riemann-trapezoid.")
    var rule = "gausslegendre"

    @Option(help: "Occlusion window (pixels).")
    var window = 16

    @Option(help: "Occlusion stride (pixels).")
    var stride = 8

    @Option(help: "Occlusion baseline: a number, mean, or blur.")
    var baseline = "0"

    @Option(help: "Blur-saliency standard deviations (pixels), comma-separated.")
    var sigmas = "1,3,9,27"

    @Option(help: "Seed for SmoothGrad noise.")
    var seed: UInt64 = 0

    static let methods = ["saliency", "input-x-gradient", "guided-backprop", "deconvnet", "smoothgrad",
                          "smoothgrad-squared", "vargrad", "blur-saliency", "integrated-gradients", "occlusion", "grad-cam",
                          "grad-cam++", "guided-grad-cam"]

    func validate() throws {
        guard Explain.methods.contains(method) else {
            throw ValidationError("unknown method '\(method)'; choose one of \(Explain.methods.joined(separator: ", "))")
        }
        guard ChannelReduction(rawValue: reduce) != nil else { throw ValidationError("--reduce is none, abs, max or absmax") }
        guard ["gausslegendre", "riemann-trapezoid"].contains(rule) else { throw ValidationError("--rule is gausslegendre or riemann-trapezoid") }
    }

    func run() throws {
        let loaded = try model.load()
        let x = try input.read(for: loaded)
        let network = loaded.module
        let output = withoutGradients { network(x) }
        let classes = output.shape.last ?? 0
        let chosen = target ?? output[0].argmax()
        guard chosen >= 0 && chosen < classes else {
            throw ValidationError("--target \(chosen) is out of range; the model has \(classes) classes (0...\(classes - 1))")
        }
        let explained = ExplanationTarget.classes([chosen])
        let forward = { (batch: Tensor) in network(batch) }
        let attribution: Tensor
        var isCAM = false
        switch method {
        case "saliency": attribution = Saliency().attribute(forward, input: x, target: explained)
        case "input-x-gradient": attribution = InputXGradient().attribute(forward, input: x, target: explained)
        case "guided-backprop": attribution = GuidedBackprop().attribute(forward, input: x, target: explained)
        case "deconvnet": attribution = Deconvnet().attribute(forward, input: x, target: explained)
        case "smoothgrad", "smoothgrad-squared", "vargrad":
            let aggregation: NoiseTunnel<Saliency>.Aggregation =
                method == "smoothgrad" ? .smoothgrad : method == "vargrad" ? .vargrad : .smoothgradSquared
            attribution = NoiseTunnel(Saliency(), samples: samples, noiseLevel: noise, aggregation: aggregation, seed: seed)
                .attribute(forward, input: x, target: explained)
        case "blur-saliency":
            let values = sigmas.split(separator: ",").compactMap { Float($0) }.filter { $0 > 0 }
            guard !values.isEmpty else { throw ValidationError("--sigmas needs positive numbers, e.g. 1,3,9,27") }
            attribution = NoiseTunnel(Saliency()).attribute(forward, input: x, target: explained, blurSigmas: values)
        case "guided-grad-cam":
            let chosenLayer = try layer ?? network.defaultCAMLayer(inputShape: x.shape)
            if layer == nil { FileHandle.standardError.write(Data("grad-cam layer: \(chosenLayer)\n".utf8)) }
            attribution = try GuidedGradCAM(layer: chosenLayer).attribute(network, input: x, target: explained)
        case "integrated-gradients":
            let result = IntegratedGradients(steps: steps, rule: rule == "gausslegendre" ? .gaussLegendre : .riemannTrapezoid)
                .attribute(forward, input: x, target: explained)
            attribution = result.attribution
            FileHandle.standardError.write(Data("convergence delta: \(result.delta[0])\n".utf8))
        case "occlusion":
            let fill: Occlusion.Baseline = baseline == "mean" ? .mean : baseline == "blur" ? .blur(5) : .value(Float(baseline) ?? 0)
            attribution = Occlusion(window: window, stride: stride, baseline: fill)
                .attribute(forward, input: x, target: explained) { done, total in
                    FileHandle.standardError.write(Data("\rocclusion: \(done)/\(total) windows".utf8))
                    if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
                }
        default:
            isCAM = true
            let chosenLayer = try layer ?? network.defaultCAMLayer(inputShape: x.shape)
            if layer == nil { FileHandle.standardError.write(Data("grad-cam layer: \(chosenLayer)\n".utf8)) }
            attribution = try (method == "grad-cam" ? GradCAM().attribute(network, layer: chosenLayer, input: x, target: explained)
                                                     : GradCAMPlusPlus().attribute(network, layer: chosenLayer, input: x, target: explained))
        }
        if let out {
            let reduced = isCAM ? attribution : ChannelReduction(rawValue: reduce)!.apply(attribution)
            guard isCAM || reduced.shape[1] == 1 else {
                throw ValidationError("--reduce none keeps \(reduced.shape[1]) channels, but a picture shows one: use abs, max or absmax")
            }
            let map = reduced[0].reshaped(Array(reduced.shape.suffix(2)))
            // The overlay draws over the photo's gray levels; without a photo, over mid-gray.
            let photo = try input.image.map { try Image.read($0).tensor().resizedBilinear(to: Size2D(x.shape[2], x.shape[3])) }
                ?? Tensor.full([1, 1, x.shape[2], x.shape[3]], value: 0.5)
            try Render.overlay(map, on: photo).writePNG(to: out)
        }
        if let raw { try NPY.write(attribution[0], to: raw) }
        print("\(method) for class \(chosen)" + (chosen < loaded.classNames.count ? " (\(loaded.classNames[chosen]))" : "")
              + (raw.map { ", raw → \($0)" } ?? "") + (out.map { ", picture → \($0)" } ?? ""))
    }
}
