import LoupeTensor

/// EfficientNet's blocks (torchvision's `MBConv` and `FusedMBConv`), in `block`, with the input added
/// back through `stochastic_depth` where the block keeps the size and the channels.
/// - MBConv: a 1×1 expansion with SiLU unless the ratio is 1, a depthwise k×k convolution with SiLU,
///   squeeze-excitation (SiLU, sigmoid gate, a quarter of the block's input channels), a linear
///   1×1 projection.
/// - Fused (EfficientNetV2's early stages): one k×k convolution with SiLU in place of the expansion
///   and the depthwise one, then the projection; or, at ratio 1, the k×k convolution alone.
public final class EfficientNetBlock: Module {
    public let block: Sequential
    public let stochasticDepth: StochasticDepth
    public let addsInput: Bool

    /// One block of a stage: expansion ratio, kernel, stride, channels in and out, fused or not.
    struct Configuration {
        var expansion: Double, kernel: Int, stride: Int, input: Int, output: Int, fused: Bool
    }

    init(_ c: Configuration, dropProbability: Float, normEpsilon: Float, generator: inout RandomGenerator) {
        let expanded = madeDivisible(Double(c.input) * c.expansion)
        var layers: [Module] = []
        func convolution(
            _ input: Int, _ output: Int, kernel: Int, stride: Int = 1, groups: Int = 1, activated: Bool = true
        )
            -> Sequential
        {
            convolutionNormActivation(
                input, output, kernel: kernel, stride: stride, groups: groups, normEpsilon: normEpsilon,
                activation: activated ? SiLU() : nil, generator: &generator)
        }
        if c.fused {
            if expanded != c.input {
                layers.append(convolution(c.input, expanded, kernel: c.kernel, stride: c.stride))
                layers.append(convolution(expanded, c.output, kernel: 1, activated: false))
            } else {
                layers.append(convolution(c.input, c.output, kernel: c.kernel, stride: c.stride))
            }
        } else {
            if expanded != c.input { layers.append(convolution(c.input, expanded, kernel: 1)) }
            layers.append(convolution(expanded, expanded, kernel: c.kernel, stride: c.stride, groups: expanded))
            layers.append(
                SqueezeExcitation(
                    channels: expanded, squeezed: Swift.max(1, c.input / 4), activation: SiLU(), gate: Sigmoid(),
                    generator: &generator))
            layers.append(convolution(expanded, c.output, kernel: 1, activated: false))
        }
        block = Sequential(layers)
        stochasticDepth = StochasticDepth(probability: dropProbability)
        addsInput = c.stride == 1 && c.input == c.output
        super.init()
    }

    public override var children: [(name: String, module: Module)] {
        [("block", block), ("stochastic_depth", stochasticDepth)]
    }

    public override func forward(_ input: Tensor) -> Tensor {
        guard addsInput else { return block(input) }
        // Stochastic depth is the identity in evaluation: the sum can then run in the projection.
        let identity = !stochasticDepth.isTraining && !Module.isTapped(stochasticDepth.path)
        return identity ? block.calledAdding(input, to: input) : stochasticDepth(block(input)) + input
    }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        try residualOutputShape(shape, branch: [block], adds: addsInput)
    }
}

/// EfficientNet B0–B7 (Tan & Le, 2019) and EfficientNetV2 S/M/L (Tan & Le, 2021) with torchvision's
/// structure and names: `features` (a strided 3×3 stem with SiLU, one `Sequential` per stage, a
/// 1×1 convolution with SiLU), global average pooling, and a replaceable `classifier` (Dropout,
/// Linear). Stochastic depth grows linearly to 0.2 over the blocks and is the identity in
/// evaluation mode.
public final class EfficientNet: PooledClassifierNetwork<Sequential> {

    /// A stage of torchvision's `_efficientnet_conf`: ratio, kernel, stride, in, out, blocks, fused.
    typealias Stage = (expansion: Double, kernel: Int, stride: Int, input: Int, output: Int, blocks: Int, fused: Bool)

