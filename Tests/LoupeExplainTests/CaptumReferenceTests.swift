import Foundation
import LoupeExplain
import LoupeIO
import LoupeNN
import LoupeTensor
import LoupeTestSupport
import Testing

/// squeezenet1_1 and resnet18 with formula weights against Captum and pytorch-grad-cam
/// (Tools/fixtures/make_explain_fixtures.py), within max |Δ| ≤ 1e-4 · max |reference|.
@Suite("Captum reference attributions", .serialized)
struct CaptumReferenceTests {
    struct Case {
        let model: Module
        let target: ExplanationTarget
        let layer: String
        let steps: Int
        let folder: URL

        init(_ architecture: String) throws {
            model = try formulaModel(architecture)
            folder = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent(architecture)
            let parameters = try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("params.json"))) as? [String: Any]
            target = .classes([try #require(parameters?["target"] as? Int)])
            layer = try #require(parameters?["layer"] as? String)
            steps = try #require(parameters?["steps"] as? Int)
        }

        func reference(_ name: String) throws -> Tensor { try NPY.read(folder.appendingPathComponent("\(name).npy").path) }

        func forward(_ x: Tensor) -> Tensor { model(x) }
    }

    /// - Parameter floor: the smallest tolerance, for references that are differences of
    ///   much larger float32 numbers.
    private func expectMatch(_ actual: Tensor, _ expected: Tensor, _ what: String, floor: Float = 0) {
        #expect(actual.shape == expected.shape, "\(what) shape")
        guard actual.shape == expected.shape else { return }
        let scale = expected.abs().max().scalar
        let worst = (actual - expected).abs().max().scalar
        #expect(worst <= Swift.max(1e-4 * scale, floor), "\(what): max |Δ| \(worst) against max |reference| \(scale)")
    }

    @Test(arguments: ["squeezenet1_1", "resnet18"])
    func gradientMethods(_ architecture: String) throws {
        let c = try Case(architecture)
        let x = formulaInput()
        expectMatch(Saliency().attribute(c.forward, input: x, target: c.target), try c.reference("saliency"), "saliency")
        expectMatch(InputXGradient().attribute(c.forward, input: x, target: c.target), try c.reference("input_x_gradient"), "input x gradient")
        expectMatch(GuidedBackprop().attribute(c.forward, input: x, target: c.target), try c.reference("guided_backprop"), "guided backprop")
        expectMatch(Deconvnet().attribute(c.forward, input: x, target: c.target), try c.reference("deconvnet"), "deconvnet")
    }

    @Test(arguments: ["squeezenet1_1", "resnet18"])
    func integratedGradients(_ architecture: String) throws {
        let c = try Case(architecture)
        let x = formulaInput()
        for (rule, name) in [(IntegratedGradients.Rule.gaussLegendre, "ig_gausslegendre"), (.riemannTrapezoid, "ig_trapezoid")] {
            let (attribution, _) = IntegratedGradients(steps: c.steps, rule: rule).attribute(c.forward, input: x, target: c.target)
            expectMatch(attribution, try c.reference(name), name)
        }
    }

    @Test(arguments: ["squeezenet1_1", "resnet18"])
    func occlusion(_ architecture: String) throws {
        let c = try Case(architecture)
        let x = formulaInput()
        let attribution = Occlusion(window: 16, stride: 8, baseline: .value(0)).attribute(c.forward, input: x, target: c.target)
        // Each value is F(x) − F(occluded): float32 evaluates each score to about 1e-7 of its size,
        // so the difference cannot be exact below 1e-6 of the score (squeezenet's formula model moves
        // its score by only 4e-6 when occluded).
        let score = withoutGradients { c.target.scores(c.model(x)) }.abs().max().scalar
        expectMatch(attribution, try c.reference("occlusion"), "occlusion", floor: 1e-6 * score)
    }

    @Test(arguments: ["squeezenet1_1", "resnet18"])
    func classActivationMaps(_ architecture: String) throws {
        let c = try Case(architecture)
        let x = formulaInput()
        expectMatch(try GradCAM().attribute(c.model, layer: c.layer, input: x, target: c.target)[0], try c.reference("grad_cam"), "grad-cam")
        expectMatch(try GradCAMPlusPlus().attribute(c.model, layer: c.layer, input: x, target: c.target)[0],
                    try c.reference("grad_cam_plus_plus"), "grad-cam++")
        expectMatch(try GuidedGradCAM(layer: c.layer).attribute(c.model, input: x, target: c.target),
                    try c.reference("guided_grad_cam"), "guided grad-cam")
    }

    @Test(arguments: ["squeezenet1_1", "resnet18"])
    func smoothGradWithCaptumsNoise(_ architecture: String) throws {
        let c = try Case(architecture)
        let noise = try (0..<4).map { try c.reference("noise\($0)") }
        let attribution = NoiseTunnel(Saliency(), samples: 4, batchSize: 2).attribute(c.forward, input: formulaInput(), target: c.target, noise: noise)
        expectMatch(attribution, try c.reference("smoothgrad"), "smoothgrad")
    }
}
