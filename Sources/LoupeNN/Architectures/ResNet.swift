import LoupeTensor

/// ResNet's two-convolution block (ResNet-18/34): `conv1, bn1, relu, conv2, bn2`, an optional
/// `downsample` (1×1 conv + batch norm), and `relu(out + identity)`.
public final class BasicBlock: Module {
    static let expansion = 1
    public let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d
    public let downsample: Sequential?
    let relu = ReLU()

    init(inputChannels: Int, channels: Int, stride: Int, downsample: Sequential?, generator: inout RandomGenerator) {
        conv1 = Conv2d(
            inputChannels: inputChannels, outputChannels: channels, kernelSize: 3, stride: Size2D(integerLiteral: stride),
            padding: 1, bias: false, generator: &generator)
        bn1 = BatchNorm2d(channels: channels)
        conv2 = Conv2d(
            inputChannels: channels, outputChannels: channels, kernelSize: 3, padding: 1, bias: false,
            generator: &generator)
        bn2 = BatchNorm2d(channels: channels)
        self.downsample = downsample
        super.init()
    }

    public override var children: [(name: String, module: Module)] {
        [("conv1", conv1), ("bn1", bn1), ("relu", relu), ("conv2", conv2), ("bn2", bn2)]
            + (downsample.map { [("downsample", $0)] } ?? [])
    }

    /// `relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))`, each convolution fused with what
    /// follows it (``Conv2d/fused(_:norm:adding:activation:)``).
    public override func forward(_ input: Tensor) -> Tensor {
        let out = conv1.fused(input, norm: bn1, activation: relu)
        return conv2.fused(out, norm: bn2, adding: downsample?(input) ?? input, activation: relu)
    }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        try residualOutputShape(shape, branch: [conv1, bn1, conv2, bn2], shortcut: downsample)
    }

    /// The main path's; the shortcut (identity or a strided 1×1) reads inside it.
    public override var spatialFootprint: SpatialFootprint? {
        guard downsample?.spatialFootprint != nil || downsample == nil else { return nil }
        return .chain([conv1, bn1, conv2, bn2])
    }
}

/// ResNet's bottleneck block (ResNet-50/101/152, torchvision's v1.5: stride on the 3×3 conv), with
/// ResNeXt's grouped 3×3 convolution and Wide ResNet's wider inner width: `groups` groups of
/// `baseWidth · channels / 64` channels each.
public final class Bottleneck: Module {
    static let expansion = 4
    public let conv1: Conv2d, bn1: BatchNorm2d, conv2: Conv2d, bn2: BatchNorm2d, conv3: Conv2d, bn3: BatchNorm2d
    public let downsample: Sequential?
    let relu = ReLU()

    init(
        inputChannels: Int, channels: Int, stride: Int, downsample: Sequential?, groups: Int = 1, baseWidth: Int = 64,
        generator: inout RandomGenerator
    ) {
        let width = channels * baseWidth / 64 * groups
        conv1 = Conv2d(inputChannels: inputChannels, outputChannels: width, kernelSize: 1, bias: false, generator: &generator)
        bn1 = BatchNorm2d(channels: width)
        conv2 = Conv2d(
            inputChannels: width, outputChannels: width, kernelSize: 3, stride: Size2D(integerLiteral: stride),
            padding: 1, groups: groups, bias: false, generator: &generator)
        bn2 = BatchNorm2d(channels: width)
        conv3 = Conv2d(inputChannels: width, outputChannels: channels * 4, kernelSize: 1, bias: false, generator: &generator)
        bn3 = BatchNorm2d(channels: channels * 4)
        self.downsample = downsample
        super.init()
    }

    public override var children: [(name: String, module: Module)] {
        [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2), ("conv3", conv3), ("bn3", bn3), ("relu", relu)]
            + (downsample.map { [("downsample", $0)] } ?? [])
    }

    /// `relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x))`, each convolution
    /// fused with what follows it (``Conv2d/fused(_:norm:adding:activation:)``).
    public override func forward(_ input: Tensor) -> Tensor {
        let out = conv2.fused(conv1.fused(input, norm: bn1, activation: relu), norm: bn2, activation: relu)
        return conv3.fused(out, norm: bn3, adding: downsample?(input) ?? input, activation: relu)
    }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        try residualOutputShape(shape, branch: [conv1, bn1, conv2, bn2, conv3, bn3], shortcut: downsample)
    }

    /// The main path's; the shortcut (identity or a strided 1×1) reads inside it.
    public override var spatialFootprint: SpatialFootprint? {
        guard downsample?.spatialFootprint != nil || downsample == nil else { return nil }
        return .chain([conv1, bn1, conv2, bn2, conv3, bn3])
    }
}

