import LoupeTensor

/// Builds torchvision's architectures by name.
public enum ModelZoo {
    /// Every architecture name Loupe builds, as torchvision spells them.
    public static let architectures = [
        "alexnet", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
        "squeezenet1_0", "squeezenet1_1", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "mobilenet_v2",
    ]

    /// The shorter side torchvision's `DEFAULT` weights resize a photo to before the 224 × 224
    /// centre crop (bilinear): 232 for the weights of its second training recipe, else 256.
    public static func defaultResize(_ name: String) -> Int {
        ["resnet50", "resnet101", "resnet152", "mobilenet_v2"].contains(name) ? 232 : 256
    }

    /// The state_dict key of the classifier's final weight, whose first dimension is the
    /// number of classes.
    public static func headKey(_ name: String) -> String? {
        if name == "alexnet" || name.hasPrefix("vgg") { return "classifier.6.weight" }
        if name.hasPrefix("squeezenet") { return "classifier.1.weight" }
        if name.hasPrefix("resnet") { return "fc.weight" }
        if name == "mobilenet_v2" { return "classifier.1.weight" }
        return nil
    }

    /// The architecture `name` with its weights left undrawn (uninitialized memory), for a model
    /// whose every parameter a strict ``Module/load(_:strict:)`` replaces next, which saves the
    /// draws and their page faults. Loading does this already; it is for the engine's own loaders.
    ///
    /// - Throws: ``UnknownArchitectureError`` for a name not in ``architectures``.
    @_spi(Engine) public static func makeForLoading(_ name: String, classes: Int = 1000) throws -> Module {
        try ParameterInitialization.$isLeftToLoading.withValue(true) { try make(name, classes: classes) }
    }

    /// A freshly initialized model (PyTorch's default initialization, seeded), in evaluation
    /// mode, with torchvision's module paths.
    ///
    /// - Throws: ``UnknownArchitectureError`` for a name not in ``architectures``.
    public static func make(_ name: String, classes: Int = 1000, seed: UInt64 = 0) throws -> Module {
        var generator = RandomGenerator(seed: seed)
        let model: Module
        switch name {
        case "alexnet":
            model = AlexNet(classes: classes, generator: &generator)
        case let vgg where vgg.hasPrefix("vgg"):
            let batchNorm = vgg.hasSuffix("_bn")
            guard let depth = Int(vgg.dropFirst(3).prefix { $0.isNumber }), VGG.configurations[depth] != nil,
                vgg == "vgg\(depth)" + (batchNorm ? "_bn" : "")
            else { throw UnknownArchitectureError(name: name) }
            model = VGG(depth: depth, batchNorm: batchNorm, classes: classes, generator: &generator)
        case "squeezenet1_0", "squeezenet1_1":
            model = SqueezeNet(version: String(name.suffix(3)), classes: classes, generator: &generator)
        case let resnet where resnet.hasPrefix("resnet"):
            guard let depth = Int(resnet.dropFirst(6)), ResNet.blockCounts[depth] != nil else {
                throw UnknownArchitectureError(name: name)
            }
            model = ResNet(depth: depth, classes: classes, generator: &generator)
        case "mobilenet_v2":
            model = MobileNetV2(classes: classes, generator: &generator)
        default:
            throw UnknownArchitectureError(name: name)
        }
        model.assignPaths()
        return model
    }
}

/// An architecture name Loupe does not know.
public struct UnknownArchitectureError: Error, CustomStringConvertible {
    public let name: String
    public var description: String {
        "unknown architecture '\(name)'; choose one of \(ModelZoo.architectures.joined(separator: ", "))"
    }
}
