import ArgumentParser
import Foundation
import Loupe

/// `--model` and `--arch`, shared by every command that runs a model.
struct ModelOptions: ParsableArguments {
    @Option(help: "The model: .onnx, or weights (.safetensors, .pth, .pt).")
    var model: String?

    @Option(
        help:
            "The torchvision architecture (vgg16, resnet18, squeezenet1_1, ...); not needed when a Loupe metadata file sits beside the weights."
    )
    var arch: String?

    @Option(help: "The ONNX graph output to classify and explain (default: the first [N, K] output; summary lists them).")
    var output: String?

    @Flag(
        help:
            "When that output comes out of Softmax or LogSoftmax, explain the probabilities instead of the logits before it."
    )
    var explainProbabilities = false

    /// The model from `--model` (and `--arch`), or an untrained architecture when `allowUntrained`.
    /// Says in one line on standard error when an ONNX output's softmax is set aside.
    func load(allowUntrained: Bool = false) throws -> LoadedModel {
        if let model {
            let loaded = try LoadedModel.load(
                model, architecture: arch, output: output, explainProbabilities: explainProbabilities)
            if let onnx = loaded.onnxModule, let head = onnx.probabilityHead, !onnx.returnsProbabilities {
                FileHandle.standardError.write(
                    Data(
                        ("the output '\(onnx.outputName)' comes out of \(head.rawValue): Loupe scores its input, the logits "
                            + "'\(onnx.scoreTensor)' (--explain-probabilities keeps the \(head.rawValue))\n").utf8))
            }
            return loaded
        }
        if allowUntrained, let arch { return try LoadedModel.untrained(arch) }
        throw ValidationError("give --model WEIGHTS" + (allowUntrained ? " or --arch NAME" : ""))
    }
}

/// `--image` or `--input`, and how images are preprocessed.
struct InputOptions: ParsableArguments {
    @Option(help: "A PNG or JPEG photo, preprocessed for the model.")
    var image: String?

    @Option(help: "A float32 .npy array that IS the model input (with or without the batch dimension); no preprocessing.")
    var input: String?

    @OptionGroup var preprocessing: PreprocessingOptions

    func validate() throws {
        guard (image == nil) != (input == nil) else { throw ValidationError("give exactly one of --image and --input") }
    }

    func read(for model: LoadedModel) throws -> Tensor {
        try readWithPicture(for: model).input
    }

    /// The input, and for `--image` the photo as the model sees it (what overlays are drawn on).
    func readWithPicture(for model: LoadedModel) throws -> (input: Tensor, picture: Tensor?) {
        guard let image else { return (try model.input(image: nil, array: input), nil) }
        let (tensor, picture) = try model.photoInput(image, preprocessing: preprocessing.resolved(for: model))
        return (tensor, picture)
    }
}

/// How photos are turned into model inputs: `--resize`, `--interpolation`, `--crop`, `--mean`,
/// `--std`, `--channel-order`, `--pixel-scale`, `--letterbox`, `--pad-value`.
struct PreprocessingOptions: ParsableArguments {
    @Option(
        help:
            "Resize the photo's shorter side to N pixels, or to exactly HxW (height first; no default crop then) (default: the model's)."
    )
    var resize: String?

    @Option(
        help:
            "The resize filter, antialiased when shrinking as torchvision's on PIL images (default: the model's, else bilinear).")
    var interpolation: Interpolation?

    @Option(help: "Centre-crop the photo to this size (default: the model's input size).")
    var crop: Int?

    @Option(help: "Per-channel mean, comma-separated (default: the model's, ImageNet's for torchvision models).")
    var mean: String?

    @Option(help: "Per-channel standard deviation, comma-separated.")
    var std: String?

    @Option(help: "The colour order the model takes: rgb or bgr (default: the model's, else rgb).")
    var channelOrder: ImagePreprocessing.ChannelOrder?

    @Option(
        help:
            "What pixel values (0-255) are multiplied by before --mean/--std: a number or a fraction a/b (default: 1/255; 1 for caffe-style means in 0-255)."
    )
    var pixelScale: String?

    @Option(
        help:
            "Letterbox: resize keeping the aspect ratio to fit the input (or --resize HxW) and pad; --letterbox or --letterbox=topleft (default: center)."
    )
    var letterbox: ImagePreprocessing.Letterbox?

