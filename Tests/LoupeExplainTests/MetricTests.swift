import Foundation
import LoupeExplain
import LoupeIO
import LoupeNN
import LoupeTensor
import LoupeTestSupport
import Testing

/// The explanation-quality metrics against their references (Tools/fixtures/make_metric_fixtures.py:
/// RISE's deletion and insertion written again in NumPy, Quantus 0.6.0 for the rest, on the maps
/// the script exports), and on toy models whose curves are written down by hand.
@Suite("Explanation-quality metrics")
struct MetricTests {
    static let fixtures = ["resnet18", "squeezenet1_1"]

    /// The settings the fixture script ran with.
    static let settings: [String: [String: Double]] = [
        "deletion": ["step": 48], "insertion": ["step": 48], "pixel-flipping": ["features": 144],
    ]

    @Test(arguments: fixtures)
    func metricsEqualTheirReferences(_ architecture: String) throws {
        let folder = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
            .appendingPathComponent("metrics/\(architecture)")
        let reference = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("metrics.json")))
                as? [String: Any])
        let model = try formulaModel(architecture)
        let input = formulaInput(side: 48)
        let target = try #require(reference["target"] as? Int)
        #expect(model.predictions(for: input)[0].argmax() == target)
        let gradCAM = try #require(MethodRegistry.method(named: "grad-cam"))
        let saliency = try #require(MethodRegistry.method(named: "saliency"))
        // What the metrics see: the pixel map as it is, the CAM map resized as F.interpolate does.
        let camMap = ExplanationMetric.metricMap(
            try NPY.read(folder.appendingPathComponent("cam.npy").path), of: gradCAM, inputShape: input.shape)
        let resized = try NPY.read(folder.appendingPathComponent("cam_resized.npy").path)
        #expect(camMap.shape == resized.shape)
        #expect(zip(camMap.scalars, resized.scalars).allSatisfy { abs($0 - $1) <= 1e-6 * (resized.scalars.map(abs).max() ?? 1) })
        let maps = [
            "saliency": ExplanationMetric.metricMap(
                try NPY.read(folder.appendingPathComponent("saliency.npy").path), of: saliency, inputShape: input.shape),
            // The exported resized map itself: a CAM resized to the input has plateaus and near-ties,
            // which rounding in the resize could reorder.
            "cam": resized,
        ]
        var compared = 0
        for (mapName, map) in maps {
            let scores = try #require(reference[mapName] as? [String: [String: Any]])
            for (metricName, expected) in scores {
                let metric = try #require(MetricRegistry.metric(named: metricName))
                let result = try metric.evaluate(
                    model, input: input, target: target, map: map, settings: Self.settings[metricName] ?? [:])
                let value = try #require(expected["value"] as? Double)
                #expect(abs(Double(result.value) - value) <= 1e-4 * abs(value), "\(architecture) \(mapName) \(metricName)")
                if let curve = expected["curve"] as? [Double] {
                    let ours = try #require(result.curve)
                    #expect(ours.count == curve.count, "\(architecture) \(mapName) \(metricName)")
                    let largest = curve.map(abs).max() ?? 1
                    if architecture == "resnet18" {
                        // The curve moves enough that a wrong order would show (squeezenet1_1's
                        // formula model is nearly uniform: its curves check the counts and levels).
                        #expect((curve.max()! - curve.min()!) > 0.01 * largest, "\(mapName) \(metricName)")
                    }
                    #expect(
                        zip(ours, curve).allSatisfy { abs(Double($0) - $1) <= 1e-4 * largest },
                        "\(architecture) \(mapName) \(metricName)")
                }
                compared += 1
            }
        }
        if architecture == "resnet18" {
            // Every metric has a reference here (pixel flipping on the saliency map only, and the
            // confidence terms on resnet18 only: see the fixture script).
            let covered = Set((reference["saliency"] as? [String: Any])?.keys.map { $0 } ?? [])
            #expect(covered == Set(MetricRegistry.all.map(\.name)))
        }
        #expect(compared > 0)
    }

    /// A two-pixel, one-channel model whose first class scores x₀ + x₁ and second 0, so the target's
    /// probability is σ(x₀ + x₁).
    static func pairModel() -> Module { sumModel(features: 2) }

    /// A model whose first class scores the sum of its `features` inputs and second 0.
    static func sumModel(features: Int) -> Module {
        var generator = RandomGenerator(seed: 0)
        let linear = Linear(inputFeatures: features, outputFeatures: 2, bias: false, generator: &generator)
        linear.weight.value = Tensor(
            shape: [2, features], scalars: Array(repeating: 1, count: features) + Array(repeating: 0, count: features))
        return Sequential([Flatten(), linear])
    }

    static func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }

    @Test func deletionOnAToyModelFollowsTheHandWrittenCurve() throws {
        let input = Tensor(shape: [1, 1, 1, 2], scalars: [1, 2])
        // Pixel 1 first: [1, 2] → [1, 0] → [0, 0].
        let result = try ExplanationMetric.deletion.evaluate(
            Self.pairModel(), input: input, target: 0, map: Tensor(shape: [1, 2], scalars: [0.1, 0.9]), settings: ["step": 1])
        let curve = [Self.sigmoid(3), Self.sigmoid(1), 0.5]
        #expect(zip(try #require(result.curve), curve).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(abs(result.value - (curve[0] / 2 + curve[1] + curve[2] / 2) / 2) < 1e-6)
        // The other order deletes pixel 0 first: [1, 2] → [0, 2] → [0, 0].
        let reversed = try ExplanationMetric.deletion.evaluate(
            Self.pairModel(), input: input, target: 0, map: Tensor(shape: [1, 2], scalars: [0.9, 0.1]), settings: ["step": 1])
        #expect(abs(try #require(reversed.curve)[1] - Self.sigmoid(2)) < 1e-6)
        // One step of both pixels: two points.
        let whole = try ExplanationMetric.deletion.evaluate(
            Self.pairModel(), input: input, target: 0, map: Tensor(shape: [1, 2], scalars: [0.1, 0.9]), settings: ["step": 2])
        #expect(whole.curve?.count == 2)
        #expect(abs(whole.value - (Self.sigmoid(3) + 0.5) / 2) < 1e-6)
    }

    @Test func insertionStartsFromRISEsBlur() throws {
        // SciPy's gaussian_filter(impulse, 5) on 11 × 11: centre, its neighbour, a corner.
        let kernel = risesBlur()
        #expect(abs(kernel[60] - 0.008832628216191647) < 1e-8)
        #expect(abs(kernel[61] - 0.008786325619569013) < 1e-8)
        #expect(abs(kernel[0] - 0.007736635408576913) < 1e-8)
        #expect(abs(kernel.reduce(0, +) - 1) < 1e-6)
        // Two pixels, zero-padded: each blurred value is the centre weight times itself plus its
        // neighbour's weight times the other.
        let input = Tensor(shape: [1, 1, 1, 2], scalars: [1, 2])
        let (centre, side) = (kernel[60], kernel[61])
        let blurred = [centre * 1 + side * 2, side * 1 + centre * 2]
        let result = try ExplanationMetric.insertion.evaluate(
            Self.pairModel(), input: input, target: 0, map: Tensor(shape: [1, 2], scalars: [0.1, 0.9]), settings: ["step": 1])
        let curve = [Self.sigmoid(blurred[0] + blurred[1]), Self.sigmoid(blurred[0] + 2), Self.sigmoid(3)]
        #expect(zip(try #require(result.curve), curve).allSatisfy { abs($0 - $1) < 1e-6 })
    }

    /// The blur kernel's 121 weights, read back through insertion's convolution on an impulse.
    func risesBlur() -> [Float] {
        var impulse = [Float](repeating: 0, count: 121)
        impulse[60] = 1
        return withoutGradients {
            Tensor(shape: [1, 1, 11, 11], scalars: impulse).convolved2D(
                with: ExplanationMetric.insertionBlurKernel(channels: 1), padding: 5
            )
            .scalars
        }
    }

    @Test func pixelFlippingReplacesValuesWithTheInputsMinimum() throws {
        // Quantus' "black" is the input's smallest value, 1: flipping pixel 1 gives [1, 1], and
        // flipping pixel 0 then changes nothing.
        let input = Tensor(shape: [1, 1, 1, 2], scalars: [1, 2])
        let result = try ExplanationMetric.pixelFlipping.evaluate(
            Self.pairModel(), input: input, target: 0, map: Tensor(shape: [1, 2], scalars: [0.1, 0.9]), settings: ["features": 1])
        #expect(zip(try #require(result.curve), [Self.sigmoid(2), Self.sigmoid(2)]).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(abs(result.value - Self.sigmoid(2)) < 1e-6)  // np.trapz of two equal points
    }

    @Test func confidenceChangeOfTheInputMaskedByTheMap() throws {
        let model = Self.pairModel()
        func score(_ metric: ExplanationMetric, _ input: [Float], _ map: [Float]) throws -> Float {
            try metric.evaluate(
                model, input: Tensor(shape: [1, 1, 1, 2], scalars: input), target: 0, map: Tensor(shape: [1, 2], scalars: map)
            ).value
        }
        // The map [0, 1] scales to [0, 1 / (1 + 1e-7)]: [1, 2] becomes [0, 2 / (1 + 1e-7)].
        let (original, masked) = (Self.sigmoid(3), Self.sigmoid(2 / (1 + 1e-7)))
        #expect(abs(try score(.averageDrop, [1, 2], [0, 1]) - 100 * (original - masked) / original) < 1e-4)
        #expect(try score(.averageIncrease, [1, 2], [0, 1]) == 0)
        // Masking [1, −2] by [1, 0] leaves [1, 0]: the score rises from −1 to 1.
        #expect(try score(.averageDrop, [1, -2], [1, 0]) == 0)
        #expect(try score(.averageIncrease, [1, -2], [1, 0]) == 100)
    }

    @Test func regionPerturbationSetsSquaresOnAGridPaddedAsQuantusPads() throws {
        // Three pixels in squares of 2: Quantus pads one column on the right, so the squares are
        // columns 0–1 and column 2. The map ranks the first square first (0.9 against 0.3); the
        // input's minimum is 1.
        let result = try ExplanationMetric.regionPerturbation.evaluate(
            Self.sumModel(features: 3), input: Tensor(shape: [1, 1, 1, 3], scalars: [1, 2, 3]), target: 0,
            map: Tensor(shape: [1, 3], scalars: [0.5, 0.4, 0.3]), settings: ["patch": 2])
        let drops = [Self.sigmoid(6) - Self.sigmoid(5), Self.sigmoid(6) - Self.sigmoid(3)]
        #expect(zip(try #require(result.curve), drops).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(abs(result.value - (drops[0] + drops[1]) / 3) < 1e-6)
        // At most `regions` squares.
        let first = try ExplanationMetric.regionPerturbation.evaluate(
            Self.sumModel(features: 3), input: Tensor(shape: [1, 1, 1, 3], scalars: [1, 2, 3]), target: 0,
            map: Tensor(shape: [1, 3], scalars: [0.5, 0.4, 0.3]), settings: ["patch": 2, "regions": 1])
        #expect(first.curve?.count == 1)
    }

    @Test func sparsenessAndComplexityOfHandWrittenMaps() throws {
        let model = Self.pairModel(), input = Tensor(shape: [1, 1, 2, 2], scalars: [0, 0, 0, 0])
        func score(_ metric: ExplanationMetric, _ values: [Float]) throws -> Float {
            try metric.evaluate(model, input: input, target: 0, map: Tensor(shape: [2, 2], scalars: values)).value
        }
        // Gini of [ε, ε, ε, 1 + ε] with ε = 1e-7: (−3ε − ε + ε + 3(1 + ε)) / (4(1 + 4ε)).
        let epsilon = 1e-7
        #expect(
            abs(Double(try score(.sparseness, [0, 0, 0, -5])) - (3 * (1 + epsilon) - 3 * epsilon) / (4 * (1 + 4 * epsilon)))
                < 1e-6)
        #expect(abs(try score(.sparseness, [2, -2, 2, 2])) < 1e-6)
        // Entropy: log 4 for a uniform map, 0 for one value.
        #expect(abs(try score(.complexity, [3, 3, -3, 3]) - Float(log(4.0))) < 1e-6)
        #expect(abs(try score(.complexity, [0, 0, 7, 0])) < 1e-6)
    }

    @Test func badSettingsAndMapsAreRefusedWithOneLine() {
        let model = Self.pairModel(), input = Tensor(shape: [1, 1, 1, 2], scalars: [1, 2])
        let map = Tensor(shape: [1, 2], scalars: [0.1, 0.9])
        let cases: [(ExplanationMetric, Tensor, [String: Double], String)] = [
            (.deletion, map, ["steps": 1], "deletion has no option 'steps' (it has step)"),
            (.deletion, map, ["step": 0], "deletion.step must be a whole number ≥ 1; got 0.0"),
            (.deletion, map, ["step": 1.5], "deletion.step must be a whole number ≥ 1; got 1.5"),
            (
                .sparseness, Tensor(shape: [2, 1], scalars: [1, 2]), [:],
                "sparseness: the map must be [1, 1, 2] or [1, 2]; got [2, 1]"
            ),
            (.complexity, Tensor(shape: [1, 2], scalars: [1, .nan]), [:], "complexity: the map has values that are not finite"),
        ]
        for (metric, map, settings, message) in cases {
            #expect {
                _ = try metric.evaluate(model, input: input, target: 0, map: map, settings: settings)
            } throws: { ($0 as? ExplanationError)?.description == message }
        }
    }

    @Test func everyMetricDeclaresADirectionAndDocumentedParameters() {
        #expect(Set(MetricRegistry.all.map(\.name)).count == MetricRegistry.all.count)
        for metric in MetricRegistry.all {
            #expect(!metric.summary.isEmpty)
            for parameter in metric.parameters { #expect(!parameter.summary.isEmpty) }
        }
        #expect(ExplanationMetric.deletion.direction == .lowerIsBetter)
        #expect(ExplanationMetric.insertion.direction == .higherIsBetter)
    }
}
