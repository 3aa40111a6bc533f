import Foundation
import LoupeIO
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
}
