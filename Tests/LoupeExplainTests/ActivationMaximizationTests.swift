import LoupeExplain
import LoupeNN
import LoupeTensor
import Testing

@Suite("Activation maximization")
struct ActivationMaximizationTests {
    /// A one-layer model: a 3×3 conv with two hand-made filters (a vertical-edge and a
    /// horizontal-edge detector) followed by ReLU.
    private func edgeModel() throws -> Module {
        var generator = RandomGenerator(seed: 0)
        let model = try LayerStack(
            features: [LayerSpec("conv2d", outputs: 2, kernel: 3, padding: 1), LayerSpec("relu")],
            classifier: [], inputShape: [1, 8, 8], generator: &generator)
        try model.load([
            "features.0.weight": Tensor(
                shape: [2, 1, 3, 3],
                scalars: [
                    -1, 0, 1, -1, 0, 1, -1, 0, 1,
                    -1, -1, -1, 0, 0, 0, 1, 1, 1,
                ]),
            "features.0.bias": Tensor.zeros([2]),
        ])
        return model
    }

    @Test func theObjectiveRisesOnAverage() throws {
        let model = try edgeModel()
        var maximizer = ActivationMaximization(valueRange: 0...1)
        maximizer.steps = 60
        // A grey start with ±0.001 of noise: on a flat image both edge filters give exactly 0, a
        // tie at ReLU's kink that each instruction set's rounding broke its own way (under AVX the
        // objective then rose in 28 of 59 steps, against 32 elsewhere).
        var generator = RandomGenerator(seed: 1)
        let start = Tensor.uniform([2, 1, 8, 8], low: 0.499, high: 0.501, generator: &generator)
        let (images, objectives) = try maximizer.run(
            model, objective: .channels(layer: "features.1", channels: [0, 1]), start: start)
        let tenth = objectives.count / 10
        let early = objectives.prefix(tenth).reduce(0, +) / Float(tenth)
        let late = objectives.suffix(tenth).reduce(0, +) / Float(tenth)
        #expect(late > early + 0.5, "objective went from \(early) to \(late)")
        // Rising steps outnumber falling ones.
        let rises = zip(objectives, objectives.dropFirst()).filter { $1 > $0 }.count
        #expect(rises > objectives.count / 2)
        // The vertical-edge channel's image changes more along rows than down columns (vertical
        // stripes), and the horizontal-edge channel's the other way round.
        func variation(_ image: Tensor, along axis: Int) -> Float {
            let extent = image.shape[axis]
            return (image.slice(along: axis, from: 1, to: extent) - image.slice(along: axis, from: 0, to: extent - 1)).abs()
                .mean().scalar
        }
        #expect(variation(images[0][0], along: 1) > variation(images[0][0], along: 0))
        #expect(variation(images[1][0], along: 0) > variation(images[1][0], along: 1))
        #expect(images.min().scalar >= 0 && images.max().scalar <= 1)
    }

    @Test func classModelRaisesTheClassScore() throws {
        var generator = RandomGenerator(seed: 2)
        let model = try LayerStack(
            features: [LayerSpec("conv2d", outputs: 4, kernel: 3, padding: 1), LayerSpec("relu")],
            classifier: [LayerSpec("linear", outputs: 3)], inputShape: [1, 6, 6], generator: &generator)
        var maximizer = ActivationMaximization(valueRange: -1...1)
        maximizer.steps = 40
        // Simonyan et al.'s class model: plain ascent with L2 decay (jitter would move features
        // under the position-dependent linear layer of this 6×6 model).
        maximizer.blurEvery = 0
        maximizer.jitter = 0
        let (_, objectives) = try maximizer.run(model, objective: .classes([2]), start: Tensor.zeros([1, 1, 6, 6]))
        #expect(objectives.last! > objectives.first! + 0.5, "\(objectives.first!) → \(objectives.last!)")
        let rises = zip(objectives, objectives.dropFirst()).filter { $1 > $0 }.count
        #expect(rises > objectives.count * 3 / 4)
    }
}
