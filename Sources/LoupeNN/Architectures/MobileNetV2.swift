import LoupeTensor

/// torchvision's `Conv2dNormActivation` with ReLU6, MobileNetV2's.
func convolutionNormReLU6(
    _ inputChannels: Int, _ outputChannels: Int, kernel: Int = 3, stride: Int = 1, groups: Int = 1,
    generator: inout RandomGenerator
) -> Sequential {
    convolutionNormActivation(
        inputChannels, outputChannels, kernel: kernel, stride: stride, groups: groups, activation: ReLU6(),
        generator: &generator)
}

/// MobileNetV2's inverted residual block: a 1×1 expansion (unless the ratio is 1), a 3×3
/// depthwise convolution, a linear 1×1 projection, all in `conv`, and the input added back where
/// the block keeps the size and the channels.
public final class InvertedResidual: ResidualBranchBlock {
    public var conv: Sequential { branch }

    init(inputChannels: Int, outputChannels: Int, stride: Int, expansion: Int, generator: inout RandomGenerator) {
        let hidden = inputChannels * expansion
        var layers: [Module] = []
        if expansion != 1 { layers.append(convolutionNormReLU6(inputChannels, hidden, kernel: 1, generator: &generator)) }
        layers.append(convolutionNormReLU6(hidden, hidden, stride: stride, groups: hidden, generator: &generator))
        layers.append(
            Conv2d(inputChannels: hidden, outputChannels: outputChannels, kernelSize: 1, bias: false, generator: &generator))
        layers.append(BatchNorm2d(channels: outputChannels))
        super.init(
            branch: Sequential(layers), named: "conv", addsInput: stride == 1 && inputChannels == outputChannels)
    }

    /// The convolutions'; the identity it adds reads inside them.
    public override var spatialFootprint: SpatialFootprint? { conv.spatialFootprint }
}

/// MobileNetV2 (Sandler et al., 2018) with torchvision's structure and names: `features` (a
/// strided 3×3 stem, 17 inverted residual blocks, a 1×1 convolution to 1280 channels), global
/// average pooling, and a replaceable `classifier` (Dropout 0.2, Linear).
public final class MobileNetV2: PooledClassifierNetwork<Sequential> {

    /// Expansion, output channels, blocks, first stride (torchvision's `inverted_residual_setting`).
    static let settings = [
        (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
    ]

    public init(classes: Int = 1000, generator: inout RandomGenerator) {
        var layers: [Module] = [convolutionNormReLU6(3, 32, stride: 2, generator: &generator)]
        var channels = 32
        for (expansion, outputs, count, stride) in MobileNetV2.settings {
            for index in 0..<count {
                layers.append(
                    InvertedResidual(
                        inputChannels: channels, outputChannels: outputs, stride: index == 0 ? stride : 1,
                        expansion: expansion, generator: &generator))
                channels = outputs
            }
        }
        layers.append(convolutionNormReLU6(channels, 1280, kernel: 1, generator: &generator))
        let classifier = Sequential([
            Dropout(probability: 0.2), Linear(inputFeatures: 1280, outputFeatures: classes, generator: &generator),
        ])
        super.init(features: Sequential(layers), classifier: classifier, headInputFeatures: 1280)
    }

    /// The last block's activation, as pytorch-grad-cam's users choose (`model.features[-1]`).
    public override var camLayer: String? { "features.18" }
}
