import LoupeExplain
import LoupeNN
import LoupeTensor
import Testing

/// Occlusion by exact incremental inference equals occlusion by full forward passes on every
/// torchvision family (plain chains, strided and ceil-mode pooling, residual and Fire blocks),
/// for windows that meet the edges, strides that do not divide the image, and every fill.
@Suite("Incremental occlusion", .serialized)
struct IncrementalOcclusionTests {
    @Test(arguments: [
        ("vgg11", 64, 16, 8), ("alexnet", 96, 20, 12), ("resnet18", 64, 12, 8), ("resnet50", 64, 16, 16),
        ("squeezenet1_1", 64, 9, 5), ("squeezenet1_0", 64, 16, 12),
    ])
    func equalsFullRecomputation(_ architecture: String, _ size: Int, _ window: Int, _ stride: Int) throws {
        let model = try ModelZoo.make(architecture, classes: 10, seed: 3)
        if architecture.hasPrefix("squeezenet") {
            // A freshly initialized SqueezeNet barely reacts to its input (its score moves by 1e-7
            // when occluded); larger weights make the comparison meaningful.
            for (_, parameter) in model.namedParameters() where parameter.value.rank == 4 {
                parameter.value = parameter.value * 3
            }
        }
        var generator = RandomGenerator(seed: 5)
        let input = Tensor.normal([1, 3, size, size], generator: &generator)
        // The top class: squeezenet's final ReLU leaves most classes of a random model at 0.
        let target = ExplanationTarget.classes([withoutGradients { model(input) }[0].argmax()])
        for baseline in [Occlusion.Baseline.value(0), .mean] {
            let occlusion = Occlusion(window: window, stride: stride, baseline: baseline, batchSize: 7)
            let incremental = occlusion.attribute(model, input: input, target: target)
            let full = occlusion.attribute(model, input: input, target: target, incremental: false)
            let score = withoutGradients { model(input) }.abs().max().scalar
            // Pixels no window covers are 0/0 in both (as in Captum); the rest must agree.
            let covered = zip(incremental.scalars, full.scalars).filter { !$0.1.isNaN }
            #expect(covered.count > incremental.count / 2)
            #expect(zip(incremental.scalars, full.scalars).allSatisfy { $0.isNaN == $1.isNaN })
            let difference = covered.map { abs($0 - $1) }.max() ?? 0
            // Both are score differences; a convolution on a crop may sum in another order, so
            // they agree to float rounding of the scores, not bit for bit.
            #expect(difference <= 1e-5 * score, "\(architecture) \(baseline): max |Δ| \(difference), score \(score)")
            #expect(
                (covered.map { abs($0.1) }.max() ?? 0) > 1e-4 * score,
                "\(architecture): occlusion changed nothing, the test would be empty")
        }
    }

    @Test func aModelWithoutLocalLayersRunsInFull() throws {
        // A fully connected model has no spatial footprint: occlusion runs every copy in full.
        var generator = RandomGenerator(seed: 1)
        let model = Sequential([Flatten(), Linear(inputFeatures: 3 * 8 * 8, outputFeatures: 4, generator: &generator)])
        let input = Tensor.normal([1, 3, 8, 8], generator: &generator)
        let occlusion = Occlusion(window: 2, stride: 2)
        let incremental = occlusion.attribute(model, input: input, target: .classes([1]))
        let full = occlusion.attribute(model, input: input, target: .classes([1]), incremental: false)
        #expect(incremental.scalars == full.scalars)
    }
}
