import LoupeTensor

/// MNASNet's inverted residual (torchvision's `_InvertedResidual`): a 1×1 expansion, a depthwise
/// k×k convolution, a linear 1×1 projection, in `layers`; the input added back where the block
/// keeps the size and the channels.
public final class MNASNetBlock: ResidualBranchBlock {
    public var layers: Sequential { branch }

    init(input: Int, output: Int, kernel: Int, stride: Int, expansion: Int, generator: inout RandomGenerator) {
        let middle = input * expansion
        let layers = Sequential([
            Conv2d(inputChannels: input, outputChannels: middle, kernelSize: 1, bias: false, generator: &generator),
            BatchNorm2d(channels: middle), ReLU(),
            Conv2d(
                inputChannels: middle, outputChannels: middle, kernelSize: Size2D(integerLiteral: kernel),
                stride: Size2D(integerLiteral: stride), padding: Size2D(integerLiteral: kernel / 2), groups: middle,
                bias: false, generator: &generator),
            BatchNorm2d(channels: middle), ReLU(),
            Conv2d(inputChannels: middle, outputChannels: output, kernelSize: 1, bias: false, generator: &generator),
            BatchNorm2d(channels: output),
        ])
        super.init(branch: layers, named: "layers", addsInput: input == output && stride == 1)
    }
}

/// MNASNet B1 (Tan et al., 2019) with torchvision's structure and names: `layers` (a stem of a
/// strided 3×3, a depthwise 3×3 and a 1×1, six stacks of inverted residuals, a 1×1 convolution to
/// 1280 channels), global average pooling, and a replaceable `classifier` (Dropout 0.2, Linear).
public final class MNASNet: PooledClassifierNetwork<Sequential> {
    /// torchvision's name for the features.
    public var layers: Sequential { features }

    /// - Parameter alpha: the width multiplier (0.5, 0.75, 1.0, 1.3).
    init(alpha: Double, classes: Int = 1000, generator: inout RandomGenerator) {
        let depths = [32, 16, 24, 40, 80, 96, 192, 320].map { madeDivisible(Double($0) * alpha) }
        func convolution(_ input: Int, _ output: Int, kernel: Int, stride: Int = 1, groups: Int = 1) -> Conv2d {
            Conv2d(
                inputChannels: input, outputChannels: output, kernelSize: Size2D(integerLiteral: kernel),
                stride: Size2D(integerLiteral: stride), padding: Size2D(integerLiteral: kernel / 2), groups: groups,
                bias: false, generator: &generator)
        }
        var modules: [Module] = [
            convolution(3, depths[0], kernel: 3, stride: 2), BatchNorm2d(channels: depths[0]), ReLU(),
            convolution(depths[0], depths[0], kernel: 3, groups: depths[0]), BatchNorm2d(channels: depths[0]), ReLU(),
            convolution(depths[0], depths[1], kernel: 1), BatchNorm2d(channels: depths[1]),
        ]
        // Kernel, stride, expansion and repeats of each stack (torchvision's `_stack` calls).
        let stacks = [(3, 2, 3, 3), (5, 2, 3, 3), (5, 2, 6, 3), (3, 1, 6, 2), (5, 2, 6, 4), (3, 1, 6, 1)]
        for (index, (kernel, stride, expansion, repeats)) in stacks.enumerated() {
            let (input, output) = (depths[index + 1], depths[index + 2])
            modules.append(
                Sequential(
                    (0..<repeats).map {
                        MNASNetBlock(
                            input: $0 == 0 ? input : output, output: output, kernel: kernel, stride: $0 == 0 ? stride : 1,
                            expansion: expansion, generator: &generator)
                    }))
        }
        modules += [convolution(depths[7], 1280, kernel: 1), BatchNorm2d(channels: 1280), ReLU()]
        let classifier = Sequential([
            Dropout(probability: 0.2), Linear(inputFeatures: 1280, outputFeatures: classes, generator: &generator),
        ])
        super.init(features: Sequential(modules), classifier: classifier, headInputFeatures: 1280, featuresName: "layers")
    }

    /// The last convolution's activation (`model.layers[-1]`).
    public override var camLayer: String? { "layers.16" }
}
