import Foundation
import LoupeIO
import LoupeTensor
import Testing

/// A PyTorch reference case written by Tools/fixtures/make_fixtures.py.
struct Fixture {
    let folder: URL
    let parameters: [String: Any]

    init(_ name: String) throws {
        let root = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        folder = root.appendingPathComponent(name)
        let data = try Data(contentsOf: folder.appendingPathComponent("params.json"))
        parameters = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func array(_ name: String) throws -> Tensor {
        try NPY.read(folder.appendingPathComponent("\(name).npy").path)
    }

    func int(_ key: String, default fallback: Int? = nil) -> Int {
        (parameters[key] as? Int) ?? fallback!
    }

    func bool(_ key: String) -> Bool {
        (parameters[key] as? Bool) ?? false
    }
}

/// Expects `actual` to match `expected` in shape and to within `tolerance · max|expected|`.
func expectClose(
    _ actual: Tensor, _ expected: Tensor, tolerance: Float = 1e-5,
    _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(actual.shape == expected.shape, comment, sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    let scale = Swift.max(expected.scalars.map { Swift.abs($0) }.max() ?? 0, 1e-12)
    let worst = zip(actual.scalars, expected.scalars).map { Swift.abs($0 - $1) }.max() ?? 0
    #expect(
        worst <= tolerance * scale,
        "max |Δ| = \(worst), allowed \(tolerance * scale)\(comment.map { " (\($0))" } ?? "")",
        sourceLocation: sourceLocation)
}

/// Values spread at least 0.1 apart, in a random order: inputs for max, relu and other ops with
/// kinks, so finite differences never straddle a tie or a corner.
func separatedValues(_ shape: [Int], seed: UInt64, offset: Float = 0) -> Tensor {
    let count = shape.reduce(1, *)
    var generator = RandomGenerator(seed: seed)
    let order = Array(0..<count).shuffled(using: &generator)
    return Tensor(shape: shape, scalars: order.map { (Float($0) - Float(count) / 2 + 0.5) * 0.1 + offset })
}

func randomNormal(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var generator = RandomGenerator(seed: seed)
    return Tensor.normal(shape, standardDeviation: scale, generator: &generator)
}

func randomUniform(_ shape: [Int], seed: UInt64, low: Float, high: Float) -> Tensor {
    var generator = RandomGenerator(seed: seed)
    return Tensor.uniform(shape, low: low, high: high, generator: &generator)
}

/// Checks reverse-mode gradients of `function` against central finite differences.
///
/// The scalar differentiated is `L = Σ wᵢ·f(x)ᵢ` with fixed random weights `w` (so every output
/// element matters), summed in Double. Each input element is moved by ±`step`.
func expectGradientsMatchFiniteDifferences(
    _ inputs: [Tensor], step: Float = 1e-2, tolerance: Float = 1e-2,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ function: @escaping ([Tensor]) -> Tensor
) {
    let probe = withoutGradients { function(inputs) }
    let weights = randomNormal(probe.shape, seed: 99)
    func loss(_ values: [Tensor]) -> Double {
        let output = withoutGradients { function(values) }
        return zip(output.scalars, weights.scalars).reduce(0) { $0 + Double($1.0) * Double($1.1) }
    }
    let analytic = valueWithGradient(at: inputs) { (function($0) * weights).sum() }.gradients
    for (inputIndex, input) in inputs.enumerated() {
        #expect(analytic[inputIndex].shape == input.shape, sourceLocation: sourceLocation)
        var worst: (Float, Int, Float, Float) = (0, -1, 0, 0)
        for element in 0..<input.count {
            var values = inputs
            var plus = input, minus = input
            plus.withUnsafeMutableBufferPointer { $0[element] += step }
            minus.withUnsafeMutableBufferPointer { $0[element] -= step }
            values[inputIndex] = plus
            let up = loss(values)
            values[inputIndex] = minus
            let down = loss(values)
            let numeric = Float((up - down) / Double(2 * step))
            let exact = analytic[inputIndex].scalars[element]
            let excess = Swift.abs(numeric - exact) - tolerance * Swift.max(1, Swift.abs(exact))
            if excess > worst.0 { worst = (excess, element, numeric, exact) }
        }
        #expect(
            worst.1 < 0,
            "input \(inputIndex) element \(worst.1): finite difference \(worst.2), autodiff \(worst.3)",
            sourceLocation: sourceLocation)
    }
}
