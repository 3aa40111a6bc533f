import LoupeTensor

/// torchvision's `BasicConv2d` (GoogLeNet's and Inception v3's): a bias-free convolution, a batch
/// norm with ε = 0.001, and a functional ReLU (no module of its own).
public final class BasicConv2d: Module {
    public let conv: Conv2d, bn: BatchNorm2d

    init(_ input: Int, _ output: Int, kernel: Size2D, stride: Size2D = 1, padding: Size2D = 0, generator: inout RandomGenerator) {
        conv = Conv2d(
            inputChannels: input, outputChannels: output, kernelSize: kernel, stride: stride, padding: padding, bias: false,
            generator: &generator)
        bn = BatchNorm2d(channels: output, epsilon: 1e-3)
        super.init()
    }

    public override var children: [(name: String, module: Module)] { [("conv", conv), ("bn", bn)] }

    public override func forward(_ input: Tensor) -> Tensor { conv.fused(input, norm: bn).relu() }

    public override var stages: [Module]? { [conv, bn, ReLU()] }

    public override var spatialFootprint: SpatialFootprint? { .chain([conv, bn]) }
}

/// Branches that each read the same input, their outputs concatenated along the channels
/// (GoogLeNet's and Inception v3's blocks, with torchvision's branch names).
public final class ConcatenatedBranches: Module {
    public let branches: [(name: String, module: Module)]

    init(_ branches: [(name: String, module: Module)]) {
        self.branches = branches
    }

    public override var children: [(name: String, module: Module)] { branches }

    public override func forward(_ input: Tensor) -> Tensor {
        Tensor.concatenate(branches.map { $0.module(input) }, along: 1)
    }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        let shapes = try branches.map { try $0.module.outputShape(forInput: shape) }
        guard let first = shapes.first, shapes.allSatisfy({ $0.count == first.count && $0.dropFirst(2) == first.dropFirst(2) })
        else { throw ShapeError("an inception block's branches give \(shapes) for input \(shape) and cannot be concatenated") }
        return [first[0], shapes.map { $0[1] }.reduce(0, +)] + first.dropFirst(2)
    }
}

/// The input transform torchvision's pretrained GoogLeNet and Inception v3 apply first
/// (`transform_input=True`): from ImageNet's normalization to the (x − 0.5)/0.5 those weights
/// were trained on, `x · std/0.5 + (mean − 0.5)/0.5` per channel.
func inputTransformed(_ input: Tensor) -> Tensor {
    let (mean, std): ([Double], [Double]) = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    return Tensor.concatenate(
        (0..<3).map { channel in
            input.slice(along: 1, from: channel, to: channel + 1) * Float(std[channel] / 0.5) + Float((mean[channel] - 0.5) / 0.5)
        }, along: 1)
}

/// GoogLeNet's auxiliary classifier (torchvision's `InceptionAux`): trained with the network, and
/// unused in evaluation; kept so that a full state_dict loads.
public final class GoogLeNetAux: Module {
    public let conv: BasicConv2d
    public let fc1: Linear, fc2: Linear
    let dropout = Dropout(probability: 0.7)

    init(input: Int, classes: Int, generator: inout RandomGenerator) {
        conv = BasicConv2d(input, 128, kernel: 1, generator: &generator)
        fc1 = Linear(inputFeatures: 2048, outputFeatures: 1024, generator: &generator)
        fc2 = Linear(inputFeatures: 1024, outputFeatures: classes, generator: &generator)
        super.init()
    }

    public override var children: [(name: String, module: Module)] {
        [("conv", conv), ("fc1", fc1), ("fc2", fc2), ("dropout", dropout)]
    }

    public override func forward(_ input: Tensor) -> Tensor {
        fc2(dropout(fc1(conv(input.adaptiveAveragePooled2D(outputSize: 4)).flattened(from: 1)).relu()))
    }
}

/// GoogLeNet (Szegedy et al., 2015) with torchvision's structure and names (`conv1` … `inception5b`,
/// `avgpool`, `dropout`, `fc`), and the input transform of its pretrained weights. Built without
/// the auxiliary classifiers, as torchvision's pretrained constructor returns it; a state_dict
/// that has them (`aux1.*`, `aux2.*`: the published file) gets them (``AuxiliaryClassifiers``).
public final class GoogLeNet: Module, ReplaceableHead, AuxiliaryClassifiers {
    public let conv1: BasicConv2d, conv2: BasicConv2d, conv3: BasicConv2d
    public let inceptions: [(name: String, module: ConcatenatedBranches)]
    public private(set) var aux1: GoogLeNetAux?, aux2: GoogLeNetAux?
    public private(set) var fc: Module
    let dropout = Dropout(probability: 0.2)
    let avgpool = AdaptiveAvgPool2d(outputSize: 1)
    let pools = [
        MaxPool2d(kernelSize: 3, stride: 2, ceilMode: true), MaxPool2d(kernelSize: 3, stride: 2, ceilMode: true),
        MaxPool2d(kernelSize: 3, stride: 2, ceilMode: true), MaxPool2d(kernelSize: 2, stride: 2, ceilMode: true),
    ]
    private let classes: Int
    public let headInputFeatures = 1024
    public override var head: Module? { fc }
    public func replaceHead(with head: Module) {
        fc = head
        assignPaths(path)
    }

