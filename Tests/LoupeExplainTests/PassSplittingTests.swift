import LoupeExplain
import LoupeNN
import LoupeTensor
import Testing

/// A resnet18 for 10 classes and 5 random 64×64 inputs, for the tests that run a batch in
/// different ways.
func smallBatch() throws -> (model: Module, input: Tensor) {
    var generator = RandomGenerator(seed: 8)
    return (try ModelZoo.make("resnet18", classes: 10, seed: 3), Tensor.normal([5, 3, 64, 64], generator: &generator))
}

/// The largest difference relative to the largest magnitude of `reference`.
func relativeDifference(_ value: Tensor, _ reference: Tensor) -> Float {
    #expect(value.shape == reference.shape)
    let largest = reference.abs().max().scalar
    #expect(largest > 0, "an all-zero attribution would make the comparison empty")
    return zip(value.scalars, reference.scalars).map { abs($0 - $1) }.max()! / largest
}

/// A batch split into passes (to bound memory) gives the results of one pass over it.
@Suite("Batches in passes", .serialized)
struct PassSplittingTests {
    let model: Module
    let input: Tensor
    let target = ExplanationTarget.classes([1, 4, 2, 9, 0])

    init() throws {
        (model, input) = try smallBatch()
    }

    @Test func predictionsInPassesEqualOnePass() {
        let whole = withoutGradients { model(input) }
        // Kernels may sum in another order at another batch size: equal to float rounding.
        #expect(relativeDifference(model.predictions(for: input, samplesPerPass: 2), whole) < 1e-5)
    }

    @Test func everyMethodInPassesEqualsOnePass() throws {
        var options = AttributionMethod.Options()
        (options.samples, options.steps, options.sigmas) = (3, 4, [1, 2])
        (options.window, options.stride, options.layers) = (16, 16, ["layer3"])
        for method in MethodRegistry.all {
            options.samplesPerPass = 100
            let whole = try method.attribute(model, input: input, target: target, options: options)
            options.samplesPerPass = 2
            var reports: [(done: Int, all: Int)] = []
            let split = try method.attribute(
                model, input: input, target: target, options: options,
                progress: { reports.append(($0, $1)) })
            #expect(relativeDifference(split.attribution, whole.attribution) < 1e-4, "\(method)")
            #expect(split.layers == whole.layers)
            if let delta = whole.convergenceDelta {
                #expect(zip(split.convergenceDelta ?? [], delta).allSatisfy { abs($0 - $1) <= 1e-3 * Swift.max(abs($1), 1) })
                #expect(split.convergenceDelta?.count == delta.count)
            }
            if method == .occlusion {
                // Progress counts the whole batch's windows: 16 per sample, rising to the end.
                #expect(reports.last.map { $0.done == $0.all && $0.all == 16 * 5 } == true)
                #expect(zip(reports, reports.dropFirst()).allSatisfy { $0.done < $1.done && $0.all == $1.all })
            }
        }
    }

    @Test func noiseMethodsDrawTheSameNoiseInPassesOfAnySize() {
        let forward = { (batch: Tensor) in model(batch) }
        for aggregation in [NoiseTunnel<Saliency>.Aggregation.smoothgrad, .vargrad] {
            let whole = NoiseTunnel(Saliency(), samples: 3, aggregation: aggregation, batchSize: 100, seed: 4)
                .attribute(forward, input: input, target: target)
            let split = NoiseTunnel(Saliency(), samples: 3, aggregation: aggregation, batchSize: 2, seed: 4)
                .attribute(forward, input: input, target: target)
            #expect(relativeDifference(split, whole) < 1e-4, "\(aggregation)")
        }
    }
}
