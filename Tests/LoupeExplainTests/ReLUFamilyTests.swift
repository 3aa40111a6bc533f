import Foundation
import LoupeExplain
import LoupeIO
import LoupeNN
import LoupeTensor
import LoupeTestSupport
import Testing

/// Guided backprop and deconvnet apply their rule to every ReLU-like activation, nn.ReLU6 and
/// functional ReLUs included, where Captum hooks nn.ReLU modules only: the references are Captum's
/// own hook registered on those activations too (Tools/fixtures/make_relu_family_fixtures.py,
/// which checks that unpatched Captum gives other maps).
@Suite("ReLU-family backward rules")
struct ReLUFamilyTests {
    let folder: URL
    let targets: [String: Int]

    init() throws {
        folder = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent(
            "relu-family")
        let parameters = try #require(
            JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("params.json"))) as? [String: Any])
        targets = try #require(parameters["targets"] as? [String: Int])
    }

    func expectMatch(_ actual: Tensor, _ name: String) throws {
        let expected = try NPY.read(folder.appendingPathComponent("\(name).npy").path)
        #expect(actual.shape == expected.shape, "\(name) shape")
        guard actual.shape == expected.shape else { return }
        let scale = expected.abs().max().scalar, worst = (actual - expected).abs().max().scalar
        #expect(worst <= 1e-4 * scale, "\(name): max |Δ| \(worst) against max |reference| \(scale)")
    }

    /// torchvision's mobilenet_v2, whose activations are all nn.ReLU6 modules.
    @Test func reluSixModules() throws {
        let model = try formulaModel("mobilenet_v2")
        let target = ExplanationTarget.classes([try #require(targets["mobilenet_v2"])])
        let x = formulaInput()
        try expectMatch(GuidedBackprop().attribute({ model($0) }, input: x, target: target), "mobilenet_v2_guided_backprop")
        try expectMatch(Deconvnet().attribute({ model($0) }, input: x, target: target), "mobilenet_v2_deconvnet")
    }

    /// A network that calls F.relu6 and F.relu in its forward, exported to ONNX (Clip(0, 6) and Relu nodes).
    @Test func functionalReLUs() throws {
        let model = try LoadedModel.load(folder.appendingPathComponent("functional.onnx").path, architecture: nil).module
        let target = ExplanationTarget.classes([try #require(targets["functional"])])
        let x = try NPY.read(folder.appendingPathComponent("functional_input.npy").path)
        try expectMatch(GuidedBackprop().attribute({ model($0) }, input: x, target: target), "functional_guided_backprop")
        try expectMatch(Deconvnet().attribute({ model($0) }, input: x, target: target), "functional_deconvnet")
    }
}
