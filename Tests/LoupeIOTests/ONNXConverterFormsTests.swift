import Foundation
import LoupeIO
import LoupeTensor
import Testing

/// Classifiers written the way converters write them (Tools/fixtures/make_onnx_converter_fixtures.py),
/// each loaded as a model and run against onnxruntime's output (max |Δ| ≤ 1e-4 · max |expected|).
@Suite("ONNX as converters write it")
struct ONNXConverterFormsTests {
    static let names = [
        "prelu", "constant-weights", "symbolic-size", "same-upper", "upsample-opset9", "upsample-linear-opset7",
        "batchnorm-spatial0-opset8",
    ]

    private static func folder(_ name: String) throws -> URL {
        try #require(Bundle.module.url(forResource: "Fixtures/onnx-converters", withExtension: nil)).appendingPathComponent(name)
    }

    private static func load(_ name: String) throws -> LoadedModel {
        try LoadedModel.load(try folder(name).appendingPathComponent("model.onnx").path, architecture: nil)
    }

    @Test(arguments: names)
    func logitsEqualOnnxruntime(_ name: String) throws {
        let model = try Self.load(name)
        let input = try NPY.read(try Self.folder(name).appendingPathComponent("input.npy").path)
        let expected = try NPY.read(try Self.folder(name).appendingPathComponent("output.npy").path)
        let logits = withoutGradients { model.module(input) }
        #expect(logits.shape == expected.shape)
        let worst = (logits - expected).abs().max().scalar, scale = expected.abs().max().scalar
        #expect(worst <= 1e-4 * scale, "\(name): max |Δ| \(worst) against max |expected| \(scale)")
    }

    /// Weights in Constant nodes are the model's parameters, as initializers are: the same count,
    /// the same values, by the Constant's output name.
    @Test func constantNodesAreParameters() throws {
        let stored = try Self.load("prelu").module.namedParameters()
        let constant = try Self.load("constant-weights").module.namedParameters()
        #expect(constant.map(\.key).sorted() == stored.map(\.key).sorted())
        #expect(constant.reduce(0) { $0 + $1.parameter.value.count } == stored.reduce(0) { $0 + $1.parameter.value.count })
        let graph = try #require(try Self.load("constant-weights").onnxModule?.graph)
        #expect(!graph.operations.contains("Constant"), "the Constant nodes became initializers")
    }

    private static func array(_ name: String, _ file: String) throws -> Tensor {
        try NPY.read(try folder(name).appendingPathComponent("\(file).npy").path)
    }

    private static func expectClose(_ actual: Tensor, _ expected: Tensor, _ what: String) {
        #expect(actual.shape == expected.shape, "\(what) shape")
        guard actual.shape == expected.shape else { return }
        let worst = (actual - expected).abs().max().scalar, scale = expected.abs().max().scalar
        #expect(worst <= 1e-4 * scale, "\(what): max |Δ| \(worst) against max |expected| \(scale)")
    }

    /// Three outputs (a feature map, the logits, an auxiliary head): the first shaped [N, K] is the
    /// default, `output` picks another, an unknown name is refused listing them all.
    @Test func theOutputToClassifyIsChosen() throws {
        let path = try Self.folder("head-three").appendingPathComponent("model.onnx").path
        let input = try Self.array("head-three", "input")
        let model = try LoadedModel.load(path, architecture: nil)
        let onnx = try #require(model.onnxModule)
        #expect(onnx.outputs.map(\.name) == ["features", "logits", "aux"])
        #expect(onnx.outputs.map(\.shape) == [[1, 6, 8, 8], [1, 5], [1, 3]])
        #expect(onnx.outputName == "logits" && model.classNames.count == 5)
        Self.expectClose(withoutGradients { model.module(input) }, try Self.array("head-three", "logits"), "logits")
        let aux = try LoadedModel.load(path, architecture: nil, output: "aux")
        Self.expectClose(withoutGradients { aux.module(input) }, try Self.array("head-three", "aux"), "aux")
        #expect(throws: LoupeIOError.self) { try LoadedModel.load(path, architecture: nil, output: "features") }
        do {
            _ = try LoadedModel.load(path, architecture: nil, output: "nope")
            Issue.record("an unknown output was accepted")
        } catch {
            #expect("\(error)".contains("'features' [1, 6, 8, 8], 'logits' [1, 5], 'aux' [1, 3]"), "\(error)")
        }
    }

