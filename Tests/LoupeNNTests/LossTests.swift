import Foundation
import LoupeNN
import LoupeTensor
import Testing

@Suite("Losses")
struct LossTests {
    @Test func crossEntropyByHand() {
        // Logits [0, ln 3] → softmax [1/4, 3/4]; label 1 → loss −ln(3/4).
        // Logits [0, 0] → [1/2, 1/2]; label 0 → −ln(1/2). The loss is the mean of the two.
        let logits = Tensor(shape: [2, 2], scalars: [0, Float(Foundation.log(3.0)), 0, 0])
        let expected = Float(-(Foundation.log(0.75) + Foundation.log(0.5)) / 2)
        #expect(Swift.abs(logits.crossEntropy(labels: [1, 0]).scalar - expected) < 1e-6)
    }

    @Test func crossEntropyGradientIsSoftmaxMinusOneHotOverN() {
        // d/dlogits = (softmax − onehot) / N.
        let logits = Tensor(shape: [2, 3], scalars: [1, 2, 3, -1, 0, 1])
        let gradient = gradient(at: logits) { $0.crossEntropy(labels: [2, 0]) }
        let expected = (logits.softmax(along: 1) - Tensor(shape: [2, 3], scalars: [0, 0, 1, 1, 0, 0])) / 2
        for (a, b) in zip(gradient.scalars, expected.scalars) { #expect(Swift.abs(a - b) < 1e-6) }
    }
}
