import Foundation
import LoupeNN
import LoupeTensor

/// What Loupe keeps beside a weights file (`model.safetensors` → `model.json`): how to build
/// the model and how to feed it.
public struct ModelMetadata: Codable, Equatable, Sendable {
    /// A torchvision architecture name, or `nil` for a ``LayerStack`` described by `features`
    /// and `classifier`.
    public var architecture: String?
    public var features: [LayerSpec]?
    public var classifier: [LayerSpec]?
    /// A replaced head on a torchvision `architecture` (transfer learning).
    public var head: [LayerSpec]?
    /// Class names, index by index.
    public var classes: [String]?
    /// The model input without its batch dimension, `[C, H, W]`.
    public var inputShape: [Int]
    /// Per-channel normalization applied to images in `[0, 1]` (or in the units of
    /// `pixelScale`): `(x − mean) / std`.
    public var mean: [Float]
    public var std: [Float]
    /// How photos become inputs for models that are not torchvision's (see
    /// ``ImagePreprocessing``): each absent by default.
    public var channelOrder: ImagePreprocessing.ChannelOrder?
    public var pixelScale: Float?
    public var resize: Resize?
    public var letterbox: ImagePreprocessing.Letterbox?
    public var padValue: Float?
    /// The resize filter (`bilinear` or `bicubic`), torchvision's `interpolation`.
    public var interpolation: Interpolation?

    /// A metadata `resize`: a number (the shorter side) or `[height, width]` (exactly).
    public enum Resize: Codable, Equatable, Sendable {
        case shorterSide(Int), exactly(Int, Int)

        public init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let side = try? container.decode(Int.self), side >= 1 {
                self = .shorterSide(side)
            } else if let sizes = try? container.decode([Int].self), sizes.count == 2, sizes.allSatisfy({ $0 >= 1 && $0 <= 8192 })
            {
                self = .exactly(sizes[0], sizes[1])
            } else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "resize is a size N or [height, width], each at least 1")
            }
        }

        public func encode(to encoder: Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .shorterSide(let side): try container.encode(side)
            case .exactly(let height, let width): try container.encode([height, width])
            }
        }
    }

    public init(
        architecture: String? = nil, features: [LayerSpec]? = nil, classifier: [LayerSpec]? = nil,
        head: [LayerSpec]? = nil, classes: [String]? = nil, inputShape: [Int], mean: [Float], std: [Float]
    ) {
        self.architecture = architecture
        self.features = features
        self.classifier = classifier
        self.head = head
        self.classes = classes
        self.inputShape = inputShape
        self.mean = mean
        self.std = std
    }

    /// ImageNet's preprocessing for a torchvision architecture, as its `DEFAULT` weights declare
    /// it (``LoupeNN/ModelZoo/preprocessing(_:)``).
    public static func imageNet(architecture: String) -> ModelMetadata {
        let preprocessing = ModelZoo.preprocessing(architecture)
        var metadata = ModelMetadata(
            architecture: architecture, inputShape: [3, preprocessing.crop, preprocessing.crop],
            mean: preprocessing.mean, std: preprocessing.std)
        metadata.resize = .shorterSide(preprocessing.resize)
        if preprocessing.bicubic { metadata.interpolation = .bicubic }
        return metadata
    }

    /// The metadata file that belongs to a weights file.
    public static func path(besideWeights weights: String) -> String {
        URL(fileURLWithPath: weights).deletingPathExtension().appendingPathExtension("json").path
    }

    /// Images `[N, C, H, W]` in `[0, 1]` normalized as the model expects: `(x − mean) / std`.
    public func normalized(_ images: Tensor) -> Tensor {
        images.normalized(mean: mean, std: std)
    }

    /// Model inputs `[N, C, H, W]` back to pixel values: `x · std + mean`.
    public func denormalized(_ inputs: Tensor) -> Tensor {
        inputs.denormalized(mean: mean, std: std)
    }

    /// The smallest and largest input value a pixel in `[0, 1]` becomes after normalization,
    /// over all channels: the range an optimized input is kept in.
    public var normalizedPixelRange: ClosedRange<Float> {
        let black = normalized(Tensor.zeros([1, inputShape[0], 1, 1])), white = normalized(Tensor.ones([1, inputShape[0], 1, 1]))
        return Swift.min(black.min().scalar, white.min().scalar)...Swift.max(black.max().scalar, white.max().scalar)
    }

    /// The untrained module this metadata describes.
    public func makeModule(seed: UInt64 = 0) throws -> Module {
        var generator = RandomGenerator(seed: seed)
        guard let architecture else {
            return try LayerStack(
                features: features ?? [], classifier: classifier ?? [], inputShape: inputShape,
                generator: &generator)
        }
        let module = try ModelZoo.make(architecture, seed: seed)
        if let head {
            guard let replaceable = module as? ReplaceableHead else {
                throw LoupeIOError("\(architecture) has no replaceable head")
            }
            try replaceable.replaceHead(head, generator: &generator)
        }
        return module
    }

    public func write(to path: String) throws {
        try writeJSON(self, to: path)
    }

    public static func read(_ path: String) throws -> ModelMetadata {
        let metadata = try readJSON(ModelMetadata.self, from: path, what: "Loupe model metadata")
        if let scale = metadata.pixelScale, !(scale.isFinite && scale > 0) {
            throw LoupeIOError("\(path): pixelScale must be a positive number; got \(scale)")
        }
        if let pad = metadata.padValue, !(0...255).contains(pad) {
            throw LoupeIOError("\(path): padValue is a pixel value from 0 to 255; got \(pad)")
        }
        return metadata
    }
}

