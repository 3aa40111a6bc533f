import LoupeTensor

/// torchvision's `Conv2dNormActivation`: a bias-free convolution padded to keep the size at stride
/// 1, a batch norm, and an activation when one is given, as a `Sequential` (`.0`, `.1`, `.2`).
func convolutionNormActivation(
    _ inputChannels: Int, _ outputChannels: Int, kernel: Int = 3, stride: Int = 1, groups: Int = 1,
    normEpsilon: Float = 1e-5, activation: Module?, generator: inout RandomGenerator
) -> Sequential {
    let layers: [Module] = [
        Conv2d(
            inputChannels: inputChannels, outputChannels: outputChannels, kernelSize: Size2D(integerLiteral: kernel),
            stride: Size2D(integerLiteral: stride), padding: Size2D(integerLiteral: (kernel - 1) / 2), groups: groups,
            bias: false, generator: &generator),
        BatchNorm2d(channels: outputChannels, epsilon: normEpsilon),
    ]
    return Sequential(layers + (activation.map { [$0] } ?? []))
}

/// torchvision's `SqueezeExcitation` (Hu et al., 2018): the channels' means through `fc1`, an
/// activation, `fc2` and a gate (`scale_activation`), which then scales each channel of the input.
public final class SqueezeExcitation: Module {
    let avgpool = AdaptiveAvgPool2d(outputSize: 1)
    public let fc1: Conv2d, fc2: Conv2d
    let activation: Module, scaleActivation: Module

    init(channels: Int, squeezed: Int, activation: Module, gate: Module, generator: inout RandomGenerator) {
        fc1 = Conv2d(inputChannels: channels, outputChannels: squeezed, kernelSize: 1, generator: &generator)
        fc2 = Conv2d(inputChannels: squeezed, outputChannels: channels, kernelSize: 1, generator: &generator)
        self.activation = activation
        scaleActivation = gate
        super.init()
    }

    public override var children: [(name: String, module: Module)] {
        [("avgpool", avgpool), ("fc1", fc1), ("fc2", fc2), ("activation", activation), ("scale_activation", scaleActivation)]
    }

    public override func forward(_ input: Tensor) -> Tensor {
        input * scaleActivation(fc2(activation(fc1(avgpool(input)))))
    }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        _ = try fc2.outputShape(forInput: fc1.outputShape(forInput: avgpool.outputShape(forInput: shape)))
        return shape
    }
}

/// torchvision's `StochasticDepth` in "row" mode (Huang et al., 2016): in training, each sample's
/// residual branch is dropped with `probability` and the kept ones scaled by 1/(1 − p); the
/// identity in evaluation mode.
public final class StochasticDepth: Module {
    public let probability: Float
    private var generator: RandomGenerator

    public init(probability: Float, seed: UInt64 = 0) {
        self.probability = probability
        generator = RandomGenerator(seed: seed)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        guard isTraining, probability > 0 else { return input }
        let survival = 1 - probability
        let draws = Tensor.uniform([input.shape[0]], generator: &generator).scalars
        let kept = Tensor(
            shape: [input.shape[0]] + Array(repeating: 1, count: input.rank - 1),
            scalars: draws.map { $0 < survival ? 1 / survival : 0 })
        return input * kept
    }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] { shape }

    public override var configuration: String { "p=\(probability), mode=row" }
}

/// The output shape of a residual block: its `branch` (modules in turn), to which, when `adds`,
/// the `shortcut`'s output (the input itself when `nil`) must match to be added.
func residualOutputShape(_ shape: [Int], branch: [Module], shortcut: Module? = nil, adds: Bool = true) throws -> [Int] {
    let output = try branch.reduce(shape) { try $1.outputShape(forInput: $0) }
    guard adds else { return output }
    let added = try shortcut?.outputShape(forInput: shape) ?? shape
    guard output == added else {
        throw ShapeError("a residual block's paths give \(output) and \(added) for input \(shape)")
    }
    return output
}

/// torchvision's `_make_divisible`: `value` rounded to the nearest multiple of `divisor`, at
/// least `divisor`, and not below 90 % of `value`.
func madeDivisible(_ value: Double, by divisor: Int = 8) -> Int {
    var rounded = Swift.max(divisor, Int(value + Double(divisor) / 2) / divisor * divisor)
    if Double(rounded) < 0.9 * value { rounded += divisor }
    return rounded
}

/// torchvision's most common network shape: `features`, then global average pooling, a flatten and
/// a replaceable `classifier` (MobileNet, EfficientNet, MNASNet, DenseNet). Subclasses build the
/// parts and declare their CAM layer.
public class PooledClassifierNetwork<Features: Module>: Module, ReplaceableHead {
    public let features: Features
    public private(set) var classifier: Module
    public let headInputFeatures: Int
    /// torchvision's name for `features` (MNASNet calls it `layers`).
    let featuresName: String
    /// A functional ReLU between the features and the pooling (DenseNet's).
    let rectifiesFeatures: Bool

    init(
        features: Features, classifier: Module, headInputFeatures: Int, featuresName: String = "features",
        rectifiesFeatures: Bool = false
    ) {
        self.features = features
        self.classifier = classifier
        self.headInputFeatures = headInputFeatures
        self.featuresName = featuresName
        self.rectifiesFeatures = rectifiesFeatures
        super.init()
    }

    public override var head: Module? { classifier }
    public func replaceHead(with head: Module) {
        classifier = head
        assignPaths(path)
    }

    public override var children: [(name: String, module: Module)] { [(featuresName, features), ("classifier", classifier)] }

    public override var stages: [Module]? {
        [features] + (rectifiesFeatures ? [ReLU()] : []) + [AdaptiveAvgPool2d(outputSize: 1), Flatten(), classifier]
    }

    public override func forward(_ input: Tensor) -> Tensor {
        let mapped = features(input)
        return classifier((rectifiesFeatures ? mapped.relu() : mapped).adaptiveAveragePooled2D(outputSize: 1).flattened(from: 1))
    }
}

/// A block that runs `branch` and adds its input back where the block keeps the size and the
/// channels (`addsInput`), the sum run in the branch's last convolution
/// (``Module/calledAdding(_:to:then:)``): MobileNetV2's, MobileNetV3's and MNASNet's inverted
/// residuals, whose branch torchvision calls `conv`, `block` and `layers`.
public class ResidualBranchBlock: Module {
    public let branch: Sequential
    public let addsInput: Bool
    let branchName: String

    init(branch: Sequential, named branchName: String, addsInput: Bool) {
        self.branch = branch
        self.branchName = branchName
        self.addsInput = addsInput
        super.init()
    }

    public override var children: [(name: String, module: Module)] { [(branchName, branch)] }

    public override func forward(_ input: Tensor) -> Tensor {
        addsInput ? branch.calledAdding(input, to: input) : branch(input)
    }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        try residualOutputShape(shape, branch: [branch], adds: addsInput)
    }
}
