import LoupeExplain
import LoupeNN
import LoupeTensor
import Testing

/// Class activation maps on a model small enough to work out by hand.
@Suite("CAM methods on a toy model")
struct CAMTests {
    // features: 1×1 conv with the identity (2 → 2 channels), ReLU ("features.1"), global average pool;
    // classifier: one linear unit with weights w = [2, −1]. So score = Σ_c w_c · mean(A_c), and
    // ∂score/∂A_c = w_c / 4 at every position of the 2×2 map. For
    // x = A = [[1, 2], [3, 4]] and [[4, 0], [1, 1]]:
    //   Grad-CAM weights = mean gradient = [0.5, −0.25];
    //   cam = ReLU(0.5·A₀ − 0.25·A₁) = ReLU([−0.5, 1, 1.25, 1.75]) = [0, 1, 1.25, 1.75].
    //   Grad-CAM++: α_c = g²/(2g² + ΣA·g³): α₀ = 0.25/(0.5 + 10·0.125) = 1/7, α₁ = 2;
    //   weights = Σ_ij α·ReLU(g) = [4·(1/7)·0.5, 0] = [2/7, 0]; cam = (2/7)·A₀.
    //   Guided backprop: channel 0 gets max(0.5, 0) where x > 0, channel 1 max(−0.25, 0) = 0;
    //   guided Grad-CAM = guided ⊙ cam = [[0, 0.5, 0.625, 0.875], [0, 0, 0, 0]].
    private let input = Tensor(shape: [1, 2, 2, 2], scalars: [1, 2, 3, 4, 4, 0, 1, 1])

    private func model() throws -> Module {
        var generator = RandomGenerator(seed: 0)
        let model = try LayerStack(
            features: [
                LayerSpec("conv2d", outputs: 2, kernel: 1), LayerSpec("relu"),
                LayerSpec("adaptiveavgpool2d", outputs: 1),
            ],
            classifier: [LayerSpec("linear", outputs: 1)], inputShape: [2, 2, 2], generator: &generator)
        try model.load([
            "features.0.weight": Tensor(shape: [2, 2, 1, 1], scalars: [1, 0, 0, 1]), "features.0.bias": Tensor.zeros([2]),
            "classifier.0.weight": Tensor(shape: [1, 2], scalars: [2, -1]), "classifier.0.bias": Tensor.zeros([1]),
        ])
        return model
    }

    private func expectClose(_ actual: [Float], _ expected: [Float]) {
        #expect(actual.count == expected.count)
        for (a, e) in zip(actual, expected) { #expect(Swift.abs(a - e) < 1e-5, "\(actual) vs \(expected)") }
    }

    @Test func gradCAM() throws {
        let cam = try GradCAM().attribute(try model(), layer: "features.1", input: input, target: .classes([0]))
        #expect(cam.shape == [1, 2, 2])
        expectClose(cam.scalars, [0, 1, 1.25, 1.75])
    }

    @Test func gradCAMPlusPlus() throws {
        let cam = try GradCAMPlusPlus().attribute(try model(), layer: "features.1", input: input, target: .classes([0]))
        expectClose(cam.scalars, [1, 2, 3, 4].map { $0 * 2 / 7 })
    }

    @Test func guidedGradCAM() throws {
        let attribution = try GuidedGradCAM(layer: "features.1").attribute(try model(), input: input, target: .classes([0]))
        expectClose(attribution.scalars, [0, 0.5, 0.625, 0.875, 0, 0, 0, 0])
    }

    @Test func defaultLayerIsTheLastSpatialActivation() throws {
        // features.2 pools to 1×1, so the last output with more than one position is features.1.
        #expect(try model().defaultCAMLayer(inputShape: [1, 2, 2, 2]) == "features.1")
    }

    @Test func occlusionWithTheMeanBaseline() {
        // F = Σ pixels of [1, 2, 3, 4]; a 1×1 window replaces a pixel by the mean 2.5, so each
        // pixel's attribution is p − 2.5.
        let model = { (x: Tensor) in x.flattened(from: 1).sum(along: 1, keepingDimensions: true) }
        let image = Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4])
        let attribution = Occlusion(window: 1, stride: 1, baseline: .mean).attribute(model, input: image, target: .classes([0]))
        expectClose(attribution.scalars, [-1.5, -0.5, 0.5, 1.5])
    }
}