/// A model ready to run: the module, how to feed it, and its class names.
public struct LoadedModel {
    public let module: Module
    public let metadata: ModelMetadata
    /// One name per output class ("class 7" when none are known).
    public let classNames: [String]
    /// Whether the input's height and width are known without an input: `false` for an ONNX
    /// graph whose sizes are symbolic and which has no metadata declaring them, so a photo needs
    /// an exact `--resize HxW`.
    public internal(set) var inputSizeIsKnown = true

    /// Loads weights and builds the model they belong to.
    ///
    /// - Parameters:
    ///   - path: a `.safetensors`, `.pth` or `.pt` file, or an `.onnx` graph.
    ///   - architecture: a torchvision name; may be `nil` when metadata sits beside the weights.
    ///   - output: an ONNX graph's output to classify (see ``ONNXModule``).
    ///   - explainProbabilities: keep the softmax an ONNX graph's output comes out of.
    public static func load(
        _ path: String, architecture: String?, output: String? = nil, explainProbabilities: Bool = false
    ) throws -> LoadedModel {
        if path.lowercased().hasSuffix(".onnx") {
            return try loadONNX(path, output: output, explainProbabilities: explainProbabilities)
        }
        if let output {
            throw LoupeIOError("--output \(output) picks an ONNX graph's output; '\(path)' is not an .onnx file")
        }
        let metadataPath = ModelMetadata.path(besideWeights: path)
        var metadata: ModelMetadata
        if let architecture {
            metadata = .imageNet(architecture: architecture)
        } else if FileManager.default.fileExists(atPath: metadataPath) {
            metadata = try ModelMetadata.read(metadataPath)
        } else {
            throw LoupeIOError(
                "'\(path)' needs --arch (one of \(ModelZoo.architectures.joined(separator: ", "))), or a metadata file \(metadataPath) beside it"
            )
        }
        let module: Module
        if let architecture {
            module = try ModelFile.load(path, architecture: architecture)
        } else {
            do {
                module = try metadata.makeModule()
            } catch let error as LoupeIOError {
                throw error
            } catch {
                throw LoupeIOError("\(metadataPath): \(error)")
            }
            try module.load(try ModelFile.readStateDict(path))
        }
        return LoadedModel(module: module, metadata: metadata, classNames: try classNames(metadata, module: module))
    }

