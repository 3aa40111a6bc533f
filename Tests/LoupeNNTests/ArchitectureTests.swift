import Foundation
import LoupeIO
@_spi(Engine) import LoupeNN
import LoupeTensor
import LoupeTestSupport
import Testing

func fixtureURL(_ name: String) throws -> URL {
    try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent(name)
}

@Suite("torchvision architectures", .serialized)
struct ArchitectureTests {
    @Test("Logits equal PyTorch's for the same weights", arguments: ModelZoo.architectures)
    func logitsMatchPyTorch(_ name: String) throws {
        let model = try expectLogitsMatchPyTorch(name)
        // The summary taps every module on the way: each one the forward pass runs has its shape,
        // the CAM layer a feature map, and the totals are torchvision's.
        let summary = try ModelSummary(model: model, inputShape: [1, 3, Self.side(name), Self.side(name)])
        let shapes = Dictionary(summary.rows.map { ($0.path, $0.outputShape) }, uniquingKeysWith: { first, _ in first })
        let camLayer = try #require(model.camLayer)
        #expect(shapes[camLayer]??.count == 4, "\(name): \(camLayer) tapped as \(String(describing: shapes[camLayer]))")
        // 1000 scores (SqueezeNet's head gives them as [1, 1000, 1, 1]).
        #expect(shapes[try #require(model.head).path]??.reduce(1, *) == 1000, "\(name): head")
        #expect(summary.trainableParameters == (try Self.zooFacts())[name]?["num_params"] as? Int, "\(name)")
    }

    /// One architecture of each family with depthwise or grouped convolutions, squeeze-excitation
    /// or layer norms: the instruction-set runs (InstructionSetTests) repeat this one, so none of
    /// their kernels may fall to oneDNN's reference implementation on a smaller CPU.
    @Test func oneOfEachFamily() throws {
        for name in [
            "mobilenet_v3_small", "efficientnet_b0", "regnet_y_400mf", "resnext50_32x4d", "shufflenet_v2_x0_5", "mnasnet0_5",
            "densenet121", "convnext_tiny",
        ] {
            try expectLogitsMatchPyTorch(name)
        }
    }

    /// The side of the formula input for `name`: 64, or inception_v3's smallest, 75.
    static func side(_ name: String) -> Int { name == "inception_v3" ? 75 : 64 }

    @discardableResult
    private func expectLogitsMatchPyTorch(_ name: String) throws -> Module {
        let model = try formulaModel(name)
        let logits = withoutGradients { model(formulaInput(side: Self.side(name))) }
        let expected = try NPY.read(fixtureURL("logits/\(name).npy").path)
        #expect(logits.shape == expected.shape)
        let scale = expected.abs().max().scalar
        let worst = (logits - expected).abs().max().scalar
        #expect(worst <= 1e-4 * scale, "\(name): max |Δ| \(worst) against max |logit| \(scale)")
        return model
    }

    @Test func stateDictKeysAreTorchvisions() throws {
        let keys = try ModelZoo.make("resnet18").namedParameters().map(\.key)
        #expect(keys.count == 122)  // len(torchvision.models.resnet18().state_dict())
        #expect(keys.prefix(3) == ["conv1.weight", "bn1.weight", "bn1.bias"])
        #expect(keys.contains("layer2.0.downsample.1.running_var"))
        #expect(keys.last == "fc.bias")
        let vgg = try ModelZoo.make("vgg16").namedParameters().map(\.key)
        #expect(vgg.contains("features.28.weight") && vgg.contains("classifier.6.bias"))
    }

    /// torchvision's facts about each architecture's `DEFAULT` weights (Tools/fixtures/make_model_fixtures.py).
    static func zooFacts() throws -> [String: [String: Any]] {
        try #require(JSONSerialization.jsonObject(with: Data(contentsOf: fixtureURL("zoo.json"))) as? [String: [String: Any]])
    }

    /// Trainable parameters equal torchvision's `weights.meta["num_params"]` for every architecture.
    @Test func parameterTotalsMatchTorchvision() throws {
        let facts = try Self.zooFacts()
        #expect(Set(facts.keys) == Set(ModelZoo.architectures))
        for name in ModelZoo.architectures {
            let total = try ModelZoo.makeForLoading(name).namedParameters().filter { !$0.parameter.isBuffer }
                .map { $0.parameter.value.count }.reduce(0, +)
            #expect(total == facts[name]?["num_params"] as? Int, "\(name): \(total)")
        }
    }

    /// Each architecture carries its `DEFAULT` weights' resize, crop, interpolation, mean and std.
    @Test func preprocessingIsTheDefaultWeights() throws {
        for (name, fact) in try Self.zooFacts() {
            let preprocessing = ModelZoo.preprocessing(name)
            #expect(preprocessing.resize == fact["resize"] as? Int && preprocessing.crop == fact["crop"] as? Int, "\(name)")
            #expect(preprocessing.bicubic == (fact["interpolation"] as? String == "bicubic"), "\(name)")
            #expect(preprocessing.mean == (fact["mean"] as? [Double])?.map(Float.init), "\(name)")
            #expect(preprocessing.std == (fact["std"] as? [Double])?.map(Float.init), "\(name)")
        }
    }

