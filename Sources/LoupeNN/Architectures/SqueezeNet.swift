import LoupeTensor

/// SqueezeNet's Fire module: a 1×1 squeeze, then 1×1 and 3×3 expands concatenated.
public final class Fire: Module {
    public let squeeze: Conv2d, expand1x1: Conv2d, expand3x3: Conv2d
    let squeezeActivation = ReLU(), expand1x1Activation = ReLU(), expand3x3Activation = ReLU()

    public init(
        inputChannels: Int, squeezeChannels: Int, expand1x1Channels: Int, expand3x3Channels: Int,
        generator: inout RandomGenerator
    ) {
        squeeze = Conv2d(inputChannels: inputChannels, outputChannels: squeezeChannels, kernelSize: 1, generator: &generator)
        expand1x1 = Conv2d(
            inputChannels: squeezeChannels, outputChannels: expand1x1Channels, kernelSize: 1, generator: &generator)
        expand3x3 = Conv2d(
            inputChannels: squeezeChannels, outputChannels: expand3x3Channels, kernelSize: 3, padding: 1,
            generator: &generator)
        super.init()
    }

    public override var children: [(name: String, module: Module)] {
        [
            ("squeeze", squeeze), ("squeeze_activation", squeezeActivation), ("expand1x1", expand1x1),
            ("expand1x1_activation", expand1x1Activation), ("expand3x3", expand3x3),
            ("expand3x3_activation", expand3x3Activation),
        ]
    }

    public override func forward(_ input: Tensor) -> Tensor {
        let squeezed = squeeze.fused(input, activation: squeezeActivation)
        return Tensor.concatenate(
            [
                expand1x1.fused(squeezed, activation: expand1x1Activation),
                expand3x3.fused(squeezed, activation: expand3x3Activation),
            ], along: 1)
    }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        let squeezed = try squeeze.outputShape(forInput: shape)
        let (one, three) = (try expand1x1.outputShape(forInput: squeezed), try expand3x3.outputShape(forInput: squeezed))
        guard one.count == 4, one[2...] == three[2...] else {
            throw ShapeError("a Fire module's branches give \(one) and \(three) for input \(shape)")
        }
        return [one[0], one[1] + three[1], one[2], one[3]]
    }

    /// The 3×3 path's; the 1×1 path reads inside it.
    public override var spatialFootprint: SpatialFootprint? { .chain([squeeze, expand3x3]) }
}

/// SqueezeNet 1.0 and 1.1 (Iandola et al., 2016) with torchvision's structure: `features`
/// (Fire modules) and `classifier` (Dropout, 1×1 conv to classes, ReLU, global average pool).
public final class SqueezeNet: Module {
    public let features: Sequential
    public let classifier: Sequential

    /// - Parameter version: "1_0" or "1_1".
    public init(version: String, classes: Int = 1000, generator: inout RandomGenerator) {
        func fire(_ input: Int, _ squeeze: Int, _ expand: Int) -> Fire {
            Fire(
                inputChannels: input, squeezeChannels: squeeze, expand1x1Channels: expand, expand3x3Channels: expand,
                generator: &generator)
        }
        func pool() -> MaxPool2d { MaxPool2d(kernelSize: 3, stride: 2, ceilMode: true) }
        if version == "1_0" {
            features = Sequential([
                Conv2d(inputChannels: 3, outputChannels: 96, kernelSize: 7, stride: 2, generator: &generator), ReLU(), pool(),
                fire(96, 16, 64), fire(128, 16, 64), fire(128, 32, 128), pool(),
                fire(256, 32, 128), fire(256, 48, 192), fire(384, 48, 192), fire(384, 64, 256), pool(),
                fire(512, 64, 256),
            ])
        } else {
            precondition(version == "1_1", "SqueezeNet: version must be 1_0 or 1_1; got \(version)")
            features = Sequential([
                Conv2d(inputChannels: 3, outputChannels: 64, kernelSize: 3, stride: 2, generator: &generator), ReLU(), pool(),
                fire(64, 16, 64), fire(128, 16, 64), pool(),
                fire(128, 32, 128), fire(256, 32, 128), pool(),
                fire(256, 48, 192), fire(384, 48, 192), fire(384, 64, 256), fire(512, 64, 256),
            ])
        }
        classifier = Sequential([
            Dropout(), Conv2d(inputChannels: 512, outputChannels: classes, kernelSize: 1, generator: &generator), ReLU(),
            AdaptiveAvgPool2d(outputSize: 1),
        ])
        super.init()
    }

    public override var children: [(name: String, module: Module)] {
        [("features", features), ("classifier", classifier)]
    }

    public override func forward(_ input: Tensor) -> Tensor {
        classifier(features(input)).flattened(from: 1)
    }

    public override var stages: [Module]? { [features, classifier, Flatten()] }

    /// The last Fire module's output.
    public override var camLayer: String? { "features.12" }

    public override var head: Module? { classifier }
}
