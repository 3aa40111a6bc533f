import Foundation
import LoupeExplain
import LoupeIO
import LoupeNN
import LoupeTensor
import Testing

/// The demo's real network, torchvision's ImageNet MobileNetV2, against torchvision and Captum
/// (Tools/fixtures/make_mobilenet_v2_fixtures.py): the official legacy `.pth` in float32, which
/// `make test` fetches (Tools/fetch-mobilenet-v2.sh), and the bundled float16 conversion
/// (Models/mobilenet_v2.safetensors), whose reference ran on the same fp16-rounded weights.
@Suite("The real MobileNetV2", .serialized)
struct RealMobileNetV2Tests {
    static let legacyFile = ".build/mobilenet-v2/mobilenet_v2-b0353104.pth"
    static let bundledFile = "Models/mobilenet_v2.safetensors"

    let folder: URL
    let parameters: [String: Any]

    init() throws {
        folder = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent(
            "mobilenet_v2")
        parameters = try #require(
            JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("params.json"))) as? [String: Any])
    }

    /// The legacy file, which `make test` fetches; a run without it says how to get it.
    func legacyModel() throws -> LoadedModel {
        try #require(
            FileManager.default.fileExists(atPath: Self.legacyFile),
            "\(Self.legacyFile) is missing: run sh Tools/fetch-mobilenet-v2.sh .build/mobilenet-v2 (make test does)")
        return try LoadedModel.load(Self.legacyFile, architecture: "mobilenet_v2")
    }

    func reference(_ name: String) throws -> Tensor { try NPY.read(folder.appendingPathComponent("\(name).npy").path) }

    /// Within 1e-3 of the largest reference value; with `kinkNearby`, all but 0.1 % of the values.
    ///
    /// A ReLU6 input that float32 rounding can put on the other side of 0 or 6 (the fixture
    /// measures, in float64, how close the nearest lies: under 1e-8 of its layer's largest value
    /// here, in both files) switches its gradient on or off, which moves the saliency of the few
    /// pixels above it: by 0.8 % of the largest value on 27 of 150,528 values with this host's
    /// AVX-512 kernels, by 1.2 % under `ONEDNN_MAX_CPU_ISA=AVX2`, where neither side is wrong.
    func expectClose(_ actual: Tensor, _ expected: Tensor, _ what: String, kinkNearby: Bool = false) {
        #expect(actual.shape == expected.shape, "\(what) shape")
        guard actual.shape == expected.shape else { return }
        let scale = expected.abs().max().scalar, difference = (actual - expected).abs()
        let outside = difference.scalars.filter { $0 > 1e-3 * scale }.count, worst = difference.max().scalar
        if kinkNearby {
            #expect(
                outside * 1000 <= difference.count && worst <= 5e-2 * scale,
                "\(what): \(outside) of \(difference.count) values beyond 1e-3, max |Δ| \(worst) against \(scale)")
        } else {
            #expect(worst <= 1e-3 * scale, "\(what): max |Δ| \(worst) against max |reference| \(scale)")
        }
    }

    @Test(arguments: ["pth", "fp16"])
    func saliencyAndGradCAMEqualCaptum(_ file: String) throws {
        let model = file == "pth" ? try legacyModel() : try LoadedModel.load(Self.bundledFile, architecture: nil)
        let x = try reference("input")
        let target = ExplanationTarget.classes([try #require(parameters["target"] as? Int)])
        let layer = try #require(parameters["layer"] as? String)
        let network = model.module
        let kinks = try #require(parameters["closestKink"] as? [String: Double])
        expectClose(
            Saliency().attribute({ network($0) }, input: x, target: target).abs(), try reference("\(file)_saliency"),
            "\(file) saliency", kinkNearby: try #require(kinks[file]) < 1e-6)
        expectClose(
            try GradCAM().attribute(network, layer: layer, input: x, target: target)[0], try reference("\(file)_grad_cam"),
            "\(file) grad-cam")
    }

    /// Loupe's own preprocessing of the five photos (the bundled metadata: resize 256, crop 224)
    /// gives torchvision's top-1 class with either file, and the dog photo becomes the input
    /// torchvision's transforms make (the JPEG decoders may differ by a level or so).
    @Test func topOneOnTheSamplePhotosIsTorchvisions() throws {
        let bundled = try LoadedModel.load(Self.bundledFile, architecture: nil)
        let legacy = try legacyModel()
        let preprocessing = ImagePreprocessing(metadata: bundled.metadata)
        let photos = try #require(parameters["photos"] as? [String: [String: Double]])
        #expect(photos.count == 5)
        for (name, expected) in photos {
            let input = try bundled.input(image: "Samples/imagenet/\(name)", array: nil, preprocessing: preprocessing)
            if name == "dog.jpg" {
                let difference = (input - (try reference("input"))).abs()
                // One 8-bit level is 1/255 over the smallest std (0.224): 0.0175.
                #expect(difference.max().scalar <= 2.1 * 0.0175 && difference.mean().scalar <= 0.002, "\(name) input")
            }
            for model in [bundled, legacy] {
                let top = withoutGradients { model.module(input) }[0].argmax()
                #expect(Double(top) == expected["top1"], "\(name): Loupe's top-1 \(top), torchvision's \(expected["top1"]!)")
            }
        }
    }
}