    /// An ONNX classifier: its graph, and metadata from a `.json` beside it (class names,
    /// normalization) or, without one, from the graph: the input's size and ImageNet's
    /// normalization for three channels (none for one).
    private static func loadONNX(_ path: String, output: String?, explainProbabilities: Bool) throws -> LoadedModel {
        let metadataPath = ModelMetadata.path(besideWeights: path)
        let declared = FileManager.default.fileExists(atPath: metadataPath) ? try ModelMetadata.read(metadataPath) : nil
        // A graph whose height and width are symbolic loads at the size its metadata declares.
        let declaredSize = declared.flatMap { $0.inputShape.count == 3 ? Size2D($0.inputShape[1], $0.inputShape[2]) : nil }
        let module = try ONNXModule(
            try ONNXGraph.load(path), name: path, spatialSize: declaredSize, output: output,
            explainProbabilities: explainProbabilities)
        var metadata: ModelMetadata
        if let declared {
            metadata = declared
        } else if module.inputShape[0] == 3 {
            metadata = .imageNet(architecture: "onnx")
        } else {
            metadata = ModelMetadata(inputShape: module.inputShape, mean: [0], std: [1])
        }
        metadata.inputShape = module.inputShape
        metadata.architecture = "onnx"
        let outputs = module.outputShape.last ?? 0
        let classes = try metadata.classes ?? (outputs == 1000 ? imageNetClassNames() : (0..<outputs).map { "class \($0)" })
        var loaded = LoadedModel(module: module, metadata: metadata, classNames: classes)
        loaded.inputSizeIsKnown = !module.hasSymbolicSize || declaredSize != nil
        return loaded
    }

    /// The model's input layout, for `--input` files and `--raw` pixel attributions: NCHW
    /// unless an ONNX model takes NHWC.
    public var onnxModule: ONNXModule? { module as? ONNXModule }

    /// A freshly initialized torchvision architecture (for summaries).
    public static func untrained(_ architecture: String) throws -> LoadedModel {
        let metadata = ModelMetadata.imageNet(architecture: architecture)
        let module = try ModelZoo.make(architecture)
        return LoadedModel(module: module, metadata: metadata, classNames: try classNames(metadata, module: module))
    }

    private static func classNames(_ metadata: ModelMetadata, module: Module) throws -> [String] {
        if let classes = metadata.classes { return classes }
        // A torchvision architecture's head; a layer stack without class names keeps none.
        let key = metadata.architecture == nil ? nil : module.classifierWeightKey
        let outputs = key.flatMap { module.stateDict()[$0]?.shape.first }
        if outputs == 1000 { return try imageNetClassNames() }
        return (0..<(outputs ?? 0)).map { "class \($0)" }
    }

    /// The 1000 ImageNet class names in torchvision's order.
    public static func imageNetClassNames() throws -> [String] {
        guard let url = Bundle.module.url(forResource: "imagenet_classes", withExtension: "txt"),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else {
            throw LoupeIOError("the ImageNet class list is missing from Loupe's resources; reinstall Loupe")
        }
        return text.split(separator: "\n").map(String.init)
    }

    /// The name of class `index`: the model's, or `class <index>` where it names none.
    public func className(_ index: Int) -> String { LoupeIO.className(index, in: classNames) }

    /// Class probabilities `[N, K]` from the scores the module computes: their softmax, or for an
    /// ONNX graph that ends in Softmax or LogSoftmax, the probabilities as the graph gives them
    /// (never a second softmax; `exp` of a LogSoftmax).
    public func probabilities(fromScores scores: Tensor) -> Tensor {
        guard let onnx = onnxModule, let head = onnx.probabilityHead else { return scores.softmax(along: 1) }
        if !onnx.returnsProbabilities { return scores.softmax(along: 1) }
        return head == .softmax ? scores : scores.exp()
    }