    static let baseStages: [Stage] = [
        (1, 3, 1, 32, 16, 1, false), (6, 3, 2, 16, 24, 2, false), (6, 5, 2, 24, 40, 2, false), (6, 3, 2, 40, 80, 3, false),
        (6, 5, 1, 80, 112, 3, false), (6, 5, 2, 112, 192, 4, false), (6, 3, 1, 192, 320, 1, false),
    ]
    static let versionTwoStages: [String: [Stage]] = [
        "s": [
            (1, 3, 1, 24, 24, 2, true), (4, 3, 2, 24, 48, 4, true), (4, 3, 2, 48, 64, 4, true), (4, 3, 2, 64, 128, 6, false),
            (6, 3, 1, 128, 160, 9, false), (6, 3, 2, 160, 256, 15, false),
        ],
        "m": [
            (1, 3, 1, 24, 24, 3, true), (4, 3, 2, 24, 48, 5, true), (4, 3, 2, 48, 80, 5, true), (4, 3, 2, 80, 160, 7, false),
            (6, 3, 1, 160, 176, 14, false), (6, 3, 2, 176, 304, 18, false), (6, 3, 1, 304, 512, 5, false),
        ],
        "l": [
            (1, 3, 1, 32, 32, 4, true), (4, 3, 2, 32, 64, 7, true), (4, 3, 2, 64, 96, 7, true), (4, 3, 2, 96, 192, 10, false),
            (6, 3, 1, 192, 224, 19, false), (6, 3, 2, 224, 384, 25, false), (6, 3, 1, 384, 640, 7, false),
        ],
    ]
    /// B0–B7: width and depth multipliers and the classifier's dropout.
    static let scaling: [(width: Double, depth: Double, dropout: Float)] = [
        (1.0, 1.0, 0.2), (1.0, 1.1, 0.2), (1.1, 1.2, 0.3), (1.2, 1.4, 0.3), (1.4, 1.8, 0.4), (1.6, 2.2, 0.4),
        (1.8, 2.6, 0.5), (2.0, 3.1, 0.5),
    ]

    /// - Parameter variant: `"b0"` … `"b7"`, or `"v2_s"`, `"v2_m"`, `"v2_l"`.
    init?(variant: String, classes: Int = 1000, generator: inout RandomGenerator) {
        var stages: [Stage]
        let normEpsilon: Float, dropout: Float, lastChannels: Int?
        if variant.hasPrefix("v2_"), let table = EfficientNet.versionTwoStages[String(variant.dropFirst(3))] {
            stages = table
            normEpsilon = 1e-3
            dropout = ["v2_s": 0.2, "v2_m": 0.3, "v2_l": 0.4][variant]!
            lastChannels = 1280
        } else if variant.hasPrefix("b"), let index = Int(variant.dropFirst()), EfficientNet.scaling.indices.contains(index) {
            let (width, depth, classifierDropout) = EfficientNet.scaling[index]
            stages = EfficientNet.baseStages.map { stage in
                var scaled = stage
                scaled.input = madeDivisible(Double(stage.input) * width)
                scaled.output = madeDivisible(Double(stage.output) * width)
                scaled.blocks = Int((Double(stage.blocks) * depth).rounded(.up))
                return scaled
            }
            normEpsilon = index >= 5 ? 1e-3 : 1e-5
            dropout = classifierDropout
            lastChannels = nil
        } else {
            return nil
        }
        var layers: [Module] = [
            convolutionNormActivation(
                3, stages[0].input, stride: 2, normEpsilon: normEpsilon, activation: SiLU(), generator: &generator)
        ]
        let totalBlocks = stages.map(\.blocks).reduce(0, +)
        var blockIndex = 0
        for stage in stages {
            var blocks: [Module] = []
            for index in 0..<stage.blocks {
                let configuration = EfficientNetBlock.Configuration(
                    expansion: stage.expansion, kernel: stage.kernel, stride: index == 0 ? stage.stride : 1,
                    input: index == 0 ? stage.input : stage.output, output: stage.output, fused: stage.fused)
                blocks.append(
                    EfficientNetBlock(
                        configuration, dropProbability: 0.2 * Float(blockIndex) / Float(totalBlocks), normEpsilon: normEpsilon,
                        generator: &generator))
                blockIndex += 1
            }
            layers.append(Sequential(blocks))
        }
        let lastInput = stages.last!.output, lastOutput = lastChannels ?? 4 * lastInput
        layers.append(
            convolutionNormActivation(
                lastInput, lastOutput, kernel: 1, normEpsilon: normEpsilon, activation: SiLU(), generator: &generator))
        let classifier = Sequential([
            Dropout(probability: dropout), Linear(inputFeatures: lastOutput, outputFeatures: classes, generator: &generator),
        ])
        super.init(features: Sequential(layers), classifier: classifier, headInputFeatures: lastOutput)
    }

    /// The last convolution's activation (`model.features[-1]`).
    public override var camLayer: String? { "features.\(features.layers.count - 1)" }
}
