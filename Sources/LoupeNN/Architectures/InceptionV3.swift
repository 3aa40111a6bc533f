import LoupeTensor

/// One of Inception v3's mixed blocks (torchvision's `InceptionA` … `InceptionE`): its
/// convolutions by torchvision's names, in its order, and the wiring of its kind. The pooling
/// branch's pooling is functional (average 3×3 stride 1 padded for A, C and E; max 3×3 stride 2
/// for the reductions B and D).
public final class InceptionV3Block: Module {
    enum Kind { case a, b, c, d, e }
    let kind: Kind
    public let convolutions: [(name: String, module: BasicConv2d)]

    init(_ kind: Kind, input: Int, poolFeatures: Int = 0, channels7x7: Int = 0, generator: inout RandomGenerator) {
        self.kind = kind
        typealias Spec = (String, Int, Int, Size2D, Size2D, Size2D)  // name, in, out, kernel, stride, padding
        let c7 = channels7x7
        let row7: Size2D = Size2D(1, 7), column7: Size2D = Size2D(7, 1), row3: Size2D = Size2D(1, 3), column3 = Size2D(3, 1)
        let specs: [Spec] =
            switch kind {
            case .a:
                [
                    ("branch1x1", input, 64, 1, 1, 0), ("branch5x5_1", input, 48, 1, 1, 0), ("branch5x5_2", 48, 64, 5, 1, 2),
                    ("branch3x3dbl_1", input, 64, 1, 1, 0), ("branch3x3dbl_2", 64, 96, 3, 1, 1),
                    ("branch3x3dbl_3", 96, 96, 3, 1, 1), ("branch_pool", input, poolFeatures, 1, 1, 0),
                ]
            case .b:
                [
                    ("branch3x3", input, 384, 3, 2, 0), ("branch3x3dbl_1", input, 64, 1, 1, 0),
                    ("branch3x3dbl_2", 64, 96, 3, 1, 1), ("branch3x3dbl_3", 96, 96, 3, 2, 0),
                ]
            case .c:
                [
                    ("branch1x1", input, 192, 1, 1, 0), ("branch7x7_1", input, c7, 1, 1, 0),
                    ("branch7x7_2", c7, c7, row7, 1, Size2D(0, 3)), ("branch7x7_3", c7, 192, column7, 1, Size2D(3, 0)),
                    ("branch7x7dbl_1", input, c7, 1, 1, 0), ("branch7x7dbl_2", c7, c7, column7, 1, Size2D(3, 0)),
                    ("branch7x7dbl_3", c7, c7, row7, 1, Size2D(0, 3)), ("branch7x7dbl_4", c7, c7, column7, 1, Size2D(3, 0)),
                    ("branch7x7dbl_5", c7, 192, row7, 1, Size2D(0, 3)), ("branch_pool", input, 192, 1, 1, 0),
                ]
            case .d:
                [
                    ("branch3x3_1", input, 192, 1, 1, 0), ("branch3x3_2", 192, 320, 3, 2, 0),
                    ("branch7x7x3_1", input, 192, 1, 1, 0), ("branch7x7x3_2", 192, 192, row7, 1, Size2D(0, 3)),
                    ("branch7x7x3_3", 192, 192, column7, 1, Size2D(3, 0)), ("branch7x7x3_4", 192, 192, 3, 2, 0),
                ]
            case .e:
                [
                    ("branch1x1", input, 320, 1, 1, 0), ("branch3x3_1", input, 384, 1, 1, 0),
                    ("branch3x3_2a", 384, 384, row3, 1, Size2D(0, 1)), ("branch3x3_2b", 384, 384, column3, 1, Size2D(1, 0)),
                    ("branch3x3dbl_1", input, 448, 1, 1, 0), ("branch3x3dbl_2", 448, 384, 3, 1, 1),
                    ("branch3x3dbl_3a", 384, 384, row3, 1, Size2D(0, 1)), ("branch3x3dbl_3b", 384, 384, column3, 1, Size2D(1, 0)),
                    ("branch_pool", input, 192, 1, 1, 0),
                ]
            }
        convolutions = specs.map { name, input, output, kernel, stride, padding in
            (name, BasicConv2d(input, output, kernel: kernel, stride: stride, padding: padding, generator: &generator))
        }
        super.init()
    }

    public override var children: [(name: String, module: Module)] { convolutions.map { ($0.name, $0.module as Module) } }

    private func run(_ name: String, _ input: Tensor) -> Tensor { convolutions.first { $0.name == name }!.module(input) }

    private func chain(_ names: [String], _ input: Tensor) -> Tensor { names.reduce(input) { run($1, $0) } }

