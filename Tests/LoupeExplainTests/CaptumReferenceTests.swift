import Foundation
import LoupeExplain
import LoupeIO
@_spi(Engine) import LoupeNN
import LoupeTensor
import LoupeTestSupport
import Testing

/// squeezenet1_1 and resnet18 with formula weights against Captum and pytorch-grad-cam
/// (Tools/fixtures/make_explain_fixtures.py), within max |Δ| ≤ 1e-4 · max |reference|: each
/// built from the model zoo, and each loaded from ONNX (Tools/fixtures/make_onnx_fixtures.py
/// exports the same weights; the test rebuilds their external-data file from the formula).
@Suite("Captum reference attributions", .serialized)
struct CaptumReferenceTests {
    struct Case {
        let model: Module
        let target: ExplanationTarget
        let layer: String
        /// A layer before the last, where the CAM family's methods differ (see the fixture script).
        let innerLayer: String
        let steps: Int
        let folder: URL

        /// - Parameter name: an architecture, or an architecture with `.onnx` for its ONNX export.
        init(_ name: String) throws {
            let architecture = name.replacingOccurrences(of: ".onnx", with: "").replacingOccurrences(of: ".safetensors", with: "")
            folder = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent(
                architecture)
            let parameters =
                try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("params.json")))
                as? [String: Any]
            target = .classes([try #require(parameters?["target"] as? Int)])
            steps = try #require(parameters?["steps"] as? Int)
            if name.hasSuffix(".onnx") {
                (model, layer, innerLayer) = try Case.onnxModel(folder)
            } else if name.hasSuffix(".safetensors") {
                // The same weights through a file: written by Loupe, read back as a torchvision export would be.
                let file = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-\(UUID()).safetensors")
                defer { try? FileManager.default.removeItem(at: file) }
                try SafeTensors.write(try formulaModel(architecture).stateDict(), to: file.path)
                model = try ModelFile.load(file.path, architecture: architecture)
                layer = try #require(parameters?["layer"] as? String)
                innerLayer = try #require(parameters?["innerLayer"] as? String)
            } else {
                model = try formulaModel(architecture)
                layer = try #require(parameters?["layer"] as? String)
                innerLayer = try #require(parameters?["innerLayer"] as? String)
            }
        }

        /// The ONNX export, with its external weights rebuilt from the formula in a temporary folder.
        static func onnxModel(_ folder: URL) throws -> (Module, String, String) {
            let manifest = try #require(
                JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("weights.json")))
                    as? [String: Any])
            let tensors = try #require(manifest["tensors"] as? [[String: Any]])
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-onnx-\(UUID())")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            var weights = Data()
            for entry in tensors {
                let (name, shape, offset) = (
                    try #require(entry["name"] as? String), try #require(entry["shape"] as? [Int]),
                    try #require(entry["offset"] as? Int)
                )
                let values = formulaValue(key: name, shape: shape).scalars
                if weights.count < offset { weights.append(Data(count: offset - weights.count)) }
                #expect(weights.count == offset, "external tensors overlap at \(name)")
                values.withUnsafeBytes { weights.append(contentsOf: $0) }
            }
            try weights.write(to: directory.appendingPathComponent(try #require(manifest["location"] as? String)))
            try FileManager.default.copyItem(
                at: folder.appendingPathComponent("model.onnx"), to: directory.appendingPathComponent("model.onnx"))
            let loaded = try LoadedModel.load(directory.appendingPathComponent("model.onnx").path, architecture: nil)
            return (
                loaded.module, try #require(manifest["camTensor"] as? String),
                try #require(manifest["innerCamTensor"] as? String)
            )
        }

        func reference(_ name: String) throws -> Tensor { try NPY.read(folder.appendingPathComponent("\(name).npy").path) }

        func forward(_ x: Tensor) -> Tensor { model(x) }
    }

    /// - Parameter floor: the smallest tolerance, for references that are differences of
    ///   much larger float32 numbers.
    /// Each result is also recorded under `architecture-what` for the instruction-set runs, with
    /// `magnitude` (see ``InstructionSetRecording/record(_:_:magnitude:)``).
    private func expectMatch(
        _ actual: Tensor, _ expected: Tensor, _ what: String, floor: Float = 0,
        magnitude: Float? = nil, architecture: String
    ) {
        InstructionSetRecording.record("\(architecture)-\(what)", actual, magnitude: magnitude)
        #expect(actual.shape == expected.shape, "\(what) shape")
        guard actual.shape == expected.shape else { return }
        let scale = expected.abs().max().scalar
        let worst = (actual - expected).abs().max().scalar
        #expect(worst <= Swift.max(1e-4 * scale, floor), "\(what): max |Δ| \(worst) against max |reference| \(scale)")
    }

    @Test(arguments: [
        "squeezenet1_1", "resnet18", "squeezenet1_1.safetensors", "resnet18.safetensors", "squeezenet1_1.onnx", "resnet18.onnx",
    ])
    func gradientMethods(_ architecture: String) throws {
        let c = try Case(architecture)
        let x = formulaInput()
        InstructionSetRecording.record("\(architecture)-logits", withoutGradients { c.forward(x) })
        expectMatch(
            Saliency().attribute(c.forward, input: x, target: c.target), try c.reference("saliency"), "saliency",
            architecture: architecture)
        expectMatch(
            InputXGradient().attribute(c.forward, input: x, target: c.target), try c.reference("input_x_gradient"),
            "input x gradient", architecture: architecture)
        expectMatch(
            GuidedBackprop().attribute(c.forward, input: x, target: c.target), try c.reference("guided_backprop"),
            "guided backprop", architecture: architecture)
        expectMatch(
            Deconvnet().attribute(c.forward, input: x, target: c.target), try c.reference("deconvnet"), "deconvnet",
            architecture: architecture)
    }

    @Test(arguments: [
        "squeezenet1_1", "resnet18", "squeezenet1_1.safetensors", "resnet18.safetensors", "squeezenet1_1.onnx", "resnet18.onnx",
    ])
    func integratedGradients(_ architecture: String) throws {
        let c = try Case(architecture)
        let x = formulaInput()
        for (rule, name) in [(IntegratedGradients.Rule.gaussLegendre, "ig_gausslegendre"), (.riemannTrapezoid, "ig_trapezoid")] {
            let (attribution, _) = IntegratedGradients(steps: c.steps, rule: rule).attribute(
                c.forward, input: x, target: c.target)
            expectMatch(attribution, try c.reference(name), name, architecture: architecture)
        }
    }

    @Test(arguments: [
        "squeezenet1_1", "resnet18", "squeezenet1_1.safetensors", "resnet18.safetensors", "squeezenet1_1.onnx", "resnet18.onnx",
    ])
    func occlusion(_ architecture: String) throws {
        let c = try Case(architecture)
        let x = formulaInput()
        let attribution = Occlusion(window: 16, stride: 8, baseline: .value(0)).attribute(c.model, input: x, target: c.target)
        // Each value is F(x) − F(occluded): float32 evaluates each score to about 1e-7 of its size,
        // so the difference cannot be exact below 1e-6 of the score (squeezenet's formula model moves
        // its score by only 4e-6 when occluded).
        let score = withoutGradients { c.target.scores(c.model(x)) }.abs().max().scalar
        expectMatch(
            attribution, try c.reference("occlusion"), "occlusion", floor: 1e-6 * score, magnitude: score,
            architecture: architecture)
    }

    @Test(arguments: [
        "squeezenet1_1", "resnet18", "squeezenet1_1.safetensors", "resnet18.safetensors", "squeezenet1_1.onnx", "resnet18.onnx",
    ])
    func classActivationMaps(_ architecture: String) throws {
        let c = try Case(architecture)
        let x = formulaInput()
        expectMatch(
            try GradCAM().attribute(c.model, layer: c.layer, input: x, target: c.target)[0], try c.reference("grad_cam"),
            "grad-cam", architecture: architecture)
        expectMatch(
            try GradCAMPlusPlus().attribute(c.model, layer: c.layer, input: x, target: c.target)[0],
            try c.reference("grad_cam_plus_plus"), "grad-cam++", architecture: architecture)
        expectMatch(
            try GuidedGradCAM(layer: c.layer).attribute(c.model, input: x, target: c.target),
            try c.reference("guided_grad_cam"), "guided grad-cam", architecture: architecture)
    }

    /// Every layer method in the registry against pytorch-grad-cam (`cam_<name>.npy`), and with
    /// `--eigen-smooth` where it reads it (`cam_<name>_eigen_smooth.npy`), at the CAM layer and at
    /// an inner layer (`inner_cam_…`). A reference that is a
    /// projection holds the SVD's arbitrary sign: it gets Loupe's sign first (its largest-magnitude
    /// value positive), then the ReLU; on a reference taken after the ReLU both change nothing.
    @Test(arguments: [
        "squeezenet1_1", "resnet18", "squeezenet1_1.safetensors", "resnet18.safetensors", "squeezenet1_1.onnx", "resnet18.onnx",
    ])
    func camFamily(_ architecture: String) throws {
        let c = try Case(architecture)
        let x = formulaInput()
        for method in MethodRegistry.builtIn where method.attributesToLayer && method.usesLayer {
            for (layer, prefix) in [(c.layer, "cam_"), (c.innerLayer, "inner_cam_")] {
                for smooth in method.settings.contains(.eigenSmooth) ? [false, true] : [false] {
                    var options = AttributionMethod.Options()
                    (options.layers, options.eigenSmooth) = ([layer], smooth)
                    let name = prefix + method.name + (smooth ? "_eigen_smooth" : "")
                    let reference = try c.reference(name)
                    let largest = reference.scalars.max { abs($0) < abs($1) } ?? 0
                    let map = try method.attribute(c.model, input: x, target: c.target, options: options).attribution[0]
                    expectMatch(
                        map, (largest < 0 ? reference * -1 : reference).relu(), name,
                        floor: try Self.scoreRoundingFloor(method, c.model, layer: layer, input: x), architecture: architecture)
                }
            }
        }
    }

    /// pytorch-grad-cam's final maps, scaled at the input's resolution: every method of the
    /// registry that reads layers at the CAM layer and the inner layer together
    /// (`multi_cam_<name>.npy`); the methods the fixture script smooths, with `--aug-smooth` at the
    /// CAM layer (`aug_cam_<name>.npy`); Grad-CAM at both layers with `--aug-smooth` and
    /// `--eigen-smooth`; FullGrad plain and with `--aug-smooth`. Score-CAM and Ablation-CAM within
    /// 1e-3 (their weights carry the rounding of score differences), the others within 1e-4.
    @Test(arguments: [
        "squeezenet1_1", "resnet18", "squeezenet1_1.safetensors", "resnet18.safetensors", "squeezenet1_1.onnx", "resnet18.onnx",
    ])
    func scaledMaps(_ architecture: String) throws {
        let c = try Case(architecture)
        let x = formulaInput()
        func check(
            _ method: AttributionMethod, _ reference: String, layers: [String] = [], eigen: Bool = false, aug: Bool = false,
            floor: Float = 0
        ) throws {
            var options = AttributionMethod.Options()
            (options.layers, options.eigenSmooth, options.augSmooth) = (layers, eigen, aug)
            let map = try method.attribute(c.model, input: x, target: c.target, options: options).attribution[0]
            let perturbs = method == .scoreCAM || method == .ablationCAM
            expectMatch(
                map, try c.reference(reference), reference, floor: Swift.max(floor, perturbs ? 1e-3 : 0),
                architecture: architecture)
        }
        let both = [c.layer, c.innerLayer]
        for method in MethodRegistry.builtIn where method.usesLayer {
            try check(method, "multi_cam_\(method.name)", layers: both)
        }
        for method in [AttributionMethod.gradCAM, .eigenCAM, .layerCAM] {
            try check(method, "aug_cam_\(method.name)", layers: [c.layer], aug: true)
        }
        try check(.gradCAM, "multi_aug_cam_grad-cam_eigen_smooth", layers: both, eigen: true, aug: true)
        // FullGrad scales each channel of each bias layer to [0, 1] on its own, so one ReLU input
        // that float32 rounding puts on the other side of zero (a gradient passed or stopped)
        // rescales that channel's map. Such inputs are common: at 64 × 64, resnet18's passes
        // have bias-layer outputs from 6e-8 to 3e-6 of their layer's largest magnitude, and
        // rounding differs between kernels (under ONEDNN_MAX_CPU_ISA=AVX2 resnet18's plain map
        // moved by 9.4e-3, its aug-smoothed one by 1.6e-3; with AVX-512 kernels both are within
        // 1e-4). Where a pass has one within 1e-6, the map is checked within 1e-2, else 1e-4.
        let augmented = [false, true].flatMap { mirror in
            [Float(0.9), 1, 1.1].map { (mirror ? x.gathered(Array((0..<x.shape[3]).reversed()), along: 3) : x) * $0 }
        }
        let plainTied = try Self.hasReLUInputNearZero(c.model, input: x)
        try check(.fullGrad, "full_grad", floor: plainTied ? 1e-2 : 0)
        let augTied = try augmented.contains { try Self.hasReLUInputNearZero(c.model, input: $0) }
        try check(.fullGrad, "aug_full_grad", aug: true, floor: augTied ? 1e-2 : 0)
    }

    /// Whether a bias layer's output (each feeds a ReLU, or an addition before one, in these
    /// networks) has a nonzero value within 1e-6 of its largest magnitude of zero: where float32
    /// rounding, which differs between any two implementations, can decide the ReLU.
    static func hasReLUInputNearZero(_ model: Module, input: Tensor) throws -> Bool {
        let taps = model.channelBiases.map(\.tap)
        let (_, activations) = try model.withTaps(taps) { withoutGradients { model(input) } }
        return activations.values.contains { values in
            let scale = values.abs().max().scalar
            return values.scalars.contains { $0 != 0 && abs($0) <= 1e-6 * scale }
        }
    }

    /// FullGrad on a network of convolutions and batch norms, exported to ONNX as it is and with
    /// the norms folded into the convolutions (Fixtures/batch-norm-cnn): both give
    /// pytorch-grad-cam's map.
    @Test func fullGradIsTheSameWithBatchNormsFolded() throws {
        let folder = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent(
            "batch-norm-cnn")
        let parameters = try #require(
            JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("params.json"))) as? [String: Any])
        let target = ExplanationTarget.classes([try #require(parameters["target"] as? Int)])
        let input = try NPY.read(folder.appendingPathComponent("input.npy").path).unsqueezed(at: 0)
        let reference = try NPY.read(folder.appendingPathComponent("full_grad.npy").path)
        for (file, norms) in [("unfolded", 3), ("folded", 0)] {
            let loaded = try LoadedModel.load(folder.appendingPathComponent("\(file).onnx").path, architecture: nil)
            let graph = try #require(loaded.onnxModule?.graph)
            #expect(graph.operations.filter { $0 == "BatchNormalization" }.count == norms, "\(file)")
            let map = try FullGrad().attribute(loaded.module, input: input, target: target)[0]
            expectMatch(map, reference, "full-grad", architecture: "batch-norm-cnn-\(file)")
        }
    }

    /// Ablation-CAM's weights are relative score drops, `(s − s_c) / s`, each carrying float32's
    /// rounding of the scores (about 2⁻²³ of the weight's scale, 1, in Loupe and in the
    /// reference alike); summed over channels with the activations, that is a map error of about
    /// `2⁻²³ · ‖A‖` (the activations' Frobenius norm). Where single channels barely move the
    /// score (squeezenet1_1's `features.4`, whose median weight is about 1e-6), that floor is
    /// above 1e-4 of the map. Other methods: no floor.
    static func scoreRoundingFloor(_ method: AttributionMethod, _ model: Module, layer: String, input: Tensor) throws -> Float {
        guard method == .ablationCAM else { return 0 }
        let (_, activations) = try model.withTaps([layer]) { withoutGradients { model(input) } }
        let values = try #require(activations[layer])
        let norm = (values * values).sum().scalar.squareRoot()
        return 2 * Float.ulpOfOne * norm
    }

    @Test(arguments: [
        "squeezenet1_1", "resnet18", "squeezenet1_1.safetensors", "resnet18.safetensors", "squeezenet1_1.onnx", "resnet18.onnx",
    ])
    func smoothGradWithCaptumsNoise(_ architecture: String) throws {
        let c = try Case(architecture)
        let noise = try (0..<4).map { try c.reference("noise\($0)") }
        let attribution = NoiseTunnel(Saliency(), samples: 4, batchSize: 2).attribute(
            c.forward, input: formulaInput(), target: c.target, noise: noise)
        expectMatch(attribution, try c.reference("smoothgrad"), "smoothgrad", architecture: architecture)
    }

    /// Conv → Relu and Conv → Add → Relu chains run fused; tapping a tensor inside a chain runs
    /// that chain node by node, and both ways give the same logits.
    @Test(arguments: ["resnet18.onnx", "squeezenet1_1.onnx"])
    func fusedOnnxChainsStillServeTapsInside(_ architecture: String) throws {
        let c = try Case(architecture)
        let x = formulaInput()
        let fused = withoutGradients { c.model(x) }
        let inner = c.model.innerTaps.filter { $0.type == "Conv" || $0.type == "Add" }.map(\.name)
        #expect(!inner.isEmpty)
        let (tapped, activations) = try c.model.withTaps(inner) { withoutGradients { c.model(x) } }
        expectMatch(tapped, fused, "logits with taps inside the chains", architecture: architecture)
        #expect(Set(activations.keys) == Set(inner), "every tapped tensor was recorded")
    }
}