    @Option(help: "The letterbox padding, a pixel value 0-255 (default: 0).")
    var padValue: Float?

    /// The model's preprocessing with the options given applied over it.
    func resolved(for model: LoadedModel) throws -> ImagePreprocessing {
        var preprocessing = ImagePreprocessing(metadata: model.metadata)
        switch try resizing() {
        case .shorterSide(let side)?: preprocessing.resize = side
        case .exactly(let size)?:
            (preprocessing.resize, preprocessing.exactSize, preprocessing.crop) = (nil, size, nil)
        case nil: break
        }
        if let crop { preprocessing.crop = crop }
        if let interpolation { preprocessing.interpolation = interpolation }
        if let channelOrder { preprocessing.channelOrder = channelOrder }
        if let pixelScale { preprocessing.pixelScale = try Self.scale(pixelScale) }
        if let padValue { preprocessing.padValue = padValue }
        // The padded size: --resize HxW, else the model's input size.
        if let anchor = letterbox ?? preprocessing.letterbox {
            preprocessing.letterbox(anchor, fitting: model.metadata.inputShape)
        }
        if let mean { preprocessing.mean = try numbers(mean, option: "--mean", count: preprocessing.channels) }
        if let std { preprocessing.std = try numbers(std, option: "--std", count: preprocessing.channels) }
        return preprocessing
    }

    /// `--resize N` or `--resize HxW`.
    enum Resizing {
        case shorterSide(Int), exactly(Size2D)
    }

    func resizing() throws -> Resizing? {
        guard let resize else { return nil }
        let parts = resize.split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        switch parts.count {
        case 1: if let side = parts[0], side >= 1 { return .shorterSide(side) }
        case 2: if let height = parts[0], let width = parts[1], height >= 1, width >= 1 { return .exactly(Size2D(height, width)) }
        default: break
        }
        throw ValidationError("--resize is a size N or HxW (height first, ASCII x), each at least 1; got '\(resize)'")
    }

    /// `--pixel-scale`: a positive number or a fraction `a/b`.
    static func scale(_ text: String) throws -> Float {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false).map { Float($0) }
        if parts.count == 1, let value = parts[0], value.isFinite, value > 0 { return value }
        if parts.count == 2, let top = parts[0], let bottom = parts[1], top > 0, bottom > 0, (top / bottom).isFinite {
            return top / bottom
        }
        throw ValidationError("--pixel-scale is a positive number or a fraction a/b (such as 1/255); got '\(text)'")
    }

    func validate() throws {
        _ = try resizing()
        if let pixelScale { _ = try Self.scale(pixelScale) }
        if let padValue, !(0...255).contains(padValue) {
            throw ValidationError("--pad-value is a pixel value from 0 to 255; got \(padValue)")
        }
        if let crop, crop < 1 { throw ValidationError("--crop must be at least 1; got \(crop)") }
        if let mean { _ = try CommaList.numbers(mean, option: "--mean") }
        if let std { _ = try CommaList.numbers(std, option: "--std") }
    }

    private func numbers(_ text: String, option: String, count: Int) throws -> [Float] {
        let values = try CommaList.numbers(text, option: option)
        guard values.count == count else {
            throw ValidationError("\(option) needs \(count) comma-separated numbers, one per channel; got '\(text)'")
        }
        return values
    }
}

/// How much work the iterative methods do: `--samples`, `--steps`, `--window`, `--stride`,
/// shared by explain, report and bench.
struct MethodSizeOptions: ParsableArguments {
    @Option(help: "SmoothGrad samples.")
    var samples = 50

    @Option(help: "Integrated-gradients steps.")
    var steps = 50

    @Option(help: "Occlusion window (pixels).")
    var window = 16

    @Option(help: "Occlusion stride (pixels).")
    var stride = 8

    func validate() throws {
        guard samples >= 1, steps >= 2 else { throw ValidationError("--samples must be at least 1 and --steps at least 2") }
    }

    /// `options` with these settings.
    func apply(to options: inout AttributionMethod.Options) {
        options.samples = samples
        options.steps = steps
        options.window = window
        options.stride = stride
    }
}

/// How CAM methods combine and smooth their maps: `--eigen-smooth` and `--aug-smooth`, shared by
/// explain, report and bench.
struct CAMOptions: ParsableArguments {
    @Flag(help: "CAM methods: project the channels' contributions on their first principal component instead of summing them.")
    var eigenSmooth = false

