import LoupeTensor

/// MobileNetV3's inverted residual block (torchvision's `InvertedResidual` of mobilenetv3): a 1×1
/// expansion unless the width stays, a depthwise k×k convolution, squeeze-excitation with a
/// hard-sigmoid gate where the configuration says, a linear 1×1 projection, all in `block`, each a
/// `Conv2dNormActivation` (ReLU or hardswish); the input added back where the block keeps the
/// size and the channels.
public final class MobileNetV3Block: ResidualBranchBlock {
    public var block: Sequential { branch }

    /// One row of torchvision's `inverted_residual_setting`.
    struct Configuration {
        let input: Int, kernel: Int, expanded: Int, output: Int
        let squeezeExcitation: Bool, hardswish: Bool, stride: Int
    }

    init(_ configuration: Configuration, generator: inout RandomGenerator) {
        let c = configuration
        func activation() -> Module { c.hardswish ? Hardswish() : ReLU() }
        var layers: [Module] = []
        if c.expanded != c.input {
            layers.append(
                convolutionNormActivation(
                    c.input, c.expanded, kernel: 1, normEpsilon: 1e-3, activation: activation(), generator: &generator))
        }
        layers.append(
            convolutionNormActivation(
                c.expanded, c.expanded, kernel: c.kernel, stride: c.stride, groups: c.expanded, normEpsilon: 1e-3,
                activation: activation(), generator: &generator))
        if c.squeezeExcitation {
            layers.append(
                SqueezeExcitation(
                    channels: c.expanded, squeezed: madeDivisible(Double(c.expanded / 4)), activation: ReLU(),
                    gate: Hardsigmoid(), generator: &generator))
        }
        layers.append(
            convolutionNormActivation(c.expanded, c.output, kernel: 1, normEpsilon: 1e-3, activation: nil, generator: &generator))
        super.init(branch: Sequential(layers), named: "block", addsInput: c.stride == 1 && c.input == c.output)
    }
}

/// MobileNetV3 (Howard et al., 2019), large or small, with torchvision's structure and names:
/// `features` (a strided 3×3 stem with hardswish, the blocks, a 1×1 convolution to six times the
/// last block's channels), global average pooling, and a replaceable `classifier` (Linear,
/// Hardswish, Dropout 0.2, Linear).
public final class MobileNetV3: PooledClassifierNetwork<Sequential> {

    /// torchvision's `_mobilenet_v3_conf` at width 1: input, kernel, expanded, output, SE, hardswish, stride.
    static let large: [MobileNetV3Block.Configuration] = [
        (16, 3, 16, 16, false, false, 1), (16, 3, 64, 24, false, false, 2), (24, 3, 72, 24, false, false, 1),
        (24, 5, 72, 40, true, false, 2), (40, 5, 120, 40, true, false, 1), (40, 5, 120, 40, true, false, 1),
        (40, 3, 240, 80, false, true, 2), (80, 3, 200, 80, false, true, 1), (80, 3, 184, 80, false, true, 1),
        (80, 3, 184, 80, false, true, 1), (80, 3, 480, 112, true, true, 1), (112, 3, 672, 112, true, true, 1),
        (112, 5, 672, 160, true, true, 2), (160, 5, 960, 160, true, true, 1), (160, 5, 960, 160, true, true, 1),
    ].map(MobileNetV3Block.Configuration.init)
    static let small: [MobileNetV3Block.Configuration] = [
        (16, 3, 16, 16, true, false, 2), (16, 3, 72, 24, false, false, 2), (24, 3, 88, 24, false, false, 1),
        (24, 5, 96, 40, true, true, 2), (40, 5, 240, 40, true, true, 1), (40, 5, 240, 40, true, true, 1),
        (40, 5, 120, 48, true, true, 1), (48, 5, 144, 48, true, true, 1), (48, 5, 288, 96, true, true, 2),
        (96, 5, 576, 96, true, true, 1), (96, 5, 576, 96, true, true, 1),
    ].map(MobileNetV3Block.Configuration.init)

    /// - Parameter large: mobilenet_v3_large (last channel 1280) or mobilenet_v3_small (1024).
    public init(large: Bool, classes: Int = 1000, generator: inout RandomGenerator) {
        let settings = large ? MobileNetV3.large : MobileNetV3.small
        var layers: [Module] = [
            convolutionNormActivation(3, 16, stride: 2, normEpsilon: 1e-3, activation: Hardswish(), generator: &generator)
        ]
        for configuration in settings { layers.append(MobileNetV3Block(configuration, generator: &generator)) }
        let lastInput = settings.last!.output, lastOutput = 6 * lastInput, lastChannel = large ? 1280 : 1024
        layers.append(
            convolutionNormActivation(
                lastInput, lastOutput, kernel: 1, normEpsilon: 1e-3, activation: Hardswish(), generator: &generator))
        let classifier = Sequential([
            Linear(inputFeatures: lastOutput, outputFeatures: lastChannel, generator: &generator), Hardswish(),
            Dropout(probability: 0.2), Linear(inputFeatures: lastChannel, outputFeatures: classes, generator: &generator),
        ])
        super.init(features: Sequential(layers), classifier: classifier, headInputFeatures: lastOutput)
    }

    /// The last convolution's activation, as pytorch-grad-cam's users choose (`model.features[-1]`).
    public override var camLayer: String? { "features.\(features.layers.count - 1)" }
}
