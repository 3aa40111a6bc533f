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
        "faithfulness-correlation": ["runs": 30, "subset": 1152], "max-sensitivity": ["samples": 8],
        "avg-sensitivity": ["samples": 8],
    ]

    /// The fixture's box, (x0, y0, x1, y1) in input pixels.
    static let box: [Double] = [10, 12, 30, 36]

    /// The references' random draws, replayed in the order they were made (from the files the
    /// fixture script records), and its formula for MPRT's new weights.
    final class RecordedDraws: MetricDraws {
        var uniforms: [Float] = []
        var normals: [Float] = []
        var subsets: [[Int]] = []
        var other: Int?
        private(set) var used = (uniforms: 0, normals: 0, subsets: 0)

        func uniform(count: Int, low: Float, high: Float) -> [Float] {
            defer { used.uniforms += count }
            precondition(used.uniforms + count <= uniforms.count, "the metric draws more uniform values than recorded")
            return Array(uniforms[used.uniforms..<(used.uniforms + count)])
        }

        func normal(count: Int) -> [Float] {
            defer { used.normals += count }
            precondition(used.normals + count <= normals.count, "the metric draws more normal values than recorded")
            return Array(normals[used.normals..<(used.normals + count)])
        }

        func subset(size: Int, of population: Int) -> [Int] {
            defer { used.subsets += 1 }
            precondition(subsets[used.subsets].count == size, "the metric draws subsets of another size")
            return subsets[used.subsets]
        }

        func otherClass(than target: Int, classes: Int) -> Int { other! }

        /// weight[i] = sin(0.7·i + 0.3)/√fan_in, bias[i] = cos(1.3·i)/√fan_in, as the script's
        /// `formula_reset`.
        func randomize(_ layer: RandomizableLayer) {
            let weight = layer.parameters.first { $0.key.hasSuffix("weight") }!.parameter
            let scale = 1 / Double(weight.value.count / weight.shape[0]).squareRoot()
            for (key, parameter) in layer.parameters {
                let formula: (Double) -> Double = key.hasSuffix("weight") ? { sin(0.7 * $0 + 0.3) } : { cos(1.3 * $0) }
                parameter.value = Tensor(
                    shape: parameter.shape, scalars: (0..<parameter.value.count).map { Float(formula(Double($0)) * scale) })
            }
        }
    }

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
        let draws = folder.deletingLastPathComponent().appendingPathComponent("draws")
        let explain = ExplanationMetric.explainer(for: saliency, options: AttributionMethod.Options())
        let region = ImagePreprocessing(resize: nil, crop: nil, mean: [0], std: [1], channels: 1).region(
            fromMask: ImagePreprocessing.boxMask(width: 48, height: 48, boxes: [Self.box]))
        var compared = 0
        for (mapName, map) in maps {
            let scores = try #require(reference[mapName] as? [String: [String: Any]])
            for (metricName, expected) in scores {
                let metric = try #require(MetricRegistry.metric(named: metricName))
                let recorded = RecordedDraws()
                if metricName.hasPrefix("road-") {
                    recorded.normals = try NPY.read(draws.appendingPathComponent("\(metricName)-\(mapName).npy").path).scalars
                } else if metricName.hasSuffix("-sensitivity") {
                    recorded.uniforms = try NPY.read(draws.appendingPathComponent("sensitivity-noise.npy").path).scalars
                } else if metricName == "faithfulness-correlation" {
                    let subsets = try NPY.read(draws.appendingPathComponent("faithfulness-subsets.npy").path)
                    recorded.subsets = (0..<subsets.shape[0]).map { run in
                        subsets.scalars[(run * subsets.shape[1])..<((run + 1) * subsets.shape[1])].map { Int($0) }
                    }
                }
                recorded.other = expected["other"] as? Int
                let result = try metric.evaluate(
                    model, input: input, target: target, map: map, settings: Self.settings[metricName] ?? [:],
                    explain: explain, region: region, draws: recorded)
                // Every recorded draw was used, no more (draws past the end stop the test).
                #expect(recorded.used.normals == recorded.normals.count, "\(architecture) \(mapName) \(metricName)")
                #expect(recorded.used.uniforms == recorded.uniforms.count, "\(architecture) \(mapName) \(metricName)")
                #expect(recorded.used.subsets == recorded.subsets.count, "\(architecture) \(mapName) \(metricName)")
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
        #expect(compared > 0)
    }

    @Test func everyMetricHasAReference() throws {
        // Some metrics are checked on one model or one map only (see the fixture script): all
        // together cover the registry.
        let folder = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent(
            "metrics")
        var covered = Set<String>()
        for architecture in Self.fixtures {
            let reference = try #require(
                try JSONSerialization.jsonObject(
                    with: Data(contentsOf: folder.appendingPathComponent("\(architecture)/metrics.json"))) as? [String: Any])
            for map in ["saliency", "cam"] { covered.formUnion((reference[map] as? [String: Any])?.keys.map { $0 } ?? []) }
        }
        #expect(covered == Set(MetricRegistry.all.map(\.name)))
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

    @Test func faithfulnessCorrelationOfHandPickedSubsets() throws {
        // Sum model on [1, 2, 3], black = 1: removing pixel 0, 1 or 2 drops σ(6) by 0, σ(6) − σ(5)
        // and σ(6) − σ(4); the map's sums over those subsets are 0.1, 0.2 and 0.3.
        let draws = RecordedDraws()
        draws.subsets = [[0], [1], [2]]
        let result = try ExplanationMetric.faithfulnessCorrelation.evaluate(
            Self.sumModel(features: 3), input: Tensor(shape: [1, 1, 1, 3], scalars: [1, 2, 3]), target: 0,
            map: Tensor(shape: [1, 3], scalars: [0.1, 0.2, 0.3]), settings: ["runs": 3, "subset": 1], draws: draws)
        let drops = [0, Self.sigmoid(6) - Self.sigmoid(5), Self.sigmoid(6) - Self.sigmoid(4)].map(Double.init)
        let mean = drops.reduce(0, +) / 3
        let centred = drops.map { $0 - mean }
        // Pearson's r with sums −0.1, 0, 0.1 about their mean.
        let expected =
            (0.1 * (centred[2] - centred[0])) / ((0.02).squareRoot() * centred.map { $0 * $0 }.reduce(0, +).squareRoot())
        #expect(abs(Double(result.value) - expected) < 1e-5)
        #expect(zip(try #require(result.curve), drops).allSatisfy { abs(Double($0) - $1) < 1e-6 })
    }

    @Test func sensitivityIsTheRelativeChangeOfTheMap() throws {
        // An "explainer" that returns the input itself: the change is the noise, ‖n‖ / ‖x‖.
        let explain: ExplanationMetric.Explainer = { _, input, _ in input.reshaped([1, 2]) }
        let input = Tensor(shape: [1, 1, 1, 2], scalars: [3, 4])
        var changes: [Float] = []
        for metric in [ExplanationMetric.maxSensitivity, .avgSensitivity] {
            let draws = RecordedDraws()
            draws.uniforms = [0.1, -0.2, 0.2, 0.2]
            let result = try metric.evaluate(
                Self.pairModel(), input: input, target: 0, map: Tensor(shape: [1, 2], scalars: [3, 4]), settings: ["samples": 2],
                explain: explain, draws: draws)
            changes = try #require(result.curve)
            let expected = [Float(0.05).squareRoot() / 5, Float(0.08).squareRoot() / 5]
            #expect(zip(changes, expected).allSatisfy { abs($0 - $1) < 1e-6 })
            #expect(abs(result.value - (metric == .maxSensitivity ? expected[1] : (expected[0] + expected[1]) / 2)) < 1e-6)
        }
        #expect {
            try ExplanationMetric.maxSensitivity.evaluate(
                Self.pairModel(), input: input, target: 0, map: Tensor(shape: [1, 2], scalars: [3, 4]))
        } throws: {
            ($0 as? ExplanationError)?.description == "max-sensitivity explains again, and needs the method that made the map"
        }
    }

    @Test func localisationOfAHandWrittenMapAndRegion() throws {
        let model = Self.pairModel(), input = Tensor(shape: [1, 1, 2, 2], scalars: [0, 0, 0, 0])
        let region = Tensor(shape: [2, 2], scalars: [0, 1, 0, 0])
        func score(_ metric: ExplanationMetric, _ map: Tensor, _ region: Tensor) throws -> Float {
            try metric.evaluate(model, input: input, target: 0, map: map, region: region).value
        }
        let map = Tensor(shape: [2, 2], scalars: [0.1, 0.9, 0.2, -1])
        // The largest value, 0.9, lies in the region; the magnitudes 0.1, 0.9, 0.2, 1 put 0.9 of 2.2 there.
        #expect(try score(.pointingGame, map, region) == 1)
        #expect(abs(try score(.attributionLocalisation, map, region) - 0.9 / 2.2) < 1e-6)
        #expect(try score(.pointingGame, map, Tensor(shape: [2, 2], scalars: [1, 0, 1, 1])) == 0)
        #expect(try score(.pointingGame, map, Tensor.zeros([2, 2])).isNaN)
        // A pixel map is scored by its channel sum: 0.1 + 0.5 = 0.6 is now the largest, outside.
        let pixels = Tensor(shape: [2, 2, 2], scalars: [0.1, 0.3, 0.2, 0, 0.5, 0.2, 0.1, 0])
        let twoChannels = try ExplanationMetric.pointingGame.evaluate(
            model, input: Tensor.zeros([1, 2, 2, 2]), target: 0, map: pixels, region: region)
        #expect(twoChannels.value == 0)
        #expect {
            try ExplanationMetric.pointingGame.evaluate(model, input: input, target: 0, map: map)
        } throws: { ($0 as? ExplanationError)?.description == "pointing-game needs where the object is (boxes or a mask)" }
    }

    @Test func roadImputesRemovedPixelsFromTheirNeighbours() throws {
        // One row of three pixels, map [0.9, 0.1, 0.5], one percentile (the 50th: 0.5).
        // Most relevant first keeps pixel 1 (below 0.5): pixels 0 and 2 each have it as their only
        // neighbour, so both become 2, plus 0.1 × the recorded noise [0.5, −1]: [2.05, 2, 1.9].
        let (model, input) = (Self.sumModel(features: 3), Tensor(shape: [1, 1, 1, 3], scalars: [1, 2, 5]))
        let map = Tensor(shape: [1, 3], scalars: [0.9, 0.1, 0.5])
        let draws = RecordedDraws()
        draws.normals = [0.5, -1]
        let morf = try ExplanationMetric.roadMostRelevantFirst.evaluate(
            model, input: input, target: 0, map: map, settings: ["percentiles": 1, "noise": 0.1], draws: draws)
        #expect(abs(morf.value - (Self.sigmoid(5.95) - Self.sigmoid(8))) < 1e-6)
        // Least relevant first ranks 1 − map, [0.1, 0.9, 0.5]: pixel 0 is kept; pixel 1 is the mean
        // of pixel 0 and pixel 2, and pixel 2 equals pixel 1, so both become 1.
        let lerf = try ExplanationMetric.roadLeastRelevantFirst.evaluate(
            model, input: input, target: 0, map: map, settings: ["percentiles": 1, "noise": 0], draws: SeededMetricDraws(seed: 0))
        #expect(abs(lerf.value - (Self.sigmoid(3) - Self.sigmoid(8))) < 1e-6)
        // The diagonal neighbours' weights (1/12, against 1/6 across) are checked against
        // pytorch-grad-cam's imputer in metricsEqualTheirReferences.
    }

    @Test func mprtCorrelatesWithTheMapOfEachRandomizedLayer() throws {
        // One linear layer whose target row is [3, 2, 1]: saliency is that row. Randomized by the
        // recorded formula, the row becomes sin(0.3), sin(1.0), sin(1.7) over √3, which rises: ρ = −1.
        // The curve starts with the untouched model's correlation, 1.
        let model = Self.sumModel(features: 3)
        let linear = try #require(model.randomizableLayers.first?.parameters.first?.parameter)
        linear.value = Tensor(shape: [2, 3], scalars: [3, 2, 1, 0, 0, 0])
        let saliency = try #require(MethodRegistry.method(named: "saliency"))
        let explain: ExplanationMetric.Explainer = { model, input, target in
            try saliency.attribute(model, input: input, target: .classes([target])).attribution.reshaped([1, 3])
        }
        let result = try ExplanationMetric.mprt.evaluate(
            model, input: Tensor(shape: [1, 1, 1, 3], scalars: [1, 1, 1]), target: 0,
            map: Tensor(shape: [1, 3], scalars: [3, 2, 1]), explain: explain, draws: RecordedDraws())
        #expect(zip(try #require(result.curve), [1, -1]).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(abs(result.value) < 1e-6)
        #expect(linear.value.scalars == [3, 2, 1, 0, 0, 0])  // restored
    }

    @Test func randomLogitComparesWithTheMapOfTheDrawnClass() throws {
        // Maps by class; scikit-image 0.26's structural_similarity of these two nine-value rows
        // (data_range 1.6, their joint range) is 0.7497208714485168.
        let first: [Float] = [0.1, 0.5, -0.2, 0.9, 0.3, -0.7, 0.4, 0.8, -0.1]
        let second: [Float] = [0.2, 0.4, 0.1, 0.6, -0.3, -0.5, 0.9, 0.7, 0.0]
        var asked: [Int] = []
        let explain: ExplanationMetric.Explainer = { _, _, target in
            asked.append(target)
            return Tensor(shape: [1, 9], scalars: target == 1 ? second : first)
        }
        let draws = RecordedDraws()
        draws.other = 1
        let result = try ExplanationMetric.randomLogit.evaluate(
            Self.sumModel(features: 9), input: Tensor.zeros([1, 1, 1, 9]), target: 0,
            map: Tensor(shape: [1, 9], scalars: first), explain: explain, draws: draws)
        #expect(asked == [1])
        #expect(abs(Double(result.value) - 0.7497208714485168) < 1e-6)
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
