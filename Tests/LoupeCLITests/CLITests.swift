import Foundation
import LoupeIO
import LoupeTensor
import Testing

/// Runs the built `loupe` executable end to end.
@Suite("loupe command line")
struct CLITests {
    private let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    private func run(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = productsDirectory.appendingPathComponent("loupe")
        process.arguments = arguments
        process.currentDirectoryURL = root
        let output = Pipe(), error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outputData, as: UTF8.self),
                String(decoding: errorData, as: UTF8.self))
    }

    private var productsDirectory: URL {
        // The test bundle sits in the build products folder beside the executables.
        Bundle.allBundles.first { $0.bundlePath.hasSuffix(".xctest") }
            .map { URL(fileURLWithPath: $0.bundlePath).deletingLastPathComponent() }
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }

    @Test func versionAndHelp() throws {
        let version = try run(["--version"])
        #expect(version.status == 0)
        #expect(version.output.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
        let help = try run(["--help"])
        #expect(help.status == 0)
        #expect(help.output.contains("See inside a convolutional image classifier"))
        #expect(help.output.contains("demo"))
    }

    @Test func demoWritesDecodablePictures() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-demo-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try run(["demo", "--out", folder.path])
        #expect(result.status == 0, "\(result.error)")
        let grid = try Image.read(folder.appendingPathComponent("feature-maps.png").path)
        #expect(grid.width > 4 * 224 && grid.height > 224)
        let saliency = try Image.read(folder.appendingPathComponent("saliency.png").path)
        #expect(saliency.pixels.contains { $0 > 128 })
    }

    @Test func badImageFailsWithOneLineAndNoOutput() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-bad-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try run(["demo", "--image", "Package.swift", "--out", folder.path])
        #expect(result.status != 0)
        #expect(result.error.contains("neither a PNG nor a JPEG"))
        #expect(result.error.split(separator: "\n").count == 1)
        #expect(!FileManager.default.fileExists(atPath: folder.path))
    }

    private var squeezeNetFixtures: URL {
        root.appendingPathComponent("Tests/LoupeNNTests/Fixtures")
    }

    @Test func summaryPrintsTorchinfoTotals() throws {
        let resnet = try run(["summary", "--arch", "resnet18"])
        #expect(resnet.status == 0, "\(resnet.error)")
        #expect(resnet.output.contains("Total params: 11,689,512"))
        #expect(resnet.output.contains("layer4.1.conv2"))
        #expect(resnet.output.contains("[1, 512, 7, 7]"))
        let vgg = try run(["summary", "--arch", "vgg16"])
        #expect(vgg.output.contains("Total params: 138,357,544"))
    }

    @Test func predictReportsTheModelsOwnOutput() throws {
        // The fixture input, written as the model input itself (no preprocessing).
        let values: [Float] = (0..<(3 * 64 * 64)).map { index in
            let step = (index * 31 + 7) % 257
            return Float(Double(step) / 128.0 - 1.0)
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-predict-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("x.npy").path
        try NPY.write(Tensor(shape: [3, 64, 64], scalars: values), to: input)
        let raw = directory.appendingPathComponent("logits.npy").path
        let result = try run(["predict", "--model", squeezeNetFixtures.appendingPathComponent("squeezenet1_1-10.pth").path,
                              "--arch", "squeezenet1_1", "--input", input, "--json", "--top", "3", "--raw", raw])
        #expect(result.status == 0, "\(result.error)")
        let expected = try NPY.read(squeezeNetFixtures.appendingPathComponent("squeezenet1_1-10-logits.npy").path)[0]
        let logits = try NPY.read(raw)
        #expect(logits.shape == [10])
        #expect((logits - expected).abs().max().scalar < 1e-4 * expected.abs().max().scalar)
        let parsed = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
        let top = try #require(parsed?["top"] as? [[String: Any]])
        #expect(top.count == 3)
        #expect(top[0]["index"] as? Int == expected.argmax())
    }

    @Test func predictWithoutArchitectureOrMetadataIsAClearError() throws {
        let result = try run(["predict", "--model", squeezeNetFixtures.appendingPathComponent("squeezenet1_1-10.pth").path,
                              "--image", "Samples/dog.jpg"])
        #expect(result.status != 0)
        #expect(result.error.contains("needs --arch"))
        #expect(result.error.split(separator: "\n").count == 1)
    }
}
