import LoupeTensor

/// Builds torchvision's architectures by name.
public enum ModelZoo {
    /// Every architecture name Loupe builds, as torchvision spells them.
    public static let architectures =
        [
            "alexnet", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
            "squeezenet1_0", "squeezenet1_1", "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
            "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2", "mobilenet_v2",
            "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0", "efficientnet_b1", "efficientnet_b2",
            "efficientnet_b3",
            "efficientnet_b4", "efficientnet_b5", "efficientnet_b6", "efficientnet_b7", "efficientnet_v2_s", "efficientnet_v2_m",
            "efficientnet_v2_l",
        ]
        + ["x", "y"].flatMap { kind in ["400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf"].map { "regnet_\(kind)_\($0)" }
        }

    /// How the photos of an architecture's `DEFAULT` torchvision weights are prepared
    /// (`weights.transforms()`): the shorter side resized to `resize`, a centred `crop` × `crop`,
    /// bilinear or bicubic, then `(x − mean) / std` on values in `[0, 1]`.
    public struct Preprocessing: Equatable, Sendable {
        public var resize = 256, crop = 224
        public var bicubic = false
        public var mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]
    }

    /// The preprocessing of `name`'s `DEFAULT` weights: 232 before the crop for the weights of
    /// torchvision's second training recipe, else 256.
    public static func preprocessing(_ name: String) -> Preprocessing {
        var preprocessing = Preprocessing()
        let secondRecipe = [
            "resnet50", "resnet101", "resnet152", "mobilenet_v2", "mobilenet_v3_large", "wide_resnet50_2", "wide_resnet101_2",
        ]
        if secondRecipe.contains(name) || name.hasPrefix("resnext") || name.hasPrefix("regnet") { preprocessing.resize = 232 }
        // EfficientNet's weights: (resize, crop, bicubic) at their own resolutions.
        let efficientNet: [String: (Int, Int, Bool)] = [
            "b0": (256, 224, true), "b1": (255, 240, false), "b2": (288, 288, true), "b3": (320, 300, true),
            "b4": (384, 380, true), "b5": (456, 456, true), "b6": (528, 528, true), "b7": (600, 600, true),
            "v2_s": (384, 384, false), "v2_m": (480, 480, false), "v2_l": (480, 480, true),
        ]
        if name.hasPrefix("efficientnet_"), let (resize, crop, bicubic) = efficientNet[String(name.dropFirst(13))] {
            (preprocessing.resize, preprocessing.crop, preprocessing.bicubic) = (resize, crop, bicubic)
            if name == "efficientnet_v2_l" { (preprocessing.mean, preprocessing.std) = ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]) }
        }
        return preprocessing
    }

    /// The state_dict key of the classifier's final weight, whose first dimension is the
    /// number of classes: the last linear layer of the architecture's head.
    public static func headKey(_ name: String) -> String? {
        guard let model = try? makeForLoading(name) else { return nil }
        return model.head?.namedModules().last { $0.module is Linear || $0.module is Conv2d }.map { "\($0.path).weight" }
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
        case "resnext50_32x4d": model = ResNet(depth: 50, groups: 32, widthPerGroup: 4, classes: classes, generator: &generator)
        case "resnext101_32x8d": model = ResNet(depth: 101, groups: 32, widthPerGroup: 8, classes: classes, generator: &generator)
        case "resnext101_64x4d": model = ResNet(depth: 101, groups: 64, widthPerGroup: 4, classes: classes, generator: &generator)
        case "wide_resnet50_2": model = ResNet(depth: 50, widthPerGroup: 128, classes: classes, generator: &generator)
        case "wide_resnet101_2": model = ResNet(depth: 101, widthPerGroup: 128, classes: classes, generator: &generator)
        case "mobilenet_v2":
            model = MobileNetV2(classes: classes, generator: &generator)
        case let efficientNet where efficientNet.hasPrefix("efficientnet_"):
            guard let built = EfficientNet(variant: String(name.dropFirst(13)), classes: classes, generator: &generator) else {
                throw UnknownArchitectureError(name: name)
            }
            model = built
        case let regNet where regNet.hasPrefix("regnet_"):
            guard let built = RegNet(variant: String(name.dropFirst(7)), classes: classes, generator: &generator) else {
                throw UnknownArchitectureError(name: name)
            }
            model = built
        case "mobilenet_v3_small", "mobilenet_v3_large":
            model = MobileNetV3(large: name.hasSuffix("large"), classes: classes, generator: &generator)
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