    @Test func aModelBuiltUninitializedForAStrictLoadEqualsTheLoadedOne() throws {
        // Built without drawing weights, then loaded strictly: every parameter is the loaded one.
        let source = try ModelZoo.make("resnet18", classes: 10, seed: 7)
        let built = try ModelZoo.makeForLoading("resnet18", classes: 10)
        _ = try built.load(source.stateDict())
        let input = formulaInput()
        let (expected, loaded) = withoutGradients { (source(input), built(input)) }
        // Both share the loaded weights; the second run of a shape may take another kernel.
        #expect((loaded - expected).abs().max().scalar <= 1e-5 * expected.abs().max().scalar)
        // A load that leaves a parameter out is refused, so no undrawn value can be used.
        var partial = source.stateDict()
        partial["fc.bias"] = nil
        #expect(throws: StateDictReport.self) { _ = try ModelZoo.makeForLoading("resnet18", classes: 10).load(partial) }
    }

    /// The shape check computes what the forward pass gives, and refuses, by throwing, the shapes
    /// the forward pass would stop on: too few channels, or a size its downsampling cannot take.
    @Test("Output shapes from the shape rules", arguments: ModelZoo.architectures)
    func outputShapesFollowTheShapeRules(_ name: String) throws {
        let model = try ModelZoo.makeForLoading(name)
        let small = [2, 3, Self.side(name), Self.side(name) + 16]
        #expect(try model.outputShape(forInput: small) == withoutGradients { model(Tensor.zeros(small)) }.shape)
        #expect(try model.outputShape(forInput: [1, 3, 224, 224]) == [1, 1000])
        #expect(throws: ShapeError.self) { try model.outputShape(forInput: [1, 1, 64, 64]) }
        #expect(throws: ShapeError.self) { try model.outputShape(forInput: [1, 3, 224]) }
        if model is AlexNet || model is VGG || model is SqueezeNet {  // the others pad, and take even 1×1 pixels
            #expect(throws: ShapeError.self) { try model.outputShape(forInput: [1, 3, 8, 8]) }
        }
    }

    /// Every architecture declares its classifier head: the last child, which transfer learning
    /// replaces and frozen-feature training keeps trainable.
    @Test func everyArchitectureDeclaresItsHead() throws {
        for name in ModelZoo.architectures {
            let model = try ModelZoo.makeForLoading(name)
            #expect(model.head != nil && model.head === model.children.last?.module, "\(name)")
        }
    }

    /// Transfer learning on every architecture: the head replaced, the
    /// features frozen, one SGD step at 64 × 64 changes the head's weights and no other weight
    /// (batch norms' running statistics move in training mode, as PyTorch's do). Every architecture
    /// but SqueezeNet, whose head is a 1×1 convolution over positions rather than a linear block.
    @Test(arguments: ModelZoo.architectures.filter { !$0.hasPrefix("squeezenet") })
    func aReplacedHeadTrainsOneStep(_ name: String) throws {
        let model = try ModelZoo.make(name)
        let replaceable = try #require(model as? ReplaceableHead)
        var generator = RandomGenerator(seed: 3)
        try replaceable.replaceHead([LayerSpec("linear", outputs: 3)], generator: &generator)
        model.setTrainable(false)
        try #require(model.head).setTrainable(true)
        let before = model.stateDict()
        var trainer = Trainer(model: model, optimizer: SGD(learningRate: 0.1), batchSize: 2)
        let images = Tensor.normal([2, 3, Self.side(name), Self.side(name)], generator: &generator)
        let history = trainer.fit(images: images, labels: [0, 2], epochs: 1)
        #expect(history.count == 1 && history[0].trainingLoss.isFinite)
        let after = model.stateDict()
        let weights = model.namedParameters().filter { !$0.parameter.isBuffer }.map(\.key)
        let changed = weights.filter { key in after[key]!.scalars != before[key]!.scalars }
        let head = try #require(model.head).path + "."
        #expect(!changed.isEmpty && changed.allSatisfy { $0.hasPrefix(head) }, "\(changed.sorted())")
    }

    /// The published GoogLeNet file carries the auxiliary classifiers the pretrained model is built
    /// without: such a state_dict loads strictly (the classifiers are added), and they do not
    /// change the output.
    @Test func googLeNetLoadsAStateDictWithItsAuxiliaryClassifiers() throws {
        let plain = try formulaModel("googlenet")
        let full = try ModelZoo.make("googlenet")
        try #require(full as? AuxiliaryClassifiers).addAuxiliaryClassifiers()
        var state = full.stateDict()
        for (key, value) in plain.stateDict() { state[key] = value }
        #expect(state.keys.contains("aux1.fc2.weight") && state.keys.contains("aux2.conv.bn.running_var"))
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-googlenet-\(UUID()).safetensors")
        defer { try? FileManager.default.removeItem(at: file) }
        try SafeTensors.write(state, to: file.path)
        let loaded = try ModelFile.load(file.path, architecture: "googlenet")
        #expect(loaded.namedParameters().count == full.namedParameters().count)
        let input = formulaInput()
        let (expected, actual) = withoutGradients { (plain(input), loaded(input)) }
        #expect((actual - expected).abs().max().scalar <= 1e-5 * expected.abs().max().scalar)
    }

    @Test func unknownArchitectureListsTheKnownOnes() {
        #expect(throws: UnknownArchitectureError.self) { try ModelZoo.make("vgg17") }
        #expect(throws: UnknownArchitectureError.self) { try ModelZoo.make("resnet") }
        do {
            _ = try ModelZoo.make("lenet")
        } catch {
            #expect("\(error)".contains("resnet50") && "\(error)".contains("squeezenet1_1"))
        }
    }
}
