import LoupeTensor

/// DenseNet's layer (torchvision's `_DenseLayer`): batch norm, ReLU, a 1×1 convolution to
/// `4 · growth` channels, batch norm, ReLU, a 3×3 convolution to `growth` new channels, on the
/// concatenation of every earlier output of its block.
public final class DenseLayer: Module {
    public let norm1: BatchNorm2d, conv1: Conv2d, norm2: BatchNorm2d, conv2: Conv2d
    let relu1 = ReLU(), relu2 = ReLU()

    init(input: Int, growth: Int, generator: inout RandomGenerator) {
        norm1 = BatchNorm2d(channels: input)
        conv1 = Conv2d(inputChannels: input, outputChannels: 4 * growth, kernelSize: 1, bias: false, generator: &generator)
        norm2 = BatchNorm2d(channels: 4 * growth)
        conv2 = Conv2d(
            inputChannels: 4 * growth, outputChannels: growth, kernelSize: 3, padding: 1, bias: false, generator: &generator)
        super.init()
    }

    public override var children: [(name: String, module: Module)] {
        [("norm1", norm1), ("relu1", relu1), ("conv1", conv1), ("norm2", norm2), ("relu2", relu2), ("conv2", conv2)]
    }

    public override func forward(_ input: Tensor) -> Tensor { conv2(relu2(norm2(conv1(relu1(norm1(input)))))) }

    public override var stages: [Module]? { [norm1, relu1, conv1, norm2, relu2, conv2] }
}

/// DenseNet's block (torchvision's `_DenseBlock`): each layer reads the block's input and every
/// earlier layer's output, concatenated; the block gives them all.
public final class DenseBlock: Module {
    public let layers: [DenseLayer]

    init(layers count: Int, input: Int, growth: Int, generator: inout RandomGenerator) {
        layers = (0..<count).map { DenseLayer(input: input + $0 * growth, growth: growth, generator: &generator) }
        super.init()
    }

    public override var children: [(name: String, module: Module)] {
        layers.enumerated().map { ("denselayer\($0.offset + 1)", $0.element) }
    }

    public override func forward(_ input: Tensor) -> Tensor {
        var features = [input]
        for layer in layers { features.append(layer(Tensor.concatenate(features, along: 1))) }
        return Tensor.concatenate(features, along: 1)
    }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        var shape = shape
        for layer in layers {
            let added = try layer.outputShape(forInput: shape)
            shape[1] += added[1]
        }
        return shape
    }
}

/// DenseNet-BC (Huang et al., 2017) with torchvision's structure and names: `features` (`conv0`,
/// `norm0`, `relu0`, `pool0`, `denseblock1`, `transition1` … `denseblock4`, `norm5`), then a
/// functional ReLU, global average pooling and a replaceable `classifier` (Linear).
public final class DenseNet: PooledClassifierNetwork<NamedSequential> {

    /// Growth rate, layers per block and the stem's channels, by depth.
    static let configurations: [Int: (growth: Int, blocks: [Int], stem: Int)] = [
        121: (32, [6, 12, 24, 16], 64), 161: (48, [6, 12, 36, 24], 96), 169: (32, [6, 12, 32, 32], 64),
        201: (32, [6, 12, 48, 32], 64),
    ]

    /// - Parameter depth: 121, 161, 169 or 201.
    init?(depth: Int, classes: Int = 1000, generator: inout RandomGenerator) {
        guard let (growth, blocks, stem) = DenseNet.configurations[depth] else { return nil }
        var layers: [(name: String, module: Module)] = [
            (
                "conv0",
                Conv2d(
                    inputChannels: 3, outputChannels: stem, kernelSize: 7, stride: 2, padding: 3, bias: false,
                    generator: &generator)
            ),
            ("norm0", BatchNorm2d(channels: stem)), ("relu0", ReLU()),
            ("pool0", MaxPool2d(kernelSize: 3, stride: 2, padding: 1)),
        ]
        var channels = stem
        for (index, count) in blocks.enumerated() {
            layers.append(
                ("denseblock\(index + 1)", DenseBlock(layers: count, input: channels, growth: growth, generator: &generator)))
            channels += count * growth
            if index < blocks.count - 1 {
                layers.append(
                    (
                        "transition\(index + 1)",
                        NamedSequential([
                            ("norm", BatchNorm2d(channels: channels)), ("relu", ReLU()),
                            (
                                "conv",
                                Conv2d(
                                    inputChannels: channels, outputChannels: channels / 2, kernelSize: 1, bias: false,
                                    generator: &generator)
                            ),
                            ("pool", AvgPool2d(kernelSize: 2, stride: 2)),
                        ])
                    ))
                channels /= 2
            }
        }
        layers.append(("norm5", BatchNorm2d(channels: channels)))
        super.init(
            features: NamedSequential(layers),
            classifier: Linear(inputFeatures: channels, outputFeatures: classes, generator: &generator),
            headInputFeatures: channels, rectifiesFeatures: true)
    }

    /// The features' last batch norm, before the functional ReLU (`model.features[-1]`, as
    /// pytorch-grad-cam's users choose).
    public override var camLayer: String? { "features" }
}
