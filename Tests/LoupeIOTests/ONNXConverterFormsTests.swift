import Foundation
import LoupeIO
import LoupeTensor
import Testing

/// Classifiers written the way converters write them (Tools/fixtures/make_onnx_converter_fixtures.py),
/// each loaded as a model and run against onnxruntime's output (max |Δ| ≤ 1e-4 · max |expected|).
@Suite("ONNX as converters write it")
struct ONNXConverterFormsTests {
    static let names = [
        "prelu", "constant-weights", "same-upper", "upsample-opset9", "upsample-linear-opset7", "batchnorm-spatial0-opset8",
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
}
