import LoupeTensor

/// `nn.ReLU`. Its backward pass follows the scoped ``ReLUBackwardRule``.
public final class ReLU: Module {
    public override func forward(_ input: Tensor) -> Tensor { input.relu() }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] { shape }

    public override var spatialFootprint: SpatialFootprint? { .pointwise }
}

/// `nn.ReLU6`: `min(max(x, 0), 6)` (MobileNet's activation), a ReLU for the backward rules
/// (``LoupeTensor/Tensor/relu(maximum:)``).
public final class ReLU6: Module {
    public override func forward(_ input: Tensor) -> Tensor { input.relu(maximum: 6) }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] { shape }

    public override var spatialFootprint: SpatialFootprint? { .pointwise }
}

/// `nn.Hardswish`: `x · relu6(x + 3) / 6` (MobileNetV3's activation).
public final class Hardswish: Module {
    public override func forward(_ input: Tensor) -> Tensor { input.hardswish() }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] { shape }

    public override var spatialFootprint: SpatialFootprint? { .pointwise }
}

/// `nn.Hardsigmoid`: `relu6(x + 3) / 6` (MobileNetV3's squeeze-excitation gate).
public final class Hardsigmoid: Module {
    public override func forward(_ input: Tensor) -> Tensor { input.hardsigmoid() }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] { shape }

    public override var spatialFootprint: SpatialFootprint? { .pointwise }
}

/// `nn.SiLU`: `x · σ(x)`, the swish of EfficientNet.
public final class SiLU: Module {
    public override func forward(_ input: Tensor) -> Tensor { input * input.sigmoid() }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] { shape }

    public override var spatialFootprint: SpatialFootprint? { .pointwise }
}

/// `nn.Sigmoid` (EfficientNet's squeeze-excitation gate).
public final class Sigmoid: Module {
    public override func forward(_ input: Tensor) -> Tensor { input.sigmoid() }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] { shape }

    public override var spatialFootprint: SpatialFootprint? { .pointwise }
}

/// `nn.MaxPool2d`.
public final class MaxPool2d: Module {
    public let kernelSize: Size2D, stride: Size2D, padding: Size2D, dilation: Size2D
    public let ceilMode: Bool

    public init(
        kernelSize: Size2D, stride: Size2D? = nil, padding: Size2D = 0, dilation: Size2D = 1,
        ceilMode: Bool = false
    ) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.dilation = dilation
        self.ceilMode = ceilMode
    }

    public override func forward(_ input: Tensor) -> Tensor {
        input.maxPooled2D(kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
    }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        try ShapeRules.pooling(
            input: shape, kernel: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
    }

    public override var spatialFootprint: SpatialFootprint? {
        SpatialFootprint(kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation)
    }

    public override var configuration: String {
        "kernel_size=\(kernelSize), stride=\(stride), padding=\(padding)" + (ceilMode ? ", ceil_mode=True" : "")
    }
}

/// `nn.AvgPool2d`.
public final class AvgPool2d: Module {
    public let kernelSize: Size2D, stride: Size2D, padding: Size2D
    public let ceilMode: Bool, countIncludePad: Bool

    public init(
        kernelSize: Size2D, stride: Size2D? = nil, padding: Size2D = 0, ceilMode: Bool = false,
        countIncludePad: Bool = true
    ) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
        self.ceilMode = ceilMode
        self.countIncludePad = countIncludePad
    }

    public override func forward(_ input: Tensor) -> Tensor {
        input.averagePooled2D(
            kernelSize: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode,
            countIncludePad: countIncludePad)
    }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        try ShapeRules.pooling(input: shape, kernel: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode)
    }

    public override var spatialFootprint: SpatialFootprint? {
        SpatialFootprint(kernelSize: kernelSize, stride: stride, padding: padding)
    }
}

/// `nn.AdaptiveAvgPool2d`.
public final class AdaptiveAvgPool2d: Module {
    public let outputSize: Size2D

    public init(outputSize: Size2D) {
        self.outputSize = outputSize
    }

    public override func forward(_ input: Tensor) -> Tensor {
        input.adaptiveAveragePooled2D(outputSize: outputSize)
    }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == 4, shape[2] > 0, shape[3] > 0 else {
            throw ShapeError("adaptive average pooling needs an [N, C, H, W] input; got \(shape)")
        }
        return [shape[0], shape[1], outputSize.height, outputSize.width]
    }

    public override var configuration: String { "output_size=\(outputSize)" }
}

/// `nn.Dropout`: active only in training mode, with its own seeded generator.
public final class Dropout: Module {
    public let probability: Float
    private var generator: RandomGenerator

    public init(probability: Float = 0.5, seed: UInt64 = 0) {
        self.probability = probability
        generator = RandomGenerator(seed: seed)
    }

    public override func forward(_ input: Tensor) -> Tensor {
        isTraining ? input.dropout(probability: probability, generator: &generator) : input
    }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] { shape }

    public override var spatialFootprint: SpatialFootprint? { isTraining ? nil : .pointwise }

    public override var configuration: String { "p=\(probability)" }
}

/// `nn.Flatten`: merges the dimensions from `startAxis` on.
public final class Flatten: Module {
    public let startAxis: Int

    public init(startAxis: Int = 1) {
        self.startAxis = startAxis
    }

    public override func forward(_ input: Tensor) -> Tensor { input.flattened(from: startAxis) }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count > startAxis else { throw ShapeError("flattening from axis \(startAxis) needs more axes than \(shape)") }
        return Array(shape.prefix(startAxis)) + [shape.dropFirst(startAxis).reduce(1, *)]
    }
}
