import LoupeExplain
import LoupeTensor
import Testing

/// Toy models whose attributions are worked out by hand.
@Suite("Gradient methods on a toy model")
struct GradientMethodTests {
    // scores = relu(x)·W for x = [[1, -2, 3]] and W = [[1, -1], [2, 0], [-1, 1]] (3 inputs → 2 classes).
    // Class 1's score is Σ relu(xᵢ)·W[i][1], so its gradient is W[:, 1]·[x > 0] = [-1, 0, 1].
    // Guided: max(W[:, 1], 0)·[x > 0] = [0, 0, 1]. Deconvnet class 0: max(W[:, 0], 0) = [1, 2, 0].
    // Input × gradient, class 1: [1, -2, 3] ⊙ [-1, 0, 1] = [-1, 0, 3].
    private let input = Tensor(shape: [1, 3], scalars: [1, -2, 3])
    private let weight = Tensor(shape: [3, 2], scalars: [1, -1, 2, 0, -1, 1])
    private func model(_ x: Tensor) -> Tensor { x.relu().matmul(weight) }

    @Test func saliency() {
        #expect(Saliency().attribute(model, input: input, target: .classes([1])).scalars == [-1, 0, 1])
    }

    @Test func inputXGradient() {
        #expect(InputXGradient().attribute(model, input: input, target: .classes([1])).scalars == [-1, 0, 3])
    }

    @Test func guidedBackpropagation() {
        #expect(GuidedBackprop().attribute(model, input: input, target: .classes([1])).scalars == [0, 0, 1])
    }

    @Test func deconvnet() {
        #expect(Deconvnet().attribute(model, input: input, target: .classes([0])).scalars == [1, 2, 0])
    }

    @Test func batchWithOneTargetPerSample() {
        let batch = Tensor(shape: [2, 3], scalars: [1, -2, 3, -1, 1, 1])
        // Row 0, class 0: W[:, 0]·[x > 0] = [1, 0, -1]. Row 1, class 1: [0, 0, 1].
        #expect(Saliency().attribute(model, input: batch, target: .classes([0, 1])).scalars == [1, 0, -1, 0, 0, 1])
    }

    @Test func customScoreFunction() {
        // Score = class 0 − class 1 = Σ relu(xᵢ)(W[i][0] − W[i][1]); gradient [2, 0, -2]·[x > 0] = [2, 0, -2].
        let target = ExplanationTarget.custom { output in
            output.slice(along: 1, from: 0, to: 1).squeezed(at: 1)
                - output.slice(along: 1, from: 1, to: 2).squeezed(at: 1)
        }
        #expect(Saliency().attribute(model, input: input, target: target).scalars == [2, 0, -2])
    }

    @Test func channelReductions() {
        let attribution = Tensor(shape: [1, 2, 1, 2], scalars: [1, -4, -3, 2])
        #expect(ChannelReduction.abs.apply(attribution).scalars == [4, 6])
        #expect(ChannelReduction.max.apply(attribution).scalars == [1, 2])
        #expect(ChannelReduction.absmax.apply(attribution).scalars == [3, 4])
    }
}

