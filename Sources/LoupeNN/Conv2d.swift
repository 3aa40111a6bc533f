import Foundation
import LoupeTensor

/// A 2-D convolution layer (`nn.Conv2d`): weight `[out, in/groups, kH, kW]`, optional bias `[out]`.
public final class Conv2d: Module {
    public let weight: Parameter
    public let bias: Parameter?
    public let stride: Size2D, padding: Size2D, dilation: Size2D
    public let groups: Int
    /// The weight and bias with the next batch norm folded in, while they stay valid (see
    /// `folded(with:)`); guarded by `foldLock`.
    var foldedParameters: FoldedConvolution?
    let foldLock = NSLock()

    /// - Parameters: as `nn.Conv2d`; weights start Kaiming-uniform (PyTorch's default).
    public init(
        inputChannels: Int, outputChannels: Int, kernelSize: Size2D, stride: Size2D = 1,
        padding: Size2D = 0, dilation: Size2D = 1, groups: Int = 1, bias: Bool = true,
        generator: inout RandomGenerator
    ) {
        precondition(
            inputChannels % groups == 0 && outputChannels % groups == 0,
            "Conv2d: groups \(groups) must divide \(inputChannels) and \(outputChannels) channels")
        let fanIn = inputChannels / groups * kernelSize.height * kernelSize.width
        weight = Parameter(
            defaultInitialized(
                [outputChannels, inputChannels / groups, kernelSize.height, kernelSize.width],
                fanIn: fanIn, generator: &generator))
        self.bias = bias ? Parameter(defaultInitialized([outputChannels], fanIn: fanIn, generator: &generator)) : nil
        self.stride = stride
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
    }

    public override var localParameters: [(name: String, parameter: Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public override func forward(_ input: Tensor) -> Tensor {
        input.convolved2D(
            with: weight.value, bias: bias?.value, stride: stride, padding: padding,
            dilation: dilation, groups: groups)
    }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        try ShapeRules.convolution(
            input: shape, weight: weight.shape, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }

    public override var spatialFootprint: SpatialFootprint? {
        SpatialFootprint(
            kernelSize: Size2D(weight.shape[2], weight.shape[3]), stride: stride, padding: padding,
            dilation: dilation)
    }

    public override var localChannelBiases: [(tap: String, bias: Tensor)] { bias.map { [(path, $0.value)] } ?? [] }

    public override var configuration: String {
        let shape = weight.shape
        return "\(shape[1] * groups), \(shape[0]), kernel_size=(\(shape[2]), \(shape[3])), stride=\(stride)"
            + (padding != 0 ? ", padding=\(padding)" : "") + (groups != 1 ? ", groups=\(groups)" : "")
            + (bias == nil ? ", bias=False" : "")
    }
}

/// A fully connected layer (`nn.Linear`): weight `[out, in]`, optional bias `[out]`.
public final class Linear: Module {
    public let weight: Parameter
    public let bias: Parameter?

    public init(inputFeatures: Int, outputFeatures: Int, bias: Bool = true, generator: inout RandomGenerator) {
        weight = Parameter(defaultInitialized([outputFeatures, inputFeatures], fanIn: inputFeatures, generator: &generator))
        self.bias = bias ? Parameter(defaultInitialized([outputFeatures], fanIn: inputFeatures, generator: &generator)) : nil
    }

    public override var localParameters: [(name: String, parameter: Parameter)] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public override func forward(_ input: Tensor) -> Tensor {
        input.linear(weight: weight.value, bias: bias?.value)
    }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        try ShapeRules.linear(input: shape, features: weight.shape[1], outputs: weight.shape[0])
    }

    public override var configuration: String {
        "in_features=\(weight.shape[1]), out_features=\(weight.shape[0])" + (bias == nil ? ", bias=False" : "")
    }
}

/// Batch normalization over channels (`nn.BatchNorm2d`), with PyTorch's state_dict names:
/// `weight`, `bias`, `running_mean`, `running_var`, `num_batches_tracked`.
public final class BatchNorm2d: Module {
    public let weight: Parameter, bias: Parameter
    public let runningMean: Parameter, runningVariance: Parameter, batchesTracked: Parameter
    public let epsilon: Float, momentum: Float

    public init(channels: Int, epsilon: Float = 1e-5, momentum: Float = 0.1) {
        weight = Parameter(Tensor.ones([channels]))
        bias = Parameter(Tensor.zeros([channels]))
        runningMean = Parameter(Tensor.zeros([channels]), isBuffer: true)
        runningVariance = Parameter(Tensor.ones([channels]), isBuffer: true)
        batchesTracked = Parameter(Tensor(0), isBuffer: true, mayBeAbsent: true)
        self.epsilon = epsilon
        self.momentum = momentum
    }

    public override var localParameters: [(name: String, parameter: Parameter)] {
        [
            ("weight", weight), ("bias", bias), ("running_mean", runningMean), ("running_var", runningVariance),
            ("num_batches_tracked", batchesTracked),
        ]
    }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        try ShapeRules.channels(weight.shape[0], input: shape, layer: "batch norm")
        return shape
    }

    public override func forward(_ input: Tensor) -> Tensor {
        var mean = runningMean.value, variance = runningVariance.value
        let output = input.batchNormalized(
            scale: weight.value, offset: bias.value, runningMean: &mean,
            runningVariance: &variance, training: isTraining,
            momentum: momentum, epsilon: epsilon)
        if isTraining {
            runningMean.value = mean
            runningVariance.value = variance
            batchesTracked.value = Tensor(batchesTracked.value.scalar + 1)
        }
        return output
    }

    public override var spatialFootprint: SpatialFootprint? { isTraining ? nil : .pointwise }

    public override var localChannelBiases: [(tap: String, bias: Tensor)] { [(path, inferenceAffine.shift.detached())] }

    public override var configuration: String { "\(weight.shape[0]), eps=\(epsilon), momentum=\(momentum)" }
}
