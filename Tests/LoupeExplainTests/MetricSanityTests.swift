import Foundation
import LoupeExplain
import LoupeIO
import LoupeNN
import LoupeTensor
import Testing

/// Sanity checks that a broken metric or method would fail, on the bundled Fashion-MNIST model over
/// its twelve sample images: saliency must depend on the model's weights (Adebayo et al.'s MPRT),
/// and Grad-CAM must point at what the model uses better than chance (deletion).
@Suite("Metric sanity checks on the Fashion-MNIST model")
struct MetricSanityTests {
    let model: Module
    let inputs: [Tensor]

    init() throws {
        let loaded = try LoadedModel.load("Models/fashion-cnn.safetensors", architecture: nil)
        model = loaded.module
        let folder = "Samples/fashion"
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".png") }.sorted()
        inputs = try names.map { try loaded.photoInput("\(folder)/\($0)").input }
        #expect(inputs.count == 12)
    }

    func top(_ input: Tensor) -> Int { model.predictions(for: input)[0].argmax() }

    @Test func saliencyLosesItsRankCorrelationAsTheModelIsRandomized() throws {
        let saliency = AttributionMethod.saliency
        let explain = ExplanationMetric.explainer(for: saliency, options: AttributionMethod.Options())
        var (afterTop, afterAll) = (0.0, 0.0)
        for input in inputs {
            let target = top(input)
            let map = try explain(model, input, target)
            let curve = try #require(
                try ExplanationMetric.mprt.evaluate(model, input: input, target: target, map: map, explain: explain).curve)
            afterTop += Double(curve[1]) / Double(inputs.count)
            afterAll += Double(curve.last!) / Double(inputs.count)
        }
        // The curve: the untouched model, then each layer from the top; the last has every layer reset.
        #expect(afterAll < 0.5, "mean rank correlation with every layer randomized: \(afterAll)")
        #expect(afterAll < afterTop, "after every layer \(afterAll), after the top layer \(afterTop)")
    }

    @Test func gradCAMDeletesFasterThanARandomMap() throws {
        var generator = RandomGenerator(seed: 0)
        var (gradCAM, random) = (0.0, 0.0)
        for input in inputs {
            let target = top(input)
            let cam = ExplanationMetric.metricMap(
                try AttributionMethod.gradCAM.attribute(model, input: input, target: .classes([target])).attribution,
                of: .gradCAM, inputShape: input.shape)
            let noise = Tensor.uniform(cam.shape, low: 0, high: 1, generator: &generator)
            func deletion(_ map: Tensor) throws -> Double {
                Double(
                    try ExplanationMetric.deletion.evaluate(model, input: input, target: target, map: map, settings: ["step": 28])
                        .value)
            }
            gradCAM += try deletion(cam)
            random += try deletion(noise)
        }
        #expect(gradCAM < random, "mean deletion AUC: Grad-CAM \(gradCAM / 12), a uniform random map \(random / 12)")
    }
}