    public var auxiliaryPrefixes: [String] { ["aux1.", "aux2."] }
    public func addAuxiliaryClassifiers() {
        var generator = RandomGenerator(seed: 0)
        (aux1, aux2) = (
            GoogLeNetAux(input: 512, classes: classes, generator: &generator),
            GoogLeNetAux(input: 528, classes: classes, generator: &generator)
        )
        assignPaths(path)
    }

    /// Input channels, then the output channels of the 1×1 branch, the second branch's reduction
    /// and 3×3, the third branch's reduction and convolution, and the pool projection
    /// (torchvision's `Inception` arguments; the paper's third branch is five by five, torchvision's
    /// and this one three by three, which its weights were trained with).
    static let blocks: [(String, [Int])] = [
        ("inception3a", [192, 64, 96, 128, 16, 32, 32]), ("inception3b", [256, 128, 128, 192, 32, 96, 64]),
        ("inception4a", [480, 192, 96, 208, 16, 48, 64]), ("inception4b", [512, 160, 112, 224, 24, 64, 64]),
        ("inception4c", [512, 128, 128, 256, 24, 64, 64]), ("inception4d", [512, 112, 144, 288, 32, 64, 64]),
        ("inception4e", [528, 256, 160, 320, 32, 128, 128]), ("inception5a", [832, 256, 160, 320, 32, 128, 128]),
        ("inception5b", [832, 384, 192, 384, 48, 128, 128]),
    ]

    public init(classes: Int = 1000, generator: inout RandomGenerator) {
        conv1 = BasicConv2d(3, 64, kernel: 7, stride: 2, padding: 3, generator: &generator)
        conv2 = BasicConv2d(64, 64, kernel: 1, generator: &generator)
        conv3 = BasicConv2d(64, 192, kernel: 3, padding: 1, generator: &generator)
        inceptions = GoogLeNet.blocks.map { name, c in
            (
                name,
                ConcatenatedBranches([
                    ("branch1", BasicConv2d(c[0], c[1], kernel: 1, generator: &generator)),
                    (
                        "branch2",
                        Sequential([
                            BasicConv2d(c[0], c[2], kernel: 1, generator: &generator),
                            BasicConv2d(c[2], c[3], kernel: 3, padding: 1, generator: &generator),
                        ])
                    ),
                    (
                        "branch3",
                        Sequential([
                            BasicConv2d(c[0], c[4], kernel: 1, generator: &generator),
                            BasicConv2d(c[4], c[5], kernel: 3, padding: 1, generator: &generator),
                        ])
                    ),
                    (
                        "branch4",
                        Sequential([
                            MaxPool2d(kernelSize: 3, stride: 1, padding: 1, ceilMode: true),
                            BasicConv2d(c[0], c[6], kernel: 1, generator: &generator),
                        ])
                    ),
                ])
            )
        }
        self.classes = classes
        fc = Linear(inputFeatures: 1024, outputFeatures: classes, generator: &generator)
        super.init()
    }

    private func inception(_ name: String) -> Module { inceptions.first { $0.name == name }!.module }

    public override var children: [(name: String, module: Module)] {
        let inception = { (names: [String]) in names.map { name in (name, self.inception(name) as Module) } }
        return [("conv1", conv1), ("maxpool1", pools[0]), ("conv2", conv2), ("conv3", conv3), ("maxpool2", pools[1])]
            + inception(["inception3a", "inception3b"]) + [("maxpool3", pools[2])]
            + inception(["inception4a", "inception4b", "inception4c", "inception4d", "inception4e"])
            + [("maxpool4", pools[3])] + inception(["inception5a", "inception5b"])
            + (aux1.map { [("aux1", $0 as Module)] } ?? []) + (aux2.map { [("aux2", $0 as Module)] } ?? [])
            + [("avgpool", avgpool), ("dropout", dropout), ("fc", fc)]
    }

    /// The convolutional part in the order the forward pass runs it (the auxiliary classifiers do
    /// not run), up to the average pooling.
    private var body: [Module] {
        [conv1, pools[0], conv2, conv3, pools[1]] + inceptions[0...1].map(\.module) + [pools[2]]
            + inceptions[2...6].map(\.module) + [pools[3]] + inceptions[7...8].map(\.module) + [avgpool]
    }

    public override var stages: [Module]? { body + [Flatten(), dropout, fc] }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == 4, shape[1] == 3 else { throw ShapeError("GoogLeNet takes [N, 3, H, W]; got \(shape)") }
        return try stages!.reduce(shape) { try $1.outputShape(forInput: $0) }
    }

    /// The last inception block's output (`model.inception5b`).
    public override var camLayer: String? { "inception5b" }

    public override func forward(_ input: Tensor) -> Tensor {
        fc(dropout(body.reduce(inputTransformed(input)) { $1($0) }.flattened(from: 1)))
    }
}

/// An architecture whose published state_dicts carry auxiliary classifiers it is built without
/// (GoogLeNet's `aux1`, `aux2`): loading such a file adds them first, so every key finds its
/// parameter; they do not run in evaluation.
public protocol AuxiliaryClassifiers: Module {
    /// The state_dict key prefixes of the auxiliary classifiers.
    var auxiliaryPrefixes: [String] { get }
    func addAuxiliaryClassifiers()
}
