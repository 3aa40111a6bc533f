import Foundation
import LoupeIO
import LoupeNN
import LoupeTensor
import Testing

@Suite("Training")
struct TrainingTests {
    private func array(_ name: String) throws -> Tensor {
        try NPY.read(fixtureURL("optimizers/\(name).npy").path)
    }

    private func expectSteps<O: Optimizer>(_ optimizer: O, prefix: String) throws {
        var optimizer = optimizer
        let parameter = Parameter(try array("start"))
        for step in 0..<3 {
            optimizer.step([parameter], gradients: [try array("gradient\(step)")])
            let expected = try array("\(prefix)_after\(step)")
            let worst = (parameter.value - expected).abs().max().scalar
            #expect(worst <= 1e-5 * expected.abs().max().scalar, "\(prefix) step \(step): max |Δ| \(worst)")
        }
    }

    @Test func sgdWithMomentumAndWeightDecayEqualsPyTorch() throws {
        try expectSteps(SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01), prefix: "sgd")
    }

    @Test func adamEqualsPyTorch() throws {
        try expectSteps(Adam(learningRate: 0.01, weightDecay: 0.01), prefix: "adam")
    }

    @Test func binaryCrossEntropyByHand() {
        // x = 0, y = 1: log 2. x = 2, y = 0: 2 + log(1 + e⁻²). Mean of the two.
        let loss = Tensor(shape: [2, 1], scalars: [0, 2]).binaryCrossEntropyWithLogits(
            targets: Tensor(shape: [2, 1], scalars: [1, 0]))
        let expected = (Foundation.log(2.0) + 2 + Foundation.log(1 + Foundation.exp(-2.0))) / 2
        #expect(Swift.abs(Double(loss.scalar) - expected) < 1e-6)
    }

    /// Two Gaussian blobs, labels by blob, as [N, 2, 1, 1] "images".
    private func blobs(count: Int, seed: UInt64) -> (Tensor, [Int]) {
        var generator = RandomGenerator(seed: seed)
        var values: [Float] = [], labels: [Int] = []
        for index in 0..<count {
            let label = index % 2
            let center: Float = label == 0 ? -1.5 : 1.5
            values += [center + 0.5 * generator.nextNormal(), -center + 0.5 * generator.nextNormal()]
            labels.append(label)
        }
        return (Tensor(shape: [count, 2, 1, 1], scalars: values), labels)
    }

    @Test("A tiny model learns a separable set", arguments: [ClassificationLoss.crossEntropy, .binaryCrossEntropy])
    func learnsSeparableData(_ loss: ClassificationLoss) throws {
        var generator = RandomGenerator(seed: 1)
        let outputs = loss == .crossEntropy ? 2 : 1
        let model = try LayerStack(
            features: [],
            classifier: [
                LayerSpec("linear", outputs: 16), LayerSpec("relu"),
                LayerSpec("linear", outputs: outputs),
            ],
            inputShape: [2, 1, 1], generator: &generator)
        let (images, labels) = blobs(count: 400, seed: 2)
        let (validationImages, validationLabels) = blobs(count: 200, seed: 3)
        var trainer = Trainer(model: model, optimizer: Adam(learningRate: 0.01), loss: loss, batchSize: 32)
        let history = trainer.fit(images: images, labels: labels, validation: (validationImages, validationLabels), epochs: 5)
        #expect(history.count == 5)
        #expect(history.last!.trainingLoss < history.first!.trainingLoss)
        #expect(history.last!.validationAccuracy! >= 0.95)
    }

    @Test func frozenParametersDoNotChange() throws {
        var generator = RandomGenerator(seed: 4)
        let model = try LayerStack(
            features: [],
            classifier: [
                LayerSpec("linear", outputs: 8), LayerSpec("relu"),
                LayerSpec("linear", outputs: 2),
            ],
            inputShape: [2, 1, 1], generator: &generator)
        model.module(at: "classifier.0")!.setTrainable(false)
        let frozen = model.stateDict()["classifier.0.weight"]!.scalars
        let head = model.stateDict()["classifier.2.weight"]!.scalars
        let (images, labels) = blobs(count: 64, seed: 5)
        var trainer = Trainer(model: model, optimizer: SGD(learningRate: 0.1), batchSize: 16)
        _ = trainer.fit(images: images, labels: labels, epochs: 1)
        #expect(model.stateDict()["classifier.0.weight"]!.scalars == frozen)
        #expect(model.stateDict()["classifier.2.weight"]!.scalars != head)
    }
}
