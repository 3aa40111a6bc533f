import LoupeTensor

/// One layer of a ``LayerStack``, as stored in a model's metadata JSON.
public struct LayerSpec: Codable, Equatable, Sendable {
    /// `conv2d`, `linear`, `relu`, `maxpool2d`, `avgpool2d`, `adaptiveavgpool2d`, `batchnorm2d`, `dropout`, `flatten`.
    public var type: String
    /// Output channels (conv2d) or features (linear).
    public var outputs: Int?
    public var kernel: Int?
    public var stride: Int?
    public var padding: Int?
    /// Dropout probability.
    public var probability: Float?

    public init(
        _ type: String, outputs: Int? = nil, kernel: Int? = nil, stride: Int? = nil, padding: Int? = nil,
        probability: Float? = nil
    ) {
        self.type = type
        self.outputs = outputs
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        self.probability = probability
    }
}

/// A plain CNN described as data: `features` (convolutional layers), a flatten, and a
/// `classifier`, with the same paths as VGG (`features.0`, `classifier.3`).
///
/// This is how `loupe train` describes small models and replaced heads in its metadata.
public final class LayerStack: Module {
    public let features: Sequential
    public let classifier: Sequential

    /// Builds the layers, inferring each layer's input size from `inputShape` `[C, H, W]`.
    ///
    /// - Throws: ``LayerSpecError`` for an unknown type or a missing size.
    public init(features: [LayerSpec], classifier: [LayerSpec], inputShape: [Int], generator: inout RandomGenerator) throws {
        var shape = inputShape
        self.features = try LayerStack.sequential(features, shape: &shape, generator: &generator)
        shape = [shape.reduce(1, *)]
        self.classifier = try LayerStack.sequential(classifier, shape: &shape, generator: &generator)
        super.init()
        assignPaths()
    }

    public override var children: [(name: String, module: Module)] {
        [("features", features), ("classifier", classifier)]
    }

    public override func forward(_ input: Tensor) -> Tensor {
        classifier(features(input).flattened(from: 1))
    }

    public override var head: Module? { classifier }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        try classifier.outputShape(forInput: Flatten().outputShape(forInput: features.outputShape(forInput: shape)))
    }

    /// Layers built in order from `shape` (without the batch dimension), which ends as the
    /// output shape.
    public static func sequential(_ specs: [LayerSpec], shape: inout [Int], generator: inout RandomGenerator) throws -> Sequential
    {
        Sequential(try specs.map { try build($0, shape: &shape, generator: &generator) })
    }

    /// The small CNN Loupe's bundled Fashion-MNIST model uses, for `[1, 28, 28]` input:
    /// two 3×3 convolutions (32, 64) with ReLU and 2×2 max pooling, then 128 hidden units.
    public static func smallCNN(classes: Int) -> (features: [LayerSpec], classifier: [LayerSpec]) {
        (
            [
                LayerSpec("conv2d", outputs: 32, kernel: 3, padding: 1), LayerSpec("relu"), LayerSpec("maxpool2d", kernel: 2),
                LayerSpec("conv2d", outputs: 64, kernel: 3, padding: 1), LayerSpec("relu"), LayerSpec("maxpool2d", kernel: 2),
            ],
            [
                LayerSpec("dropout", probability: 0.25), LayerSpec("linear", outputs: 128), LayerSpec("relu"),
                LayerSpec("linear", outputs: classes),
            ]
        )
    }

    /// One layer, updating `shape` (without the batch dimension) to its output shape.
    static func build(_ spec: LayerSpec, shape: inout [Int], generator: inout RandomGenerator) throws -> Module {
        func required(_ value: Int?, _ field: String) throws -> Int {
            guard let value, value > 0 else { throw LayerSpecError("layer \(spec.type) needs a positive '\(field)'") }
            return value
        }
        switch spec.type {
        case "conv2d":
            guard shape.count == 3 else { throw LayerSpecError("conv2d needs [C, H, W] input; got \(shape)") }
            let outputs = try required(spec.outputs, "outputs"), kernel = try required(spec.kernel, "kernel")
            let stride = spec.stride ?? 1, padding = spec.padding ?? 0
            let inputChannels = shape[0]
            shape = [outputs, (shape[1] + 2 * padding - kernel) / stride + 1, (shape[2] + 2 * padding - kernel) / stride + 1]
            return Conv2d(
                inputChannels: inputChannels, outputChannels: outputs, kernelSize: Size2D(integerLiteral: kernel),
                stride: Size2D(integerLiteral: stride), padding: Size2D(integerLiteral: padding),
                generator: &generator)
        case "linear":
            let outputs = try required(spec.outputs, "outputs")
            let inputs = shape.reduce(1, *)
            shape = [outputs]
            return Linear(inputFeatures: inputs, outputFeatures: outputs, generator: &generator)
        case "relu": return ReLU()
        case "maxpool2d", "avgpool2d":
            let kernel = try required(spec.kernel, "kernel"), stride = spec.stride ?? kernel
            guard shape.count == 3 else { throw LayerSpecError("\(spec.type) needs [C, H, W] input; got \(shape)") }
            shape = [shape[0], (shape[1] - kernel) / stride + 1, (shape[2] - kernel) / stride + 1]
            return spec.type == "maxpool2d"
                ? MaxPool2d(kernelSize: Size2D(integerLiteral: kernel), stride: Size2D(integerLiteral: stride))
                : AvgPool2d(kernelSize: Size2D(integerLiteral: kernel), stride: Size2D(integerLiteral: stride))
        case "adaptiveavgpool2d":
            let size = try required(spec.outputs, "outputs")
            shape = [shape[0], size, size]
            return AdaptiveAvgPool2d(outputSize: Size2D(integerLiteral: size))
        case "batchnorm2d": return BatchNorm2d(channels: shape[0])
        case "dropout": return Dropout(probability: spec.probability ?? 0.5)
        case "flatten":
            shape = [shape.reduce(1, *)]
            return Flatten()
        default:
            throw LayerSpecError("unknown layer type '\(spec.type)'")
        }
    }
}

/// A layer description that cannot be built.
public struct LayerSpecError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
