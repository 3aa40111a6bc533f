import LoupeTensor

/// VGG (Simonyan & Zisserman, 2015) with torchvision's structure and names:
/// `features` (3×3 convolutions, optional batch norm, ReLU, max pools), `avgpool` (7×7),
/// `classifier` (Linear 25088→4096, ReLU, Dropout, Linear 4096→4096, ReLU, Dropout, Linear).
public final class VGG: PooledClassifier {
    /// The convolution widths of each configuration, `0` marking a max pool.
    static let configurations: [Int: [Int]] = [
        11: [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
        13: [64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
        16: [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0],
        19: [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0],
    ]

    /// - Parameters:
    ///   - depth: 11, 13, 16 or 19.
    ///   - batchNorm: the `_bn` variants.
    public init(depth: Int, batchNorm: Bool = false, classes: Int = 1000, generator: inout RandomGenerator) {
        let configuration = VGG.configurations[depth]!
        var layers: [Module] = []
        var channels = 3
        for width in configuration {
            if width == 0 {
                layers.append(MaxPool2d(kernelSize: 2, stride: 2))
                continue
            }
            layers.append(
                Conv2d(
                    inputChannels: channels, outputChannels: width, kernelSize: 3, padding: 1,
                    generator: &generator))
            if batchNorm { layers.append(BatchNorm2d(channels: width)) }
            layers.append(ReLU())
            channels = width
        }
        let classifier = Sequential([
            Linear(inputFeatures: 512 * 7 * 7, outputFeatures: 4096, generator: &generator), ReLU(), Dropout(),
            Linear(inputFeatures: 4096, outputFeatures: 4096, generator: &generator), ReLU(), Dropout(seed: 1),
            Linear(inputFeatures: 4096, outputFeatures: classes, generator: &generator),
        ])
        super.init(features: Sequential(layers), poolSize: 7, channels: 512, classifier: classifier)
    }
}

/// AlexNet with torchvision's structure (`features`, `avgpool` 6×6, `classifier`).
public final class AlexNet: PooledClassifier {
    public init(classes: Int = 1000, generator: inout RandomGenerator) {
        let features = Sequential([
            Conv2d(inputChannels: 3, outputChannels: 64, kernelSize: 11, stride: 4, padding: 2, generator: &generator),
            ReLU(), MaxPool2d(kernelSize: 3, stride: 2),
            Conv2d(inputChannels: 64, outputChannels: 192, kernelSize: 5, padding: 2, generator: &generator),
            ReLU(), MaxPool2d(kernelSize: 3, stride: 2),
            Conv2d(inputChannels: 192, outputChannels: 384, kernelSize: 3, padding: 1, generator: &generator), ReLU(),
            Conv2d(inputChannels: 384, outputChannels: 256, kernelSize: 3, padding: 1, generator: &generator), ReLU(),
            Conv2d(inputChannels: 256, outputChannels: 256, kernelSize: 3, padding: 1, generator: &generator), ReLU(),
            MaxPool2d(kernelSize: 3, stride: 2),
        ])
        let classifier = Sequential([
            Dropout(), Linear(inputFeatures: 256 * 6 * 6, outputFeatures: 4096, generator: &generator), ReLU(),
            Dropout(seed: 1), Linear(inputFeatures: 4096, outputFeatures: 4096, generator: &generator), ReLU(),
            Linear(inputFeatures: 4096, outputFeatures: classes, generator: &generator),
        ])
        super.init(features: features, poolSize: 6, channels: 256, classifier: classifier)
    }
}

/// The shape VGG and AlexNet share: `features`, an adaptive average pool `avgpool` to a fixed
/// size, a flatten, and a replaceable `classifier`.
public class PooledClassifier: Module, ReplaceableHead {
    public let features: Sequential
    public let avgpool: AdaptiveAvgPool2d
    public private(set) var classifier: Module
    public let headInputFeatures: Int

    init(features: Sequential, poolSize: Int, channels: Int, classifier: Module) {
        self.features = features
        avgpool = AdaptiveAvgPool2d(outputSize: Size2D(integerLiteral: poolSize))
        self.classifier = classifier
        headInputFeatures = channels * poolSize * poolSize
        super.init()
    }

    public override var head: Module? { classifier }

    /// The last ReLU of `features` (vgg16's `features.29`, alexnet's `features.11`).
    public override var camLayer: String? {
        features.layers.lastIndex { $0 is ReLU }.map { "features.\($0)" }
    }

    public func replaceHead(with head: Module) {
        classifier = head
        assignPaths(path)
    }

    public override var children: [(name: String, module: Module)] {
        [("features", features), ("avgpool", avgpool), ("classifier", classifier)]
    }

    public override func forward(_ input: Tensor) -> Tensor {
        classifier(avgpool(features(input)).flattened(from: 1))
    }

    public override var stages: [Module]? { [features, avgpool, Flatten(), classifier] }
}