    public override func forward(_ x: Tensor) -> Tensor {
        let averaged = { x.averagePooled2D(kernelSize: 3, stride: 1, padding: 1) }
        let maximum = { x.maxPooled2D(kernelSize: 3, stride: 2) }
        let branches: [Tensor]
        switch kind {
        case .a:
            branches = [
                run("branch1x1", x), chain(["branch5x5_1", "branch5x5_2"], x),
                chain(["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"], x), run("branch_pool", averaged()),
            ]
        case .b:
            branches = [run("branch3x3", x), chain(["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"], x), maximum()]
        case .c:
            branches = [
                run("branch1x1", x), chain(["branch7x7_1", "branch7x7_2", "branch7x7_3"], x),
                chain(["branch7x7dbl_1", "branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5"], x),
                run("branch_pool", averaged()),
            ]
        case .d:
            branches = [
                chain(["branch3x3_1", "branch3x3_2"], x),
                chain(["branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4"], x), maximum(),
            ]
        case .e:
            let reduced = run("branch3x3_1", x), doubled = chain(["branch3x3dbl_1", "branch3x3dbl_2"], x)
            branches = [
                run("branch1x1", x),
                Tensor.concatenate([run("branch3x3_2a", reduced), run("branch3x3_2b", reduced)], along: 1),
                Tensor.concatenate([run("branch3x3dbl_3a", doubled), run("branch3x3dbl_3b", doubled)], along: 1),
                run("branch_pool", averaged()),
            ]
        }
        return Tensor.concatenate(branches, along: 1)
    }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == 4 else { throw ShapeError("an inception block needs [N, C, H, W] input; got \(shape)") }
        let shapes = { (names: [String]) in try names.reduce(shape) { try self.convolution($1).outputShape(forInput: $0) } }
        let pooled = { (stride: Int, padding: Int) in
            try ShapeRules.pooling(
                input: shape, kernel: 3, stride: Size2D(integerLiteral: stride), padding: Size2D(integerLiteral: padding),
                ceilMode: false)
        }
        let averaged = { try self.convolution("branch_pool").outputShape(forInput: pooled(1, 1)) }
        let parts: [[Int]]
        switch kind {
        case .a:
            parts = [
                try shapes(["branch1x1"]), try shapes(["branch5x5_1", "branch5x5_2"]),
                try shapes(["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"]), try averaged(),
            ]
        case .b:
            parts = [
                try shapes(["branch3x3"]), try shapes(["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"]), try pooled(2, 0),
            ]
        case .c:
            parts = [
                try shapes(["branch1x1"]), try shapes(["branch7x7_1", "branch7x7_2", "branch7x7_3"]),
                try shapes(["branch7x7dbl_1", "branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5"]),
                try averaged(),
            ]
        case .d:
            parts = [
                try shapes(["branch3x3_1", "branch3x3_2"]),
                try shapes(["branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4"]), try pooled(2, 0),
            ]
        case .e:
            let reduced = try shapes(["branch3x3_1"]), doubled = try shapes(["branch3x3dbl_1", "branch3x3dbl_2"])
            let pair = { (input: [Int], names: [String]) in
                try names.map { try self.convolution($0).outputShape(forInput: input) }
            }
            parts =
                [try shapes(["branch1x1"])] + (try pair(reduced, ["branch3x3_2a", "branch3x3_2b"]))
                + (try pair(doubled, ["branch3x3dbl_3a", "branch3x3dbl_3b"])) + [try averaged()]
        }
        guard let first = parts.first, parts.allSatisfy({ $0.dropFirst(2) == first.dropFirst(2) }) else {
            throw ShapeError("an inception block's branches give \(parts) for input \(shape) and cannot be concatenated")
        }
        return [first[0], parts.map { $0[1] }.reduce(0, +)] + first.dropFirst(2)
    }

    private func convolution(_ name: String) -> BasicConv2d { convolutions.first { $0.name == name }!.module }
}

/// Inception v3's auxiliary classifier (torchvision's `InceptionAux`), part of the model as its
/// pretrained constructor builds it, and unused in evaluation.
public final class InceptionV3Aux: Module {
    public let conv0: BasicConv2d, conv1: BasicConv2d
    public let fc: Linear

    init(classes: Int, generator: inout RandomGenerator) {
        conv0 = BasicConv2d(768, 128, kernel: 1, generator: &generator)
        conv1 = BasicConv2d(128, 768, kernel: 5, generator: &generator)
        fc = Linear(inputFeatures: 768, outputFeatures: classes, generator: &generator)
        super.init()
    }

    public override var children: [(name: String, module: Module)] { [("conv0", conv0), ("conv1", conv1), ("fc", fc)] }

