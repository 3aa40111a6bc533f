import LoupeTensor

/// A classifier whose final block (the head) can be swapped for transfer learning: VGG and
/// AlexNet's `classifier`, ResNet's `fc`. The new head keeps the old name, so its parameters
/// are `classifier.0.weight` or `fc.0.weight`.
extension Module {
    /// The state_dict key of the classifier's final weight, whose first dimension is the number of
    /// classes: the last linear layer (or convolution, SqueezeNet's) of ``head``.
    public var classifierWeightKey: String? {
        head?.namedModules().last { $0.module is Linear || $0.module is Conv2d }.map { "\($0.path).weight" }
    }
}

public protocol ReplaceableHead: Module {
    /// The number of features the head receives (25088 for VGG).
    var headInputFeatures: Int { get }
    func replaceHead(with head: Module)
}

extension ReplaceableHead {
    /// Replaces the head with layers built from `specs` on ``headInputFeatures`` inputs.
    public func replaceHead(_ specs: [LayerSpec], generator: inout RandomGenerator) throws {
        var shape = [headInputFeatures]
        replaceHead(with: try LayerStack.sequential(specs, shape: &shape, generator: &generator))
    }
}
