import LoupeTensor

/// Builds torchvision's architectures by name.
public enum ModelZoo {
    /// Every architecture name Loupe builds, as torchvision spells them.
    public static let architectures: [String] = {
        let vgg = [11, 13, 16, 19].flatMap { ["vgg\($0)", "vgg\($0)_bn"] }
        let resnet = [18, 34, 50, 101, 152].map { "resnet\($0)" }
        let resnext = ["resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2"]
        let mobilenet = ["mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large"]
        let efficientnet = (0...7).map { "efficientnet_b\($0)" } + ["s", "m", "l"].map { "efficientnet_v2_\($0)" }
        let regnet = ["x", "y"].flatMap { kind in
            ["400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf"].map { "regnet_\(kind)_\($0)" }
        }
        let shufflenet = ["x0_5", "x1_0", "x1_5", "x2_0"].map { "shufflenet_v2_\($0)" }
        let mnasnet = ["0_5", "0_75", "1_0", "1_3"].map { "mnasnet\($0)" }
        let densenet = [121, 161, 169, 201].map { "densenet\($0)" }
        let convnext = ["tiny", "small", "base", "large"].map { "convnext_\($0)" }
        return ["alexnet"] + vgg + ["squeezenet1_0", "squeezenet1_1"] + resnet + resnext + mobilenet + efficientnet + regnet
            + shufflenet + mnasnet + densenet + convnext + ["googlenet", "inception_v3"]
    }()

    /// How the photos of an architecture's `DEFAULT` torchvision weights are prepared
    /// (`weights.transforms()`): the shorter side resized to `resize`, a centred `crop` × `crop`,
    /// bilinear or bicubic, then `(x − mean) / std` on values in `[0, 1]`.
    public struct Preprocessing: Equatable, Sendable {
        public var resize = 256, crop = 224
        public var bicubic = false
        public var mean: [Float] = [0.485, 0.456, 0.406], std: [Float] = [0.229, 0.224, 0.225]
    }

    /// The preprocessing of `name`'s `DEFAULT` weights: 256 before the 224 crop, bilinear, unless
    /// ``preprocessingExceptions`` says otherwise.
    public static func preprocessing(_ name: String) -> Preprocessing {
        var preprocessing = Preprocessing()
        if let (resize, crop, bicubic) = preprocessingExceptions[name] {
            (preprocessing.resize, preprocessing.crop, preprocessing.bicubic) = (resize, crop, bicubic)
        }
        if name == "efficientnet_v2_l" { (preprocessing.mean, preprocessing.std) = ([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]) }
        return preprocessing
    }

    /// Resize, crop and bicubic where the `DEFAULT` weights differ from 256, 224, bilinear: 232 for
    /// the weights of torchvision's second training recipe, EfficientNet's own resolutions.
    static let preprocessingExceptions: [String: (Int, Int, Bool)] = {
        var table: [String: (Int, Int, Bool)] = [
            "efficientnet_b0": (256, 224, true), "efficientnet_b1": (255, 240, false), "efficientnet_b2": (288, 288, true),
            "efficientnet_b3": (320, 300, true), "efficientnet_b4": (384, 380, true), "efficientnet_b5": (456, 456, true),
            "efficientnet_b6": (528, 528, true), "efficientnet_b7": (600, 600, true),
            "efficientnet_v2_s": (384, 384, false), "efficientnet_v2_m": (480, 480, false),
            "efficientnet_v2_l": (480, 480, true), "convnext_tiny": (236, 224, false), "convnext_small": (230, 224, false),
            "inception_v3": (342, 299, false),
        ]
        let secondRecipe =
            [
                "resnet50", "resnet101", "resnet152", "mobilenet_v2", "mobilenet_v3_large", "wide_resnet50_2", "wide_resnet101_2",
                "resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0",
                "mnasnet0_75", "mnasnet1_3", "convnext_base", "convnext_large",
            ] + architectures.filter { $0.hasPrefix("regnet_") }
        for name in secondRecipe { table[name] = (232, 224, false) }
        return table
    }()

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
        case let shuffleNet where shuffleNet.hasPrefix("shufflenet_v2_"):
            guard let built = ShuffleNetV2(width: String(name.dropFirst(14)), classes: classes, generator: &generator) else {
                throw UnknownArchitectureError(name: name)
            }
            model = built
        case let mnasNet where mnasNet.hasPrefix("mnasnet"):
            guard let alpha = ["0_5": 0.5, "0_75": 0.75, "1_0": 1.0, "1_3": 1.3][String(name.dropFirst(7))] else {
                throw UnknownArchitectureError(name: name)
            }
            model = MNASNet(alpha: alpha, classes: classes, generator: &generator)
        case let denseNet where denseNet.hasPrefix("densenet"):
            guard let depth = Int(name.dropFirst(8)), let built = DenseNet(depth: depth, classes: classes, generator: &generator)
            else { throw UnknownArchitectureError(name: name) }
            model = built
        case let convNeXt where convNeXt.hasPrefix("convnext_"):
            guard let built = ConvNeXt(size: String(name.dropFirst(9)), classes: classes, generator: &generator) else {
                throw UnknownArchitectureError(name: name)
            }
            model = built
        case "googlenet":
            model = GoogLeNet(classes: classes, generator: &generator)
        case "inception_v3":
            model = InceptionV3(classes: classes, generator: &generator)
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