    @Flag(
        help:
            "CAM methods and full-grad: average the maps of the input mirrored or not, times 0.9, 1 and 1.1 (six passes), each scaled at the input's size."
    )
    var augSmooth = false

    /// `options` with these settings and the CAM layers `layers` (comma-separated, from `option`).
    func apply(to options: inout AttributionMethod.Options, layers: String?, option: String) throws {
        options.eigenSmooth = eigenSmooth
        options.augSmooth = augSmooth
        options.layers = try layers.map { try CommaList.names($0, option: option) } ?? []
    }
}

/// `--cam-layer` and the CAM options, for the commands that run several methods (report, metrics).
struct MethodRunOptions: ParsableArguments {
    @Option(
        help:
            "Layer for CAM methods, or several, comma-separated (default: the architecture's CAM layer, else the last spatial activation)."
    )
    var camLayer: String?

    @OptionGroup var cam: CAMOptions

    func validate() throws {
        if let camLayer { _ = try CommaList.names(camLayer, option: "--cam-layer") }
    }

    /// `options` with the CAM layers and settings.
    func apply(to options: inout AttributionMethod.Options) throws {
        try cam.apply(to: &options, layers: camLayer, option: "--cam-layer")
    }
}

/// The methods a comma-separated `--methods` list names, or every registered one for `all`.
func attributionMethods(_ list: String) throws -> [AttributionMethod] {
    list == "all" ? MethodRegistry.all : try CommaList.names(list, option: "--methods").map(attributionMethod(named:))
}

/// The attribution method called `name` on the command line, or a usage error listing them all.
func attributionMethod(named name: String) throws -> AttributionMethod {
    guard let method = MethodRegistry.method(named: name) else {
        throw ValidationError("unknown method '\(name)'; choose one of \(methodNames)")
    }
    return method
}

/// Every registered method's name, comma-separated, for help and errors.
var methodNames: String { MethodRegistry.all.map(\.name).joined(separator: ", ") }

/// One line per registered method, its name and summary, and the options it reads: the method
/// part of `explain`'s and `report`'s help.
var methodHelp: String {
    MethodRegistry.all.map { method in
        let reads = method.settings.map { "--\($0.rawValue)" }.joined(separator: ", ")
        return "  \(method.name): \(method.summary)" + (reads.isEmpty ? "" : "; reads \(reads)")
    }.joined(separator: "\n")
}

/// Parses an index list such as "0,3,5-9", checking each index against `count` when given.
func parseIndexList(_ text: String, option: String, count: Int? = nil) throws -> [Int] {
    let ranges = try CommaList.entries(text, of: "an index or a range like 5-9", option: option) { part -> ClosedRange<Int>? in
        let bounds = part.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
        guard (1...2).contains(bounds.count), let low = bounds.first ?? nil, let high = bounds.last ?? nil, low >= 0, low <= high
        else { return nil }
        return low...high
    }
    if let count, let outside = ranges.first(where: { $0.upperBound >= count }) {
        throw ValidationError(
            "\(option): \(outside.lowerBound == outside.upperBound ? "\(outside.lowerBound)" : "\(outside)") is outside 0...\(count - 1)"
        )
    }
    return ranges.flatMap { Array($0) }
}

/// `--enlarge`, shared by the commands that draw (explain, activations, filters).
struct EnlargeOptions: ParsableArguments {
    @Option(help: "Enlarge the picture this many times (nearest neighbour), for small inputs: 1...32.")
    var enlarge = 1

    func validate() throws {
        guard (1...32).contains(enlarge) else { throw ValidationError("--enlarge is 1...32; got \(enlarge)") }
    }
}

/// `--columns`, shared by the commands that draw a grid (activations, filters).
struct GridOptions: ParsableArguments {
    @Option(help: "Grid columns.")
    var columns = 8

    func validate() throws {
        guard columns > 0 else { throw ValidationError("--columns must be positive; got \(columns)") }
    }
}

extension ImagePreprocessing.ChannelOrder: ExpressibleByArgument {}
extension ImagePreprocessing.Letterbox: ExpressibleByArgument {}
extension Interpolation: ExpressibleByArgument {}
extension BatchRun.TargetMode: ExpressibleByArgument {}
