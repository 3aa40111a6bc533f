import Foundation
import LoupeExplain
import LoupeIO
import LoupeNN
import LoupeTensor
import Testing

/// Explanations of models that exist only as ONNX files: a small PyTorch CNN, and a graph
/// shaped as tf2onnx writes a Keras model (channels-last input); references from Captum and
/// onnxruntime (Tools/fixtures/make_onnx_fixtures.py).
@Suite("ONNX models")
struct ONNXModelTests {
    private func fixture(_ folder: String, _ name: String) throws -> URL {
        try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent(folder)
            .appendingPathComponent(name)
    }

    private func parameters(_ folder: String) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data(contentsOf: fixture(folder, "params.json"))) as? [String: Any])
    }

    private func expectMatch(_ actual: Tensor, _ expected: Tensor, _ what: String) {
        #expect(actual.shape == expected.shape, "\(what): shape \(actual.shape) vs \(expected.shape)")
        guard actual.shape == expected.shape else { return }
        let worst = (actual - expected).abs().max().scalar, scale = expected.abs().max().scalar
        #expect(worst <= 1e-4 * scale, "\(what): max |Δ| \(worst) against max |reference| \(scale)")
    }

    @Test func mprtRandomizesAnONNXGraphNodeByNodeFromTheTop() throws {
        let loaded = try LoadedModel.load(fixture("small-cnn", "small-cnn.onnx").path, architecture: nil)
        let model = loaded.module
        let layers = model.randomizableLayers
        // Every weight belongs to exactly one node, in execution order.
        #expect(layers.flatMap { $0.parameters.map(\.key) }.sorted() == model.namedParameters().map(\.key).sorted())
        #expect(layers.count >= 3)
        let before = model.namedParameters().map(\.parameter.value.scalars)
        let x = try NPY.read(fixture("small-cnn", "input.npy").path)
        let explain: ExplanationMetric.Explainer = { model, input, target in
            try AttributionMethod.saliency.attribute(model, input: input, target: .classes([target])).attribution[0]
        }
        let map = try explain(model, x, 0)
        let result = try ExplanationMetric.mprt.evaluate(model, input: x, target: 0, map: map, explain: explain)
        let curve = try #require(result.curve)
        #expect(curve.count == layers.count + 1 && abs(curve[0] - 1) < 1e-6)
        #expect(curve.last! < 0.9)
        #expect(model.namedParameters().map(\.parameter.value.scalars) == before)

        // A BatchNormalization node resets to scale 1, shift 0, mean 0, variance 1.
        let normalized = try LoadedModel.load(fixture("batch-norm-cnn", "unfolded.onnx").path, architecture: nil).module
        let norm = try #require(normalized.randomizableLayers.first { $0.ones.count == 2 })
        SeededMetricDraws(seed: 0).randomize(norm)
        let values = norm.parameters.map { (norm.ones.contains($0.key), Set($0.parameter.value.scalars)) }
        #expect(values.count == 4 && values.allSatisfy { $0.1 == [$0.0 ? 1 : 0] })
    }

    @Test func smallCNNMatchesOnnxruntimeAndCaptum() throws {
        let loaded = try LoadedModel.load(fixture("small-cnn", "small-cnn.onnx").path, architecture: nil)
        let settings = try parameters("small-cnn")
        let x = try NPY.read(fixture("small-cnn", "input.npy").path)
        let target = ExplanationTarget.classes([try #require(settings["target"] as? Int)])
        expectMatch(withoutGradients { loaded.module(x) }, try NPY.read(fixture("small-cnn", "logits.npy").path), "logits")
        var options = AttributionMethod.Options()
        options.steps = try #require(settings["steps"] as? Int)
        options.window = 4
        options.stride = 2
        options.layers = [try #require(settings["camTensor"] as? String)]
        for (method, reference) in [
            (AttributionMethod.saliency, "saliency"), (.inputXGradient, "input_x_gradient"),
            (.guidedBackprop, "guided_backprop"), (.deconvnet, "deconvnet"), (.integratedGradients, "ig_gausslegendre"),
            (.occlusion, "occlusion"), (.gradCAM, "grad_cam"), (.gradCAMPlusPlus, "grad_cam_plus_plus"),
        ] {
            let result = try method.attribute(loaded.module, input: x, target: target, options: options)
            let attribution = method.attributesToLayer ? result.attribution[0] : result.attribution
            expectMatch(attribution, try NPY.read(fixture("small-cnn", "\(reference).npy").path), method.name)
        }
        // Without a layer, Grad-CAM picks the last spatial tensor: the second ReLU's output.
        #expect(try loaded.module.defaultCAMLayer(inputShape: x.shape) == settings["defaultLayer"] as? String)
    }

    @Test func kerasStyleGraphPredictsAndExplainsInItsOwnLayout() throws {
        let loaded = try LoadedModel.load(fixture("keras-style", "keras-style.onnx").path, architecture: nil)
        let onnx = try #require(loaded.onnxModule)
        #expect(onnx.layout == .nhwc && onnx.inputShape == [3, 16, 16] && loaded.classNames.count == 5)
        // `--input` arrays are in the model's layout, [1, 16, 16, 3]; Loupe works in NCHW inside.
        let x = try loaded.input(image: nil, array: fixture("keras-style", "input.npy").path)
        #expect(x.shape == [1, 3, 16, 16])
        // The graph ends in Softmax: Loupe scores the logits before it, whose softmax is the graph's
        // output, and explains the logit; kept, the softmax gives the probability's saliency.
        let probabilities = try NPY.read(fixture("keras-style", "probabilities.npy").path)
        #expect(onnx.probabilityHead == .softmax && onnx.scoreTensor == "logits")
        expectMatch(withoutGradients { loaded.module(x) }.softmax(along: 1), probabilities, "probabilities")
        let target = try #require(try parameters("keras-style")["target"] as? Int)
        let saliency = try AttributionMethod.saliency.attribute(loaded.module, input: x, target: .classes([target])).attribution
        expectMatch(
            onnx.toModelLayout(saliency), try NPY.read(fixture("keras-style", "logit_saliency.npy").path),
            "saliency of the logit (H, W, C)")
        let kept = try LoadedModel.load(
            fixture("keras-style", "keras-style.onnx").path, architecture: nil, explainProbabilities: true)
        expectMatch(withoutGradients { kept.module(x) }, probabilities, "probabilities kept")
        let probabilitySaliency = try AttributionMethod.saliency.attribute(kept.module, input: x, target: .classes([target]))
            .attribution
        expectMatch(
            onnx.toModelLayout(probabilitySaliency), try NPY.read(fixture("keras-style", "saliency.npy").path),
            "saliency of the probability (H, W, C)")
        // Every tensor is a tap, by its ONNX name or its node's name.
        let (_, taps) = try loaded.module.withTaps(["relu", "sequential/dense/MatMul"]) { withoutGradients { loaded.module(x) } }
        #expect(taps["relu"]?.shape == [1, 4, 16, 16] && taps["sequential/dense/MatMul"]?.shape == [1, 5])
        #expect(throws: UnknownLayerError.self) { try loaded.module.withTaps(["relux"]) { loaded.module(x) } }
    }
}
