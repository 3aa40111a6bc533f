import Foundation
import LoupeIO
import LoupeNN
import LoupeTensor
import LoupeTestSupport
import Testing

@Suite("Weight files")
struct WeightFileTests {
    private func expectSqueezeNetLogits(_ model: Module) throws {
        let logits = withoutGradients { model(formulaInput()) }
        let expected = try NPY.read(fixtureURL("squeezenet1_1-10-logits.npy").path)
        #expect(logits.shape == [1, 10])
        #expect((logits - expected).abs().max().scalar <= 1e-4 * expected.abs().max().scalar)
    }

    @Test func pthWrittenByTorchSaveLoads() throws {
        let model = try ModelFile.load(fixtureURL("squeezenet1_1-10.pth").path, architecture: "squeezenet1_1")
        try expectSqueezeNetLogits(model)
    }

    @Test func safetensorsWrittenByTorchLoads() throws {
        let model = try ModelFile.load(fixtureURL("squeezenet1_1-10.safetensors").path, architecture: "squeezenet1_1")
        try expectSqueezeNetLogits(model)
    }

    @Test func bothFormatsHoldTheSameTensors() throws {
        let pth = try PyTorchCheckpoint.read(fixtureURL("squeezenet1_1-10.pth").path)
        let safetensors = try SafeTensors.read(fixtureURL("squeezenet1_1-10.safetensors").path)
        #expect(Set(pth.keys) == Set(safetensors.keys))
        for (key, tensor) in pth { #expect(tensor.scalars == safetensors[key]?.scalars, "\(key)") }
    }

    @Test func safetensorsRoundTrip() throws {
        let model = try ModelFile.load(fixtureURL("squeezenet1_1-10.safetensors").path, architecture: "squeezenet1_1")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-\(UUID()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try SafeTensors.write(model.stateDict(), metadata: ["architecture": "squeezenet1_1"], to: path)
        try expectSqueezeNetLogits(try ModelFile.load(path, architecture: "squeezenet1_1"))
    }

    @Test(
        "A pickle naming a dangerous global is refused by name, and nothing runs",
        arguments: [("os_system", "posix.system"), ("builtins_eval", "builtins.eval"), ("subprocess_call", "subprocess.call")])
    func hostilePickleIsRefused(_ file: String, _ global: String) throws {
        let marker = "/tmp/loupe-hostile-marker"
        try? FileManager.default.removeItem(atPath: marker)
        do {
            _ = try PyTorchCheckpoint.read(fixtureURL("hostile/\(file).pth").path)
            Issue.record("the hostile checkpoint was read")
        } catch let error as LoupeIOError {
            #expect(error.description.contains("'\(global)'"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func strictLoadingReportsEveryMismatchAtOnce() throws {
        let state = try SafeTensors.read(fixtureURL("squeezenet1_1-10.safetensors").path)
        let model = try ModelZoo.make("squeezenet1_1")  // 1000 classes: the head differs
        do {
            try model.load(state, strict: true)
            Issue.record("a mismatched head loaded strictly")
        } catch let report as StateDictReport {
            #expect(report.mismatched.map(\.key) == ["classifier.1.weight", "classifier.1.bias"])
            #expect(report.missing.isEmpty && report.unexpected.isEmpty)
            #expect(report.description.contains("classifier.1.weight: model [1000, 512, 1, 1], file [10, 512, 1, 1]"))
        }
        let resnet = try ModelZoo.make("resnet18")
        #expect(throws: StateDictReport.self) { try resnet.load(state) }
    }

    @Test func nonStrictLoadingKeepsAReplacedHead() throws {
        let state = try SafeTensors.read(fixtureURL("squeezenet1_1-10.safetensors").path)
        let model = try ModelZoo.make("squeezenet1_1")
        let head = try #require(model.namedParameters().first { $0.key == "classifier.1.weight" }?.parameter)
        let before = head.value.scalars
        let report = try model.load(state, strict: false)
        #expect(report.mismatched.count == 2)
        #expect(head.value.scalars == before)
        #expect(model.stateDict()["features.0.weight"]?.scalars == state["features.0.weight"]?.scalars)
    }

    @Test func corruptFilesAreClearErrors() throws {
        let directory = FileManager.default.temporaryDirectory
        let notZip = directory.appendingPathComponent("loupe-\(UUID()).pth").path
        try Data("hello".utf8).write(to: URL(fileURLWithPath: notZip))
        defer { try? FileManager.default.removeItem(atPath: notZip) }
        #expect(throws: LoupeIOError.self) { try PyTorchCheckpoint.read(notZip) }
        var bytes = try Data(contentsOf: fixtureURL("squeezenet1_1-10.safetensors"))
        bytes.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0])  // header length past the end
        #expect(throws: LoupeIOError.self) { try SafeTensors.decode(bytes) }
        #expect(throws: LoupeIOError.self) { try SafeTensors.decode(Data([1, 2, 3])) }
    }
}

@Suite("Taps")
struct TapTests {
    @Test func tapsReadActivationsAndTheirGradients() throws {
        let model = try ModelZoo.make("resnet18", classes: 5)
        let input = formulaInput()
        let (logits, activations) = try model.withTaps(["layer4", "layer2.0.conv1"], gradients: true) { model(input) }
        #expect(activations["layer4"]?.shape == [1, 512, 2, 2])
        #expect(activations["layer2.0.conv1"]?.shape == [1, 128, 8, 8])
        // The score depends on layer4 only through avgpool and fc: d score / d layer4 = fc.weight[c] / (h·w).
        let layer4 = try #require(activations["layer4"])
        let gradient = gradients(of: logits[0][3], at: [layer4])[0]
        let fcRow = try #require(model.stateDict()["fc.weight"])[3]
        #expect((gradient[0].mean(alongAxes: [1, 2]) * 4 - fcRow).abs().max().scalar < 1e-5)
    }

    @Test func unknownLayerSuggestsNearestNames() throws {
        let model = try ModelZoo.make("resnet18")
        do {
            _ = try model.withTaps(["layer4.1.con2"]) { 0 }
            Issue.record("an unknown layer was accepted")
        } catch let error as UnknownLayerError {
            #expect(error.suggestions.first == "layer4.1.conv2")
            #expect(error.description.contains("did you mean"))
        }
    }
}