    /// Reads a model input: an image (decoded, resized, cropped, normalized) or a `.npy` array
    /// that is the input itself (with or without its batch dimension).
    public func input(image: String?, array: String?, preprocessing: ImagePreprocessing? = nil) throws -> Tensor {
        if let array {
            var tensor = try NPY.read(array)
            if tensor.rank == metadata.inputShape.count { tensor = tensor.unsqueezed(at: 0) }
            // `--input` is the model's own input: a channels-last model's array is [1, H, W, C].
            if let onnx = onnxModule, onnx.layout == .nhwc, tensor.rank == 4 { tensor = onnx.fromModelLayout(tensor) }
            // Spatial sizes may differ from the metadata's: the architectures pool adaptively.
            guard tensor.rank == 4, tensor.shape[0] == 1, tensor.shape[1] == metadata.inputShape[0] else {
                throw LoupeIOError(
                    "\(array) has shape \(tensor.shape); the model takes [1, \(metadata.inputShape.map(String.init).joined(separator: ", "))]"
                )
            }
            guard tensor.scalars.allSatisfy({ $0.isFinite }) else {
                throw LoupeIOError("\(array) contains NaN or infinite values")
            }
            return try accepted(tensor, from: array)
        }
        guard let image else { throw LoupeIOError("give an input: --image IMG or --input X.npy") }
        return try photoInput(image, preprocessing: preprocessing).input
    }

    /// A photo made the model's input (decoded, resized and cropped or letterboxed, normalized),
    /// with the picture it was made from: the photo as the model sees it, in `[0, 1]`
    /// (``ImagePreprocessing/picture(of:)``), which overlays are drawn on. The file is decoded once.
    public func photoInput(_ image: String, preprocessing: ImagePreprocessing? = nil) throws -> (input: Tensor, picture: Tensor) {
        try checkSizeIsKnown(preprocessing ?? ImagePreprocessing(metadata: metadata))
        return try photoInput(decoded: Image.read(image), named: image, preprocessing: preprocessing)
    }

    /// A decoded photo made the model's input, with its picture, as ``photoInput(_:preprocessing:)``;
    /// `name` says which photo in errors.
    public func photoInput(
        decoded: Image, named image: String, preprocessing: ImagePreprocessing? = nil
    ) throws -> (
        input: Tensor, picture: Tensor
    ) {
        let preparation = preprocessing ?? ImagePreprocessing(metadata: metadata)
        try checkSizeIsKnown(preparation)
        let size = preparation.resizedSize(height: decoded.height, width: decoded.width)
        // A resize below 1 gives a size below 1; a crop below 1 would slice backwards.
        guard preparation.crop.map({ $0 >= 1 }) ?? true, size.height >= 1, size.width >= 1,
            size.height <= Self.maximumInputPixels, size.width <= Self.maximumInputPixels,
            size.height * size.width <= Self.maximumInputPixels
        else {
            throw LoupeIOError(
                "\(image): resizing to \(preparation.exactSize.map { "\($0.height)x\($0.width)" } ?? preparation.resize.map(String.init) ?? "-") and cropping to \(preparation.crop.map(String.init) ?? "-") gives \(size.height)×\(size.width) pixels; choose sizes from 1 to a total of \(Self.maximumInputPixels) pixels"
            )
        }
        let picture = preparation.picture(of: decoded)
        return (try accepted(preparation.modelInput(fromPicture: picture), from: image), picture)
    }

    private func checkSizeIsKnown(_ preparation: ImagePreprocessing) throws {
        guard inputSizeIsKnown || preparation.exactSize != nil else {
            throw LoupeIOError(
                "the model's input height and width are symbolic; give the size: --input X.npy, --resize HxW, or a metadata .json beside the model with inputShape"
            )
        }
    }

    /// The most pixels a preprocessed photo may have: 8192 × 8192, far above any classifier's input,
    /// so that a resize option cannot make Loupe allocate without bound.
    public static let maximumInputPixels = 8192 * 8192

    /// `input` once the model is known to take its shape (``LoupeNN/Module/outputShape(forInput:)``):
    /// a spatial size too small for the network's downsampling, or one a fixed-size layer
    /// refuses, is an error naming the file, not a stop inside the model.
    private func accepted(_ input: Tensor, from file: String) throws -> Tensor {
        do {
            _ = try module.outputShape(forInput: input.shape)
        } catch {
            throw LoupeIOError("\(file): the model cannot take an input of shape \(input.shape): \(error)")
        }
        return input
    }
}

/// The name of class `index` in `names`, or `class <index>` past the end of the list.
public func className(_ index: Int, in names: [String]) -> String {
    index >= 0 && index < names.count ? names[index] : "class \(index)"
}
