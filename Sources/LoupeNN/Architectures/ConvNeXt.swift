import LoupeTensor

/// `nn.LayerNorm` over the last axis (ConvNeXt's blocks, channels last there), or, as
/// torchvision's `LayerNorm2d`, over the channels of `[N, C, H, W]` (its stem, downsampling
/// and head): `weight`, `bias`, ε = 1e-6.
public final class LayerNorm: Module {
    public let weight: Parameter, bias: Parameter
    public let epsilon: Float
    /// Whether it normalizes axis 1 of `[N, C, H, W]` (`LayerNorm2d`) rather than the last axis.
    public let overChannels: Bool

    init(_ features: Int, overChannels: Bool, epsilon: Float = 1e-6) {
        weight = Parameter(Tensor.ones([features]))
        bias = Parameter(Tensor.zeros([features]))
        self.epsilon = epsilon
        self.overChannels = overChannels
    }

    public override var localParameters: [(name: String, parameter: Parameter)] { [("weight", weight), ("bias", bias)] }

    public override func forward(_ input: Tensor) -> Tensor {
        guard overChannels else {
            return input.layerNormalized(alongAxes: [input.rank - 1], scale: weight.value, bias: bias.value, epsilon: epsilon)
        }
        let shape = [1, weight.shape[0]] + Array(repeating: 1, count: input.rank - 2)
        return input.layerNormalized(
            alongAxes: [1], scale: weight.value.reshaped(shape), bias: bias.value.reshaped(shape), epsilon: epsilon)
    }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        if overChannels {
            try ShapeRules.channels(weight.shape[0], input: shape, layer: "LayerNorm2d")
        } else {
            guard shape.last == weight.shape[0] else {
                throw ShapeError("LayerNorm takes [..., \(weight.shape[0])]; got \(shape)")
            }
        }
        return shape
    }

    public override var spatialFootprint: SpatialFootprint? { overChannels ? .pointwise : nil }
}

/// torchvision's `Permute`: the axes in the order given.
public final class Permute: Module {
    public let order: [Int]

    init(_ order: [Int]) { self.order = order }

    public override func forward(_ input: Tensor) -> Tensor { input.permuted(order) }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == order.count else { throw ShapeError("permuting \(order) needs \(order.count) axes; got \(shape)") }
        return order.map { shape[$0] }
    }
}

/// `nn.GELU` (the exact, erf form).
public final class GELU: Module {
    public override func forward(_ input: Tensor) -> Tensor { input.gelu() }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] { shape }
}

/// ConvNeXt's block (torchvision's `CNBlock`): a depthwise 7×7 convolution, then channels last a
/// layer norm, a linear layer to four times the channels, GELU and a linear layer back, all in `block`; scaled per
/// channel by `layer_scale`, through `stochastic_depth`, and added to the input.
public final class ConvNeXtBlock: Module {
    public let block: Sequential
    public let layerScale: Parameter
    public let stochasticDepth: StochasticDepth

    init(channels: Int, dropProbability: Float, generator: inout RandomGenerator) {
        block = Sequential([
            Conv2d(
                inputChannels: channels, outputChannels: channels, kernelSize: 7, padding: 3, groups: channels,
                generator: &generator),
            Permute([0, 2, 3, 1]), LayerNorm(channels, overChannels: false),
            Linear(inputFeatures: channels, outputFeatures: 4 * channels, generator: &generator), GELU(),
            Linear(inputFeatures: 4 * channels, outputFeatures: channels, generator: &generator), Permute([0, 3, 1, 2]),
        ])
        layerScale = Parameter(Tensor.full([channels, 1, 1], value: 1e-6))
        stochasticDepth = StochasticDepth(probability: dropProbability)
        super.init()
    }

    public override var children: [(name: String, module: Module)] {
        [("block", block), ("stochastic_depth", stochasticDepth)]
    }

    public override var localParameters: [(name: String, parameter: Parameter)] { [("layer_scale", layerScale)] }

    public override func forward(_ input: Tensor) -> Tensor { stochasticDepth(layerScale.value * block(input)) + input }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        try residualOutputShape(shape, branch: [block])
    }
}

/// ConvNeXt (Liu et al., 2022) with torchvision's structure and names: `features` (a 4×4 stride-4
/// stem with a channels' layer norm, four stages of blocks with a layer norm and a 2×2 stride-2
/// convolution between them), global average pooling, and `classifier` (a channels' layer norm,
/// Flatten, Linear). A replaced head keeps the layer norm and the flatten.
public final class ConvNeXt: Module, ReplaceableHead {
    public let features: Sequential
    public private(set) var classifier: Module
    public let headInputFeatures: Int
    let avgpool = AdaptiveAvgPool2d(outputSize: 1)
    public override var head: Module? { classifier }
    public func replaceHead(with head: Module) {
        classifier = Sequential([LayerNorm(headInputFeatures, overChannels: true), Flatten(), head])
        assignPaths(path)
    }

    /// Each size's stage widths and depths, and the largest stochastic-depth probability.
    static let sizes: [String: (widths: [Int], depths: [Int], drop: Float)] = [
        "tiny": ([96, 192, 384, 768], [3, 3, 9, 3], 0.1), "small": ([96, 192, 384, 768], [3, 3, 27, 3], 0.4),
        "base": ([128, 256, 512, 1024], [3, 3, 27, 3], 0.5), "large": ([192, 384, 768, 1536], [3, 3, 27, 3], 0.5),
    ]

    /// - Parameter size: `"tiny"`, `"small"`, `"base"` or `"large"`.
    init?(size: String, classes: Int = 1000, generator: inout RandomGenerator) {
        guard let (widths, depths, drop) = ConvNeXt.sizes[size] else { return nil }
        var layers: [Module] = [
            Sequential([
                Conv2d(inputChannels: 3, outputChannels: widths[0], kernelSize: 4, stride: 4, generator: &generator),
                LayerNorm(widths[0], overChannels: true),
            ])
        ]
        let total = depths.reduce(0, +)
        var index = 0
        for (stage, (width, depth)) in zip(widths, depths).enumerated() {
            layers.append(
                Sequential(
                    (0..<depth).map { _ in
                        defer { index += 1 }
                        return ConvNeXtBlock(
                            channels: width, dropProbability: drop * Float(index) / Float(total - 1), generator: &generator)
                    }))
            if stage < widths.count - 1 {
                layers.append(
                    Sequential([
                        LayerNorm(width, overChannels: true),
                        Conv2d(
                            inputChannels: width, outputChannels: widths[stage + 1], kernelSize: 2, stride: 2,
                            generator: &generator),
                    ]))
            }
        }
        features = Sequential(layers)
        headInputFeatures = widths.last!
        classifier = Sequential([
            LayerNorm(widths.last!, overChannels: true), Flatten(),
            Linear(inputFeatures: widths.last!, outputFeatures: classes, generator: &generator),
        ])
        super.init()
    }

    public override var children: [(name: String, module: Module)] {
        [("features", features), ("avgpool", avgpool), ("classifier", classifier)]
    }

    public override var stages: [Module]? { [features, avgpool, classifier] }

    /// The last stage's output (`model.features[-1]`).
    public override var camLayer: String? { "features.7" }

    public override func forward(_ input: Tensor) -> Tensor { classifier(avgpool(features(input))) }
}
