import LoupeExplain
import LoupeTensor
import Testing

@Suite("Saliency")
struct SaliencyTests {
    // A toy model worked by hand: scores = relu(x)·W for x = [[1, -2, 3]] and
    // W = [[1, -1], [2, 0], [-1, 1]] (3 inputs → 2 classes).
    // Class 1's score is Σ relu(xᵢ)·W[i][1], so its gradient is W[:, 1]·[x > 0] = [-1, 0, 1].
    // Guided: max(W[:, 1], 0)·[x > 0] = [0, 0, 1]. Deconvnet: max(W[:, 1], 0) = [0, 0, 1].
    // Class 0 deconvnet: max([1, 2, -1], 0) = [1, 2, 0], ignoring that x₁ < 0.
    private let input = Tensor(shape: [1, 3], scalars: [1, -2, 3])
    private let weight = Tensor(shape: [3, 2], scalars: [1, -1, 2, 0, -1, 1])
    private func model(_ x: Tensor) -> Tensor { x.relu().matmul(weight) }

    @Test func signedGradient() {
        #expect(saliency(of: model, input: input, targets: [1]).scalars == [-1, 0, 1])
    }

    @Test func guidedBackpropagation() {
        #expect(saliency(of: model, input: input, targets: [1], rule: .guided).scalars == [0, 0, 1])
    }

    @Test func deconvnet() {
        #expect(saliency(of: model, input: input, targets: [0], rule: .deconvnet).scalars == [1, 2, 0])
    }

    @Test func batchWithOneTargetPerSample() {
        let batch = Tensor(shape: [2, 3], scalars: [1, -2, 3, -1, 1, 1])
        // Row 0, class 0: W[:, 0]·[x > 0] = [1, 0, -1]. Row 1, class 1: [0, 0, 1].
        #expect(saliency(of: model, input: batch, targets: [0, 1]).scalars == [1, 0, -1, 0, 0, 1])
    }
}
