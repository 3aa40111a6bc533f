import LoupeTensor
import Testing

@Suite("Autodiff semantics")
struct AutodiffTests {
    @Test func reusedTensorAccumulatesGradients() {
        // f(x) = x·x + x, so df/dx = 2x + 1: both uses of x must add up (as in a skip connection).
        let x = Tensor(shape: [3], scalars: [1, -2, 0.5])
        let gradient = gradient(at: x) { x in (x * x + x).sum() }
        #expect(gradient.scalars == [3, -3, 2])
    }

    @Test func residualBlockGradient() {
        // y = relu(w·x) + x with w = 2: dy/dx = 2·[2x > 0] + 1.
        let x = Tensor(shape: [4], scalars: [-1, 2, -3, 4])
        let gradient = gradient(at: x) { x in ((x * 2).relu() + x).sum() }
        #expect(gradient.scalars == [1, 3, 1, 3])
    }

    @Test func gradientAtIntermediateTensor() {
        // h = 3x, y = Σ h²: dy/dh = 2h = 6x, and dy/dx = 18x.
        let x = Tensor(shape: [2], scalars: [1, 2]).trackingGradients()
        let h = x * 3
        let y = (h * h).sum()
        let results = gradients(of: y, at: [h, x])
        #expect(results[0].scalars == [6, 12])
        #expect(results[1].scalars == [18, 36])
    }

    @Test func pointNotReachedGetsZeros() {
        let x = Tensor(shape: [2], scalars: [1, 2]).trackingGradients()
        let unrelated = Tensor(shape: [3], scalars: [1, 2, 3]).trackingGradients()
        let results = gradients(of: (x * x).sum(), at: [unrelated])
        #expect(results[0].scalars == [0, 0, 0])
    }

    @Test func noGradientScopeRecordsNothing() {
        let x = Tensor(shape: [2], scalars: [1, 2]).trackingGradients()
        let inside = withoutGradients { x * 2 }
        let outside = x * 2
        #expect(!inside.isTrackingGradients)
        #expect(outside.isTrackingGradients)
        #expect(!(Tensor(shape: [2], scalars: [1, 2]) * 2).isTrackingGradients)
    }

    @Test func seedScalesTheGradient() {
        // y = 2x elementwise with seed s: dL/dx = 2s.
        let x = Tensor(shape: [3], scalars: [1, 2, 3]).trackingGradients()
        let y = x * 2
        let result = gradients(of: y, at: [x], seed: Tensor(shape: [3], scalars: [1, 0, -1]))
        #expect(result[0].scalars == [2, 0, -2])
    }

    @Test func writingDetachesFromRecording() {
        var x = Tensor(shape: [2], scalars: [1, 2]).trackingGradients()
        x.withUnsafeMutableBufferPointer { $0[0] = 5 }
        #expect(!x.isTrackingGradients)
        #expect(x.scalars == [5, 2])
    }
}

@Suite("ReLU backward rules")
struct ReLUBackwardRuleTests {
    // Worked by hand. x = [-1, 2, 3, -4]; y = relu(x) · c with c = [1, -1, 2, -2] (so the
    // gradient arriving at the ReLU output is g = c).
    //   standard:  g·[x > 0]          = [0, -1, 2, 0]
    //   guided:    max(g, 0)·[x > 0]  = [0,  0, 2, 0]
    //   deconvnet: max(g, 0)          = [1,  0, 2, 0]
    private let x = Tensor(shape: [4], scalars: [-1, 2, 3, -4])
    private let c = Tensor(shape: [4], scalars: [1, -1, 2, -2])

    private func gradient(with rule: ReLUBackwardRule) -> [Float] {
        withReLUBackwardRule(rule) { LoupeTensor.gradient(at: x) { ($0.relu() * c).sum() } }.scalars
    }

    @Test func standard() { #expect(gradient(with: .standard) == [0, -1, 2, 0]) }
    @Test func guided() { #expect(gradient(with: .guided) == [0, 0, 2, 0]) }
    @Test func deconvnet() { #expect(gradient(with: .deconvnet) == [1, 0, 2, 0]) }

    @Test func ruleAppliesToEveryReLUInAChain() {
        // Two stacked ReLUs with a sign flip between: z = relu(-relu(x)·c)... worked by hand:
        // x = [2], a = relu(x) = 2, b = -a = -2, z = relu(b + 3) = 1, L = z.
        // standard: dL/dx = 1·[b+3 > 0]·(-1)·[x > 0] = -1.
        // guided:  at the outer ReLU g = 1 → 1; through negation → -1; inner guided ReLU clips → 0.
        // deconvnet: the same clipping at the inner ReLU → 0.
        let x = Tensor(shape: [1], scalars: [2])
        func run(_ rule: ReLUBackwardRule) -> Float {
            withReLUBackwardRule(rule) { LoupeTensor.gradient(at: x) { (-$0.relu() + 3).relu().sum() } }.scalar
        }
        #expect(run(.standard) == -1)
        #expect(run(.guided) == 0)
        #expect(run(.deconvnet) == 0)
    }
}
