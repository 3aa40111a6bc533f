import LoupeTensor

/// ShuffleNetV2's unit (torchvision's `InvertedResidual` of shufflenetv2). At stride 1 half the
/// channels pass untouched and `branch2` (1×1, depthwise 3×3, 1×1) transforms the other half; at
/// stride 2 `branch1` (depthwise 3×3, 1×1) and `branch2` both take the whole input. The halves are
/// concatenated and their channels interleaved (`channel_shuffle` with 2 groups).
public final class ShuffleUnit: Module {
    public let branch1: Sequential, branch2: Sequential
    public let stride: Int

    init(input: Int, output: Int, stride: Int, generator: inout RandomGenerator) {
        let half = output / 2
        func depthwise(_ channels: Int) -> Conv2d {
            Conv2d(
                inputChannels: channels, outputChannels: channels, kernelSize: 3, stride: Size2D(integerLiteral: stride),
                padding: 1, groups: channels, bias: false, generator: &generator)
        }
        func pointwise(_ input: Int, _ output: Int) -> Conv2d {
            Conv2d(inputChannels: input, outputChannels: output, kernelSize: 1, bias: false, generator: &generator)
        }
        branch1 =
            stride > 1
            ? Sequential([
                depthwise(input), BatchNorm2d(channels: input), pointwise(input, half), BatchNorm2d(channels: half), ReLU(),
            ]) : Sequential([])
        branch2 = Sequential([
            pointwise(stride > 1 ? input : half, half), BatchNorm2d(channels: half), ReLU(), depthwise(half),
            BatchNorm2d(channels: half), pointwise(half, half), BatchNorm2d(channels: half), ReLU(),
        ])
        self.stride = stride
        super.init()
    }

    public override var children: [(name: String, module: Module)] { [("branch1", branch1), ("branch2", branch2)] }

    public override func forward(_ input: Tensor) -> Tensor {
        let output: Tensor
        if stride == 1 {
            let half = input.shape[1] / 2
            output = Tensor.concatenate(
                [input.slice(along: 1, from: 0, to: half), branch2(input.slice(along: 1, from: half, to: input.shape[1]))],
                along: 1)
        } else {
            output = Tensor.concatenate([branch1(input), branch2(input)], along: 1)
        }
        return output.channelsShuffled(groups: 2)
    }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == 4 else { throw ShapeError("a shuffle unit needs [N, C, H, W] input; got \(shape)") }
        if stride == 1 {
            let transformed = try branch2.outputShape(forInput: [shape[0], shape[1] / 2, shape[2], shape[3]])
            return [shape[0], shape[1] / 2 + transformed[1], transformed[2], transformed[3]]
        }
        let (first, second) = (try branch1.outputShape(forInput: shape), try branch2.outputShape(forInput: shape))
        return [shape[0], first[1] + second[1], first[2], first[3]]
    }
}

extension Tensor {
    /// torchvision's `channel_shuffle`: `[N, C, H, W]` seen as `[N, groups, C/groups, H, W]`, the
    /// two channel axes swapped, so that channels from each group alternate.
    func channelsShuffled(groups: Int) -> Tensor {
        let (n, c, h, w) = (shape[0], shape[1], shape[2], shape[3])
        return reshaped([n, groups, c / groups, h, w]).permuted([0, 2, 1, 3, 4]).reshaped([n, c, h, w])
    }
}

/// ShuffleNetV2 (Ma et al., 2018) with torchvision's structure and names: `conv1` (a strided 3×3),
/// `maxpool`, `stage2` … `stage4`, `conv5` (1×1), global average pooling and `fc`.
public final class ShuffleNetV2: Module, ReplaceableHead {
    public let conv1: Sequential
    let maxpool = MaxPool2d(kernelSize: 3, stride: 2, padding: 1)
    public let stageModules: [Sequential]
    public let conv5: Sequential
    public private(set) var fc: Module
    public let headInputFeatures: Int
    public override var head: Module? { fc }
    public func replaceHead(with head: Module) {
        fc = head
        assignPaths(path)
    }

    /// Output channels of conv1, the three stages and conv5, by width (torchvision's
    /// `stages_out_channels`); the stages repeat their unit 4, 8 and 4 times.
    static let widths: [String: [Int]] = [
        "x0_5": [24, 48, 96, 192, 1024], "x1_0": [24, 116, 232, 464, 1024], "x1_5": [24, 176, 352, 704, 1024],
        "x2_0": [24, 244, 488, 976, 2048],
    ]

    /// - Parameter width: `"x0_5"`, `"x1_0"`, `"x1_5"` or `"x2_0"`.
    init?(width: String, classes: Int = 1000, generator: inout RandomGenerator) {
        guard let channels = ShuffleNetV2.widths[width] else { return nil }
        func convolutionNormReLU(_ input: Int, _ output: Int, kernel: Int, stride: Int) -> Sequential {
            Sequential([
                Conv2d(
                    inputChannels: input, outputChannels: output, kernelSize: Size2D(integerLiteral: kernel),
                    stride: Size2D(integerLiteral: stride), padding: Size2D(integerLiteral: kernel / 2), bias: false,
                    generator: &generator),
                BatchNorm2d(channels: output), ReLU(),
            ])
        }
        conv1 = convolutionNormReLU(3, channels[0], kernel: 3, stride: 2)
        var input = channels[0]
        var stages: [Sequential] = []
        for (repeats, output) in zip([4, 8, 4], channels[1...3]) {
            var units: [Module] = [ShuffleUnit(input: input, output: output, stride: 2, generator: &generator)]
            for _ in 1..<repeats { units.append(ShuffleUnit(input: output, output: output, stride: 1, generator: &generator)) }
            stages.append(Sequential(units))
            input = output
        }
        stageModules = stages
        conv5 = convolutionNormReLU(input, channels[4], kernel: 1, stride: 1)
        headInputFeatures = channels[4]
        fc = Linear(inputFeatures: channels[4], outputFeatures: classes, generator: &generator)
        super.init()
    }

    public override var children: [(name: String, module: Module)] {
        [("conv1", conv1), ("maxpool", maxpool)]
            + stageModules.enumerated().map { ("stage\($0.offset + 2)", $0.element as Module) }
            + [("conv5", conv5), ("fc", fc)]
    }

    public override var stages: [Module]? {
        [conv1, maxpool] + stageModules + [conv5, AdaptiveAvgPool2d(outputSize: 1), Flatten(), fc]
    }

    /// The last convolution's activation (`model.conv5`).
    public override var camLayer: String? { "conv5" }

    public override func forward(_ input: Tensor) -> Tensor {
        let body = stageModules.reduce(maxpool(conv1(input))) { $1($0) }
        return fc(conv5(body).adaptiveAveragePooled2D(outputSize: 1).flattened(from: 1))
    }
}
