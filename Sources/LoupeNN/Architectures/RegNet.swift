import LoupeTensor

/// Modules applied in turn with names of their own, as an `nn.Sequential` built from an
/// `OrderedDict` (RegNet's `a`, `b`, `se`, `c`; its stages' `block1-0`).
public final class NamedSequential: Module {
    public let layers: [(name: String, module: Module)]

    init(_ layers: [(name: String, module: Module)]) {
        self.layers = layers
    }

    public override var children: [(name: String, module: Module)] { layers }

    public override func forward(_ input: Tensor) -> Tensor { layers.reduce(input) { $1.module($0) } }

    public override var stages: [Module]? { layers.map(\.module) }

    public override var spatialFootprint: SpatialFootprint? { .chain(layers.map(\.module)) }
}

/// RegNet's residual bottleneck block (torchvision's `ResBottleneckBlock`): `f` is a 1×1
/// convolution, a grouped 3×3 (strided in a stage's first block), squeeze-excitation for RegNetY
/// and a linear 1×1; `proj`, a strided 1×1 with a batch norm where the shape changes, carries the
/// input; ReLU after the sum.
public final class RegNetBlock: Module {
    public let proj: Sequential?
    public let f: NamedSequential
    let activation = ReLU()

    init(input: Int, output: Int, stride: Int, groups: Int, squeezeExcitation: Bool, generator: inout RandomGenerator) {
        proj =
            input != output || stride != 1
            ? convolutionNormActivation(input, output, kernel: 1, stride: stride, activation: nil, generator: &generator) : nil
        var layers: [(name: String, module: Module)] = [
            ("a", convolutionNormActivation(input, output, kernel: 1, activation: ReLU(), generator: &generator)),
            (
                "b",
                convolutionNormActivation(
                    output, output, stride: stride, groups: groups, activation: ReLU(), generator: &generator)
            ),
        ]
        if squeezeExcitation {
            let squeezed = Int((0.25 * Double(input)).rounded(.toNearestOrEven))
            layers.append(
                (
                    "se",
                    SqueezeExcitation(
                        channels: output, squeezed: squeezed, activation: ReLU(), gate: Sigmoid(), generator: &generator)
                ))
        }
        layers.append(("c", convolutionNormActivation(output, output, kernel: 1, activation: nil, generator: &generator)))
        f = NamedSequential(layers)
        super.init()
    }

    public override var children: [(name: String, module: Module)] {
        (proj.map { [("proj", $0 as Module)] } ?? []) + [("f", f), ("activation", activation)]
    }

    public override func forward(_ input: Tensor) -> Tensor {
        f.calledAdding(proj?(input) ?? input, to: input, then: activation)
    }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        try residualOutputShape(shape, branch: [f], shortcut: proj)
    }
}

/// RegNetX and RegNetY (Radosavovic et al., 2020) with torchvision's structure and names: `stem`
/// (a strided 3×3 to 32 channels), `trunk_output` (`block1` … `block4`, whose blocks are named
/// `block1-0`, …), global average pooling and `fc`.
public final class RegNet: Module, ReplaceableHead {
    public let stem: Sequential
    public let trunkOutput: NamedSequential
    let avgpool = AdaptiveAvgPool2d(outputSize: 1)
    public private(set) var fc: Module
    public let headInputFeatures: Int
    public override var head: Module? { fc }
    public func replaceHead(with head: Module) {
        fc = head
        assignPaths(path)
    }

    /// Each variant's stages (blocks, width, groups of its 3×3 convolutions), as torchvision's
    /// `BlockParams.from_init_params` quantizes them (bottleneck multiplier 1), and whether it
    /// is a RegNetY (squeeze-excitation at a quarter of each block's input width).
    static let variants: [String: (stages: [(blocks: Int, width: Int, groups: Int)], squeezeExcitation: Bool)] = [
        "x_400mf": ([(1, 32, 2), (2, 64, 4), (7, 160, 10), (12, 400, 25)], false),
        "x_800mf": ([(1, 64, 4), (3, 128, 8), (7, 288, 18), (5, 672, 42)], false),
        "x_1_6gf": ([(2, 72, 3), (4, 168, 7), (10, 408, 17), (2, 912, 38)], false),
        "x_3_2gf": ([(2, 96, 2), (6, 192, 4), (15, 432, 9), (2, 1008, 21)], false),
        "x_8gf": ([(2, 80, 1), (5, 240, 2), (15, 720, 6), (1, 1920, 16)], false),
        "x_16gf": ([(2, 256, 2), (6, 512, 4), (13, 896, 7), (1, 2048, 16)], false),
        "x_32gf": ([(2, 336, 2), (7, 672, 4), (13, 1344, 8), (1, 2520, 15)], false),
        "y_400mf": ([(1, 48, 6), (3, 104, 13), (6, 208, 26), (6, 440, 55)], true),
        "y_800mf": ([(1, 64, 4), (3, 144, 9), (8, 320, 20), (2, 784, 49)], true),
        "y_1_6gf": ([(2, 48, 2), (6, 120, 5), (17, 336, 14), (2, 888, 37)], true),
        "y_3_2gf": ([(2, 72, 3), (5, 216, 9), (13, 576, 24), (1, 1512, 63)], true),
        "y_8gf": ([(2, 224, 4), (4, 448, 8), (10, 896, 16), (1, 2016, 36)], true),
        "y_16gf": ([(2, 224, 2), (4, 448, 4), (11, 1232, 11), (1, 3024, 27)], true),
        "y_32gf": ([(2, 232, 1), (5, 696, 3), (12, 1392, 6), (1, 3712, 16)], true),
    ]

    /// - Parameter variant: `"x_400mf"` … `"y_32gf"` (torchvision's names without `regnet_`).
    init?(variant: String, classes: Int = 1000, generator: inout RandomGenerator) {
        guard let (stages, squeezeExcitation) = RegNet.variants[variant] else { return nil }
        stem = convolutionNormActivation(3, 32, stride: 2, activation: ReLU(), generator: &generator)
        var width = 32
        var trunk: [(name: String, module: Module)] = []
        for (index, stage) in stages.enumerated() {
            var blocks: [(name: String, module: Module)] = []
            for block in 0..<stage.blocks {
                blocks.append(
                    (
                        "block\(index + 1)-\(block)",
                        RegNetBlock(
                            input: block == 0 ? width : stage.width, output: stage.width, stride: block == 0 ? 2 : 1,
                            groups: stage.groups, squeezeExcitation: squeezeExcitation, generator: &generator)
                    ))
            }
            trunk.append(("block\(index + 1)", NamedSequential(blocks)))
            width = stage.width
        }
        trunkOutput = NamedSequential(trunk)
        headInputFeatures = width
        fc = Linear(inputFeatures: width, outputFeatures: classes, generator: &generator)
        super.init()
    }

    public override var children: [(name: String, module: Module)] {
        [("stem", stem), ("trunk_output", trunkOutput), ("avgpool", avgpool), ("fc", fc)]
    }

    public override var stages: [Module]? { [stem, trunkOutput, avgpool, Flatten(), fc] }

    /// The last stage's output (`model.trunk_output[-1]`).
    public override var camLayer: String? { "trunk_output.block4" }

    public override func forward(_ input: Tensor) -> Tensor {
        fc(avgpool(trunkOutput(stem(input))).flattened(from: 1))
    }
}