    public override func forward(_ input: Tensor) -> Tensor {
        let pooled = input.averagePooled2D(kernelSize: 5, stride: 3)
        return fc(conv1(conv0(pooled)).adaptiveAveragePooled2D(outputSize: 1).flattened(from: 1))
    }
}

/// Inception v3 (Szegedy et al., 2016) with torchvision's structure and names (`Conv2d_1a_3x3` …
/// `Mixed_7c`, `AuxLogits`, `avgpool`, `dropout`, `fc`) and the input transform of its pretrained
/// weights (`transform_input=True`). The auxiliary classifier is built, as the pretrained
/// constructor keeps it, and does not run in evaluation. Its smallest input is 75 × 75.
public final class InceptionV3: Module, ReplaceableHead {
    let stem: [(name: String, module: Module)]
    let mixed: [(name: String, module: InceptionV3Block)]
    public let auxLogits: InceptionV3Aux
    let avgpool = AdaptiveAvgPool2d(outputSize: 1)
    let dropout = Dropout(probability: 0.5)
    public private(set) var fc: Module
    public let headInputFeatures = 2048
    public override var head: Module? { fc }
    public func replaceHead(with head: Module) {
        fc = head
        assignPaths(path)
    }

    public init(classes: Int = 1000, generator: inout RandomGenerator) {
        stem = [
            ("Conv2d_1a_3x3", BasicConv2d(3, 32, kernel: 3, stride: 2, generator: &generator)),
            ("Conv2d_2a_3x3", BasicConv2d(32, 32, kernel: 3, generator: &generator)),
            ("Conv2d_2b_3x3", BasicConv2d(32, 64, kernel: 3, padding: 1, generator: &generator)),
            ("maxpool1", MaxPool2d(kernelSize: 3, stride: 2)),
            ("Conv2d_3b_1x1", BasicConv2d(64, 80, kernel: 1, generator: &generator)),
            ("Conv2d_4a_3x3", BasicConv2d(80, 192, kernel: 3, generator: &generator)),
            ("maxpool2", MaxPool2d(kernelSize: 3, stride: 2)),
        ]
        mixed = [
            ("Mixed_5b", InceptionV3Block(.a, input: 192, poolFeatures: 32, generator: &generator)),
            ("Mixed_5c", InceptionV3Block(.a, input: 256, poolFeatures: 64, generator: &generator)),
            ("Mixed_5d", InceptionV3Block(.a, input: 288, poolFeatures: 64, generator: &generator)),
            ("Mixed_6a", InceptionV3Block(.b, input: 288, generator: &generator)),
            ("Mixed_6b", InceptionV3Block(.c, input: 768, channels7x7: 128, generator: &generator)),
            ("Mixed_6c", InceptionV3Block(.c, input: 768, channels7x7: 160, generator: &generator)),
            ("Mixed_6d", InceptionV3Block(.c, input: 768, channels7x7: 160, generator: &generator)),
            ("Mixed_6e", InceptionV3Block(.c, input: 768, channels7x7: 192, generator: &generator)),
            ("Mixed_7a", InceptionV3Block(.d, input: 768, generator: &generator)),
            ("Mixed_7b", InceptionV3Block(.e, input: 1280, generator: &generator)),
            ("Mixed_7c", InceptionV3Block(.e, input: 2048, generator: &generator)),
        ]
        auxLogits = InceptionV3Aux(classes: classes, generator: &generator)
        fc = Linear(inputFeatures: 2048, outputFeatures: classes, generator: &generator)
        super.init()
    }

    public override var children: [(name: String, module: Module)] {
        stem + mixed[0..<8].map { ($0.name, $0.module as Module) } + [("AuxLogits", auxLogits)]
            + mixed[8...].map { ($0.name, $0.module as Module) } + [("avgpool", avgpool), ("dropout", dropout), ("fc", fc)]
    }

    /// The convolutional part as the forward pass runs it, up to the average pooling.
    private var body: [Module] { stem.map(\.module) + mixed.map(\.module) + [avgpool] }

    public override var stages: [Module]? { body + [dropout, Flatten(), fc] }

    public override func outputShape(forInput shape: [Int]) throws -> [Int] {
        guard shape.count == 4, shape[1] == 3 else { throw ShapeError("Inception v3 takes [N, 3, H, W]; got \(shape)") }
        return try stages!.reduce(shape) { try $1.outputShape(forInput: $0) }
    }

    /// The last mixed block's output (`model.Mixed_7c`).
    public override var camLayer: String? { "Mixed_7c" }

    public override func forward(_ input: Tensor) -> Tensor {
        fc(dropout(body.reduce(inputTransformed(input)) { $1($0) }).flattened(from: 1))
    }
}
