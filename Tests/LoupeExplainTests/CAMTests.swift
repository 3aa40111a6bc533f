import Foundation
import LoupeExplain
@_spi(Engine) import LoupeNN
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

    @Test func zooArchitecturesDeclareTheirCAMLayer() throws {
        // The last convolutional block's activation, by torchvision's module paths.
        let expected = [
            "alexnet": "features.11", "vgg11": "features.19", "vgg11_bn": "features.27", "vgg13": "features.23",
            "vgg13_bn": "features.33", "vgg16": "features.29", "vgg16_bn": "features.42", "vgg19": "features.35",
            "vgg19_bn": "features.51", "squeezenet1_0": "features.12", "squeezenet1_1": "features.12",
            "mobilenet_v2": "features.18", "mobilenet_v3_small": "features.12", "mobilenet_v3_large": "features.16",
            "efficientnet_v2_s": "features.7", "googlenet": "inception5b", "inception_v3": "Mixed_7c",
            "shufflenet_v2_x0_5": "conv5", "shufflenet_v2_x1_0": "conv5", "shufflenet_v2_x1_5": "conv5",
            "shufflenet_v2_x2_0": "conv5",
            "mnasnet0_5": "layers.16", "mnasnet0_75": "layers.16", "mnasnet1_0": "layers.16", "mnasnet1_3": "layers.16",
        ]
        for name in ModelZoo.architectures {
            let model = try ModelZoo.makeForLoading(name, classes: 10)
            let layer = try model.defaultCAMLayer(inputShape: [1, 3, 224, 224])
            let family: String =
                switch model {
                case is ResNet: "layer4"
                case is EfficientNet: "features.8"
                case is RegNet: "trunk_output.block4"
                case is DenseNet: "features"
                case is ConvNeXt: "features.7"
                default: "?"
                }
            #expect(layer == expected[name] ?? family, "\(name)")
            // An activation, or a block that ends in one.
            let last = model.module(at: layer).map { $0.flattenedStages.last ?? $0 }
            #expect(
                last is ReLU || last is ReLU6 || last is Hardswish || last is SiLU || model is ResNet || model is RegNet
                    || model is DenseNet || model is ConvNeXt || model is GoogLeNet || model is InceptionV3
                    || name.hasPrefix("squeezenet"), "\(name)")
        }
    }

    @Test func undeclaredDefaultSkipsPoolingOutputs() throws {
        // conv, ReLU, max pool, conv, ReLU, max pool, then the classifier: the default is the
        // second ReLU, not the pool after it (nor `features`, whose output is that pool's).
        var generator = RandomGenerator(seed: 0)
        let model = try LayerStack(
            features: [
                LayerSpec("conv2d", outputs: 4, kernel: 3, padding: 1), LayerSpec("relu"), LayerSpec("maxpool2d", kernel: 2),
                LayerSpec("conv2d", outputs: 4, kernel: 3, padding: 1), LayerSpec("relu"), LayerSpec("maxpool2d", kernel: 2),
            ],
            classifier: [LayerSpec("linear", outputs: 3)], inputShape: [1, 8, 8], generator: &generator)
        #expect(try model.defaultCAMLayer(inputShape: [1, 1, 8, 8]) == "features.4")
        #expect(
            try model.camLayerCandidates(inputShape: [1, 1, 8, 8]) == ["features.0", "features.1", "features.3", "features.4"])
    }

    @Test func occlusionWithTheMeanBaseline() {
        // F = Σ pixels of [1, 2, 3, 4]; a 1×1 window replaces a pixel by the mean 2.5, so each
        // pixel's attribution is p − 2.5.
        let model = { (x: Tensor) in x.flattened(from: 1).sum(along: 1, keepingDimensions: true) }
        let image = Tensor(shape: [1, 1, 2, 2], scalars: [1, 2, 3, 4])
        let attribution = Occlusion(window: 1, stride: 1, baseline: .mean).attribute(model, input: image, target: .classes([0]))
        expectClose(attribution.scalars, [-1.5, -0.5, 0.5, 1.5])
    }

    // A second toy where the gradient varies by position and activations can be negative, so the
    // methods differ: features.0 is the identity 1×1 conv (no ReLU), the classifier one linear unit
    // over the 8 flattened values with weights W. So the gradient at A is W itself:
    //   A₀ = [1, 2, 3, 4], A₁ = [4, 0, −1, 1];  g₀ = [1, −1, 1, 2], g₁ = [−1, 0.5, 1, 0];
    //   g·A: c₀ = [1, −2, 3, 8], c₁ = [−4, 0, −1, 0].
    private let signedInput = Tensor(shape: [1, 2, 2, 2], scalars: [1, 2, 3, 4, 4, 0, -1, 1])

    private func linearModel() throws -> Module {
        var generator = RandomGenerator(seed: 0)
        let model = try LayerStack(
            features: [LayerSpec("conv2d", outputs: 2, kernel: 1)], classifier: [LayerSpec("linear", outputs: 1)],
            inputShape: [2, 2, 2], generator: &generator)
        try model.load([
            "features.0.weight": Tensor(shape: [2, 2, 1, 1], scalars: [1, 0, 0, 1]), "features.0.bias": Tensor.zeros([2]),
            "classifier.0.weight": Tensor(shape: [1, 8], scalars: [1, -1, 1, 2, -1, 0.5, 1, 0]),
            "classifier.0.bias": Tensor.zeros([1]),
        ])
        return model
    }

    private func map(_ method: some CAMMethod) throws -> [Float] {
        try method.attribute(try linearModel(), layer: "features.0", input: signedInput, target: .classes([0])).scalars
    }

    @Test func positionwiseMethods() throws {
        // HiResCAM: ReLU(Σ_c g·A) = ReLU([−3, −2, 2, 8]).
        expectClose(try map(HiResCAM()), [0, 0, 2, 8])
        // Element-wise: Σ_c ReLU(g·A) = [1, 0, 3, 8] + [0, 0, 0, 0].
        expectClose(try map(GradCAMElementWise()), [1, 0, 3, 8])
        // LayerCAM: ReLU(Σ_c ReLU(g)·A) = ReLU([1, 0, 3, 8] + [0, 0, −1, 0]).
        expectClose(try map(LayerCAM()), [1, 0, 2, 8])
    }

    @Test func weightedMethods() throws {
        // Grad-CAM: weights = mean g = [0.75, 0.125]; 0.75·A₀ + 0.125·A₁.
        expectClose(try map(GradCAM()), [1.25, 1.5, 2.125, 3.125])
        // XGrad-CAM: weights Σ g·A / Σ A = [10/10, −5/4]; A₀ − 1.25·A₁ = [−4, 2, 4.25, 2.75].
        expectClose(try map(XGradCAM()), [0, 2, 4.25, 2.75])
    }

    @Test func eigenMethods() throws {
        // Eigen-CAM on A: rows (A₀, A₁) per position, centred on the column means (2.5, 1):
        // (−1.5, 3), (−0.5, −1), (0.5, −2), (1.5, 0). XᵀX = [[5, −5], [−5, 14]], whose largest
        // eigenvalue is λ = (19 + √181)/2 with eigenvector v ∝ (5, 5 − λ). The projection X·v has
        // its largest magnitude at position 0, negative, so Loupe's sign flips it; the ReLU keeps
        // only that position.
        let lambda = (19 + Float(181).squareRoot()) / 2
        let v = [Float(5), 5 - lambda].map { $0 / (25 + (5 - lambda) * (5 - lambda)).squareRoot() }
        let projection = [(-1.5, 3), (-0.5, -1), (0.5, -2), (1.5, 0)].map { -(Float($0.0) * v[0] + Float($0.1) * v[1]) }
        #expect(projection[0] > 3)
        expectClose(try map(EigenCAM()), projection.map { Swift.max($0, 0) })
        let direct = firstPrincipalProjection(signedInput)
        expectClose(direct.scalars, projection)
        // Eigen-Grad-CAM projects g·A instead; --eigen-smooth projects a method's contributions.
        let contributions = Tensor(shape: [1, 2, 2, 2], scalars: [1, -2, 3, 8, -4, 0, -1, 0])
        expectClose(try map(EigenGradCAM()), firstPrincipalProjection(contributions).relu().scalars)
        var options = AttributionMethod.Options()
        options.eigenSmooth = true
        let smoothed = try HiResCAM().attribute(
            try linearModel(), layer: "features.0", input: signedInput, target: .classes([0]), options: options)
        expectClose(smoothed.scalars, firstPrincipalProjection(contributions).relu().scalars)
    }

    @Test func scoreCAM() throws {
        // The layer is as large as the input, so the upsampling changes nothing. Masks are the
        // channels min–max scaled: m₀ = [0, 1/3, 2/3, 1], m₁ = (A₁ + 1)/5 = [1, 0.2, 0, 0.4].
        // The score of x·m is W·(x·m): for m₀, W₀·[0, 2/3, 2, 4] + W₁·[0, 0, −2/3, 1] = 28/3 − 2/3 = 26/3;
        // for m₁, W₀·[1, 0.4, 0, 1.6] + W₁·[4, 0, 0, 0.4] = 3.8 − 4 = −0.2. Weights: their softmax.
        let scores: [Float] = [26 / 3, -0.2]
        let exponentials = scores.map { Foundation.exp($0 - scores[0]) }
        let weights = exponentials.map { $0 / exponentials.reduce(0, +) }
        let (a0, a1): ([Float], [Float]) = ([1, 2, 3, 4], [4, 0, -1, 1])
        expectClose(try map(ScoreCAM()), (0..<4).map { Swift.max(weights[0] * a0[$0] + weights[1] * a1[$0], 0) })
        // In passes of one copy, with progress over every copy: the same map.
        var options = AttributionMethod.Options()
        options.copiesPerPass = 1
        var reports: [Int] = []
        let passes = try ScoreCAM().attribute(
            try linearModel(), layer: "features.0", input: signedInput, target: .classes([0]), options: options,
            progress: { done, all in reports.append(done * 10 + all) })
        expectClose(passes.scalars, try map(ScoreCAM()))
        #expect(reports == [12, 22])
    }

    @Test func scoreCAMScoresAConstantChannelOnce() throws {
        // Channel 1 is all zeros, so its mask is zeros and the masked input scores 0; channel 0's
        // mask [0, 1/3, 2/3, 1] leaves [0, 2/3, 2, 4], scoring 2 · mean = 10/3. Weights: softmax.
        let image = Tensor(shape: [1, 2, 2, 2], scalars: [1, 2, 3, 4, 0, 0, 0, 0])
        let w0 = 1 / (1 + Foundation.exp(-Float(10) / 3))
        let map = try ScoreCAM().attribute(try model(), layer: "features.1", input: image, target: .classes([0]))
        expectClose(map.scalars, [1, 2, 3, 4].map { $0 * w0 })
    }

    @Test func ablationCAM() throws {
        // On the first toy: the score is Σ_c w_c · mean(A_c) = 2·2.5 − 1·1.5 = 3.5; the sample's
        // minimum is 0, so a channel is ablated to 0. Without A₀ the score is −1.5, without A₁ 5:
        // weights (3.5 + 1.5)/3.5 = 10/7 and (3.5 − 5)/3.5 = −3/7; map ReLU(10/7·A₀ − 3/7·A₁).
        let expected: [Float] = [0, 20.0 / 7, 27.0 / 7, 37.0 / 7]
        // A layer stack is no chain of stages: the whole model runs with the layer's output replaced.
        let stack = try model()
        #expect(stack.stages(after: "features.1") == nil)
        expectClose(
            try AblationCAM().attribute(stack, layer: "features.1", input: input, target: .classes([0])).scalars, expected)
        // A chain: only the stages after the layer run on the ablated activations.
        var generator = RandomGenerator(seed: 0)
        let chain = Sequential([
            Conv2d(inputChannels: 2, outputChannels: 2, kernelSize: 1, generator: &generator), ReLU(),
            AdaptiveAvgPool2d(outputSize: 1), Flatten(), Linear(inputFeatures: 2, outputFeatures: 1, generator: &generator),
        ])
        chain.assignPaths()
        try chain.load([
            "0.weight": Tensor(shape: [2, 2, 1, 1], scalars: [1, 0, 0, 1]), "0.bias": Tensor.zeros([2]),
            "4.weight": Tensor(shape: [1, 2], scalars: [2, -1]), "4.bias": Tensor.zeros([1]),
        ])
        #expect(chain.stages(after: "1")?.count == 3)
        expectClose(try AblationCAM().attribute(chain, layer: "1", input: input, target: .classes([0])).scalars, expected)
    }

    @Test func eigenCAMNeedsNoGradients() throws {
        let without = try withoutGradients {
            try EigenCAM().attribute(try linearModel(), layer: "features.0", input: signedInput, target: .classes([0]))
        }
        expectClose(without.scalars, try map(EigenCAM()))
    }

    @Test func severalLayersAndAugmentationScaleAtTheInputsResolution() throws {
        // Grad-CAM's map [0, 1, 1.25, 1.75] min–max scaled: [0, 1, 1.25, 1.75] / 1.75. The same layer
        // twice averages two equal maps; the input is already the layer's 2×2 size.
        let scaled: [Float] = [0, 1, 1.25, 1.75].map { $0 / 1.75 }
        var options = AttributionMethod.Options()
        options.layers = ["features.1", "features.1"]
        let twice = try AttributionMethod.gradCAM.attribute(try model(), input: input, target: .classes([0]), options: options)
        #expect(twice.layers == ["features.1", "features.1"])
        expectClose(twice.attribution.scalars, scaled)
        // The toy's score is the mean over positions, so a mirrored input gives the mirrored map, and
        // ReLU with no biases makes 0.9·x give 0.9 times the map: after scaling, and mirrored back, each
        // of the six copies gives the same map. (Left mirrored, the three would average to another.)
        options.layers = ["features.1"]
        options.augSmooth = true
        let smoothed = try AttributionMethod.gradCAM.attribute(try model(), input: input, target: .classes([0]), options: options)
        expectClose(smoothed.attribution.scalars, scaled)
    }

    @Test func fullGrad() throws {
        // The toy with biases [−1.5, 0.5]: z₀ = x₀ − 1.5 = [−0.5, 0.5, 1.5, 2.5] (the ReLU stops the
        // first position), z₁ = x₁ + 0.5 > 0. ∂s/∂z₀ = 0.5·[0, 1, 1, 1], ∂s/∂z₁ = −0.25, and the same
        // at the input (the convolution is the identity).
        //   |x·∂s/∂x|: channel 0 [0, 1, 1.5, 2] scaled [0, 0.5, 0.75, 1]; channel 1 [1, 0, 0.25, 0.25],
        //   already in [0, 1].
        //   |b·∂s/∂z| at features.0: channel 0 [0, 0.75, 0.75, 0.75] scaled [0, 1, 1, 1]; channel 1 the
        //   constant 0.125, scaled to 0.
        //   Sum [1, 1.5, 2, 2.25], scaled: [0, 0.4, 0.8, 1].
        let toy = try model()
        try toy.load(["features.0.bias": Tensor(shape: [2], scalars: [-1.5, 0.5])], strict: false)
        #expect(toy.channelBiases.map(\.tap) == ["features.0"])
        let map = try FullGrad().attribute(toy, input: input, target: .classes([0]))
        #expect(map.shape == [1, 2, 2])
        expectClose(map.scalars, [0, 0.4, 0.8, 1])
    }
}