@Suite("Integrated gradients, SmoothGrad and occlusion on toy models")
struct PathAndPerturbationTests {
    @Test func integratedGradientsOfAQuadraticIsExact() {
        // F(x) = Σ xᵢ², baseline 0: the path integral gives xᵢ · ∫ 2αxᵢ dα = xᵢ², summing to F(x).
        let input = Tensor(shape: [1, 3], scalars: [1, -2, 0.5])
        let model = { (x: Tensor) in (x * x).sum(along: 1, keepingDimensions: true) }
        let (attribution, delta) = IntegratedGradients(steps: 8, rule: .gaussLegendre)
            .attribute(model, input: input, target: .classes([0]))
        for (value, expected) in zip(attribution.scalars, [1, 4, 0.25] as [Float]) { #expect(Swift.abs(value - expected) < 1e-5) }
        #expect(Swift.abs(delta[0]) < 1e-5)
    }

    @Test func gaussLegendreNodesMatchNumPy() {
        // numpy.polynomial.legendre.leggauss(3): nodes ±√(3/5), 0; weights 5/9, 8/9, 5/9.
        let integrator = IntegratedGradients(steps: 3, rule: .gaussLegendre)
        let (alphas, weights) = integrator.quadrature()
        let root = Float((3.0 / 5).squareRoot())
        for (a, e) in zip(alphas, [0.5 * (1 - root), 0.5, 0.5 * (1 + root)]) { #expect(Swift.abs(a - e) < 1e-6) }
        for (w, e) in zip(weights, [Float(5) / 18, Float(8) / 18, Float(5) / 18]) { #expect(Swift.abs(w - e) < 1e-6) }
    }

    @Test func smoothGradMeanOverSeedsConvergesToTheGradientOfALinearModel() {
        // For a linear model the gradient is the same at every noisy point: SmoothGrad = W.
        let weight = Tensor(shape: [4, 1], scalars: [1, -2, 3, 0.5])
        let model = { (x: Tensor) in x.matmul(weight) }
        let input = Tensor(shape: [1, 4], scalars: [0.1, 0.2, 0.3, 0.4])
        let tunnel = NoiseTunnel(Saliency(), samples: 8, noiseLevel: 0.5, seed: 3)
        #expect(tunnel.attribute(model, input: input, target: .classes([0])).scalars == [1, -2, 3, 0.5])
        // For F = Σ x², SmoothGrad = 2·(x + mean noise) → 2x as the samples grow; VarGrad → 4σ².
        let quadratic = { (x: Tensor) in (x * x).sum(along: 1, keepingDimensions: true) }
        var means: [Float] = []
        for seed in 0..<20 {
            let smooth = NoiseTunnel(Saliency(), samples: 50, noiseLevel: 0.5, seed: UInt64(seed))
                .attribute(quadratic, input: input, target: .classes([0]))
            means.append(smooth.scalars[3])
        }
        let average = means.reduce(0, +) / Float(means.count)
        #expect(Swift.abs(average - 0.8) < 0.03)  // 2 · 0.4
        let variance = NoiseTunnel(Saliency(), samples: 2000, noiseLevel: 0.5, aggregation: .vargrad, seed: 1)
            .attribute(quadratic, input: input, target: .classes([0]))
        // σ = 0.5 · (0.4 − 0.1) = 0.15, so 4σ² = 0.09.
        #expect(Swift.abs(variance.scalars[0] - 0.09) < 0.01)
    }

    @Test func occlusionOfASumModel() {
        // F = Σ pixels of a 1×1×4×4 image of ones. A 2×2 window (stride 2) removes 4 from F, so every
        // pixel, covered once, gets 4. With stride 1, every window removes 4 too, so again 4 everywhere.
        let input = Tensor.ones([1, 1, 4, 4])
        let model = { (x: Tensor) in x.flattened(from: 1).sum(along: 1, keepingDimensions: true) }
        for stride in [1, 2] {
            let attribution = Occlusion(window: 2, stride: stride).attribute(model, input: input, target: .classes([0]))
            #expect(attribution.scalars == Array(repeating: 4, count: 16))
        }
        // A baseline equal to the pixels changes nothing.
        let same = Occlusion(window: 2, stride: 2, baseline: .value(1)).attribute(model, input: input, target: .classes([0]))
        #expect(same.scalars == Array(repeating: 0, count: 16))
    }

    @Test func blurAveragingOfALinearModelIsItsWeight() {
        // A linear model has the same gradient at every blurred copy, so the average is the weight.
        let weight = randomWeight()
        let model = { (x: Tensor) in x.flattened(from: 1).matmul(weight) }
        let input = Tensor(shape: [1, 1, 4, 4], scalars: (0..<16).map { Float($0) / 16 })
        let averaged = NoiseTunnel(Saliency()).attribute(model, input: input, target: .classes([0]), blurSigmas: [1, 3, 27])
        for (a, w) in zip(averaged.scalars, weight.scalars) { #expect(Swift.abs(a - w) < 1e-6) }
        // For F = Σ x², the blur average is 2·mean of the blurred images.
        let quadratic = { (x: Tensor) in (x * x).flattened(from: 1).sum(along: 1, keepingDimensions: true) }
        let expected = (input.gaussianBlurred(sigma: 1, kernelSize: 5) * 2)
        let single = NoiseTunnel(Saliency()).attribute(quadratic, input: input, target: .classes([0]), blurSigmas: [1])
        for (a, e) in zip(single.scalars, expected.scalars) { #expect(Swift.abs(a - e) < 1e-5) }
    }

    private func randomWeight() -> Tensor {
        var generator = RandomGenerator(seed: 9)
        return Tensor.normal([16, 1], generator: &generator)
    }
}