    /// An output that comes out of Softmax (or LogSoftmax behind a Flatten): the model returns the
    /// logits before it, whose softmax is the graph's output and whose gradient is PyTorch's
    /// saliency of the logit; asked to keep the probabilities, it returns the graph's own output.
    @Test(arguments: [("head-softmax", "prob"), ("head-log-softmax", "log_prob")])
    func aSoftmaxHeadIsSetAside(_ name: String, _ output: String) throws {
        let path = try Self.folder(name).appendingPathComponent("model.onnx").path
        let input = try Self.array(name, "input")
        let model = try LoadedModel.load(path, architecture: nil)
        let onnx = try #require(model.onnxModule)
        #expect(onnx.probabilityHead == (name == "head-softmax" ? .softmax : .logSoftmax))
        #expect(onnx.scoreTensor != output && !onnx.returnsProbabilities)
        let logits = withoutGradients { model.module(input) }
        Self.expectClose(logits, try Self.array(name, "logits_reference"), "logits")
        let given = try Self.array(name, output)
        Self.expectClose(
            logits.softmax(along: 1), name == "head-softmax" ? given : given.exp(), "softmax of the logits")
        let target = logits[0].argmax()
        let saliency = gradient(at: input) { (model.module($0) * Tensor.oneHot([target], classes: 5)).sum() }
        Self.expectClose(saliency, try Self.array(name, "logit_saliency"), "saliency of the logit")
        let kept = try LoadedModel.load(path, architecture: nil, explainProbabilities: true)
        #expect(try #require(kept.onnxModule).returnsProbabilities)
        Self.expectClose(withoutGradients { kept.module(input) }, given, "the graph's output")
    }

    /// Symbolic batch, height and width: the size comes from the input given. An array runs at its
    /// own size; a photo needs `--resize HxW` (an exact size), or a metadata file declaring the
    /// input shape, and without either is refused in one line naming the three.
    @Test func symbolicSizesComeFromTheInput() throws {
        let path = try Self.folder("symbolic-size").appendingPathComponent("model.onnx").path
        let model = try Self.load("symbolic-size")
        let onnx = try #require(model.onnxModule)
        #expect(onnx.hasSymbolicSize && !model.inputSizeIsKnown)
        let array = try Self.folder("symbolic-size").appendingPathComponent("input.npy").path
        let input = try model.input(image: nil, array: array)
        #expect(input.shape == [1, 3, 10, 14])
        Self.expectClose(withoutGradients { model.module(input) }, try Self.array("symbolic-size", "output"), "logits at 10×14")
        let photo = try #require(Bundle.module.url(forResource: "Fixtures/orange-rgba", withExtension: "png")).path
        do {
            _ = try model.input(image: photo, array: nil)
            Issue.record("a photo was sized without a size")
        } catch {
            let text = "\(error)"
            #expect(text.contains("--input X.npy") && text.contains("--resize HxW") && text.contains("metadata"), "\(text)")
        }
        var exact = ImagePreprocessing(metadata: model.metadata)
        (exact.resize, exact.exactSize, exact.crop) = (nil, Size2D(10, 14), nil)
        #expect(try model.input(image: photo, array: nil, preprocessing: exact).shape == [1, 3, 10, 14])
        // A metadata file beside the graph declares the size.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-symbolic-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let copy = directory.appendingPathComponent("model.onnx")
        try FileManager.default.copyItem(at: URL(fileURLWithPath: path), to: copy)
        try Data(#"{"inputShape": [3, 16, 20], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}"#.utf8).write(
            to: directory.appendingPathComponent("model.json"))
        let declared = try LoadedModel.load(copy.path, architecture: nil)
        #expect(declared.inputSizeIsKnown && declared.metadata.inputShape == [3, 16, 20])
        #expect(try declared.input(image: photo, array: nil).shape == [1, 3, 16, 20])
    }
}