/// ResNet (He et al., 2016) with torchvision's structure and names: `conv1, bn1, relu, maxpool,
/// layer1 … layer4, avgpool, fc`; with grouped or wider bottlenecks, ResNeXt (Xie et al., 2017) and
/// Wide ResNet (Zagoruyko & Komodakis, 2016).
public final class ResNet: Module, ReplaceableHead {
    public let conv1: Conv2d, bn1: BatchNorm2d
    let relu = ReLU()
    let maxpool = MaxPool2d(kernelSize: 3, stride: 2, padding: 1)
    public let layers: [Sequential]
    let avgpool = AdaptiveAvgPool2d(outputSize: 1)
    public var fc: Module
    public let headInputFeatures: Int
    public func replaceHead(with head: Module) { fc = head; assignPaths(path) }
    public override var head: Module? { fc }

    static let blockCounts: [Int: [Int]] = [
        18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3],
    ]

    /// - Parameters:
    ///   - depth: 18, 34, 50, 101 or 152.
    ///   - groups, widthPerGroup: the bottleneck's 3×3 convolution in `groups` groups of
    ///     `widthPerGroup · channels / 64` channels (torchvision's `groups` and `width_per_group`):
    ///     32 × 4 for resnext50_32x4d, 1 × 128 for wide_resnet50_2; 1 × 64 is ResNet's.
    public init(depth: Int, groups: Int = 1, widthPerGroup: Int = 64, classes: Int = 1000, generator: inout RandomGenerator) {
        let counts = ResNet.blockCounts[depth]!
        let bottleneck = depth >= 50
        let expansion = bottleneck ? Bottleneck.expansion : BasicBlock.expansion
        conv1 = Conv2d(
            inputChannels: 3, outputChannels: 64, kernelSize: 7, stride: 2, padding: 3, bias: false,
            generator: &generator)
        bn1 = BatchNorm2d(channels: 64)
        var inputChannels = 64
        var stages: [Sequential] = []
        for (stage, count) in counts.enumerated() {
            let channels = 64 << stage
            var blocks: [Module] = []
            for index in 0..<count {
                let stride = stage > 0 && index == 0 ? 2 : 1
                var downsample: Sequential?
                if stride != 1 || inputChannels != channels * expansion {
                    downsample = Sequential([
                        Conv2d(
                            inputChannels: inputChannels, outputChannels: channels * expansion, kernelSize: 1,
                            stride: Size2D(integerLiteral: stride), bias: false, generator: &generator),
                        BatchNorm2d(channels: channels * expansion),
                    ])
                }
                blocks.append(
                    bottleneck
                        ? Bottleneck(
                            inputChannels: inputChannels, channels: channels, stride: stride, downsample: downsample,
                            groups: groups, baseWidth: widthPerGroup, generator: &generator)
                        : BasicBlock(
                            inputChannels: inputChannels, channels: channels, stride: stride, downsample: downsample,
                            generator: &generator))
                inputChannels = channels * expansion
            }
            stages.append(Sequential(blocks))
        }
        layers = stages
        headInputFeatures = 512 * expansion
        fc = Linear(inputFeatures: 512 * expansion, outputFeatures: classes, generator: &generator)
        super.init()
    }

    public override var children: [(name: String, module: Module)] {
        [("conv1", conv1), ("bn1", bn1), ("relu", relu), ("maxpool", maxpool)]
            + layers.enumerated().map { ("layer\($0.offset + 1)", $0.element as Module) }
            + [("avgpool", avgpool), ("fc", fc)]
    }

    public override var stages: [Module]? {
        [conv1, bn1, relu, maxpool] + layers + [avgpool, Flatten(), fc]
    }

    public override var camLayer: String? { "layer4" }

    public override func forward(_ input: Tensor) -> Tensor {
        let stem = maxpool(conv1.fused(input, norm: bn1, activation: relu))
        let body = layers.reduce(stem) { $1($0) }
        return fc(avgpool(body).flattened(from: 1))
    }
}
