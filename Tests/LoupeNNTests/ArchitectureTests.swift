import Foundation
import LoupeIO
import LoupeNN
import LoupeTensor
import Testing

/// The formula Tools/fixtures/make_model_fixtures.py fills every parameter with.
func formulaValue(key: String, shape: [Int]) -> Tensor {
    let count = shape.reduce(1, *)
    let seed = key.utf8.reduce(0) { $0 + Int($1) }
    // value = offset + scale·h, by the kind of tensor (decided once, outside the loop).
    let (offset, scale): (Double, Double)
    if key.hasSuffix("running_var") { (offset, scale) = (0.75, 0.25) }
    else if key.hasSuffix("running_mean") || key.hasSuffix(".bias") { (offset, scale) = (0, 0.1) }
    else if shape.count >= 2 { (offset, scale) = (0, (3.0 / Double(count / shape[0])).squareRoot()) }
    else { (offset, scale) = (1, 0.1) }
    var values = [Float](repeating: 0, count: count)
    for index in 0..<count {
        let h = Double((index * 7919 + seed * 104_729) % 2003) / 1001.0 - 1.0
        values[index] = Float(offset + scale * h)
    }
    return Tensor(shape: shape, scalars: values)
}

/// The fixture input [1, 3, 64, 64].
func formulaInput() -> Tensor {
    let values: [Float] = (0..<(3 * 64 * 64)).map { index in
        let step = (index * 31 + 7) % 257
        return Float(Double(step) / 128.0 - 1.0)
    }
    return Tensor(shape: [1, 3, 64, 64], scalars: values)
}

func fixtureURL(_ name: String) throws -> URL {
    try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent(name)
}

@Suite("torchvision architectures", .serialized)
struct ArchitectureTests {
    @Test("Logits equal PyTorch's for the same weights", arguments: ModelZoo.architectures)
    func logitsMatchPyTorch(_ name: String) throws {
        let model = try ModelZoo.make(name)
        for (key, parameter) in model.namedParameters() where !key.hasSuffix("num_batches_tracked") {
            parameter.value = formulaValue(key: key, shape: parameter.shape)
        }
        let logits = withoutGradients { model(formulaInput()) }
        let expected = try NPY.read(fixtureURL("logits/\(name).npy").path)
        #expect(logits.shape == expected.shape)
        let scale = expected.abs().max().scalar
        let worst = (logits - expected).abs().max().scalar
        #expect(worst <= 1e-4 * scale, "\(name): max |Δ| \(worst) against max |logit| \(scale)")
    }

    @Test func stateDictKeysAreTorchvisions() throws {
        let keys = try ModelZoo.make("resnet18").namedParameters().map(\.key)
        #expect(keys.count == 122)  // len(torchvision.models.resnet18().state_dict())
        #expect(keys.prefix(3) == ["conv1.weight", "bn1.weight", "bn1.bias"])
        #expect(keys.contains("layer2.0.downsample.1.running_var"))
        #expect(keys.last == "fc.bias")
        let vgg = try ModelZoo.make("vgg16").namedParameters().map(\.key)
        #expect(vgg.contains("features.28.weight") && vgg.contains("classifier.6.bias"))
    }

    @Test func parameterTotalsMatchTorchinfo() throws {
        func total(_ name: String) throws -> Int {
            try ModelZoo.make(name).namedParameters().filter { !$0.parameter.isBuffer }.map { $0.parameter.value.count }.reduce(0, +)
        }
        #expect(try total("vgg16") == 138_357_544)
        #expect(try total("resnet18") == 11_689_512)
        #expect(try total("squeezenet1_1") == 1_235_496)
        #expect(try total("alexnet") == 61_100_840)
        #expect(try total("resnet50") == 25_557_032)
    }

    @Test func unknownArchitectureListsTheKnownOnes() {
        #expect(throws: UnknownArchitectureError.self) { try ModelZoo.make("vgg17") }
        #expect(throws: UnknownArchitectureError.self) { try ModelZoo.make("resnet") }
        do {
            _ = try ModelZoo.make("lenet")
        } catch {
            #expect("\(error)".contains("resnet50") && "\(error)".contains("squeezenet1_1"))
        }
    }
}
