import Foundation
import LoupeIO
import LoupeTensor
import Testing

@Suite("Datasets")
struct DatasetTests {
    @Test func idxFilesGzippedOrNot() throws {
        let dataset = try Dataset.idx(
            images: fixtureURL("idx/images-idx3-ubyte.gz").path,
            labels: fixtureURL("idx/labels-idx1-ubyte").path)
        #expect(dataset.images.shape == [3, 1, 2, 4])
        #expect(dataset.labels == [2, 0, 1])
        #expect(dataset.classNames.count == 3)
        // Pixel k of the file is 10·k, scaled to [0, 1].
        #expect(dataset.images.scalars[5] == Float(50) / 255)
    }

    @Test func idxSizeMismatchIsRefused() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-\(UUID())-idx").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        // Declares 1000 images of 28×28 but holds 4 bytes.
        try Data([0, 0, 8, 3, 0, 0, 3, 232, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3, 4]).write(to: URL(fileURLWithPath: path))
        #expect(throws: LoupeIOError.self) { try Dataset.idx(images: path, labels: path) }
    }

    @Test func imageFolderUsesSubfoldersAsClasses() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-folder-\(UUID())")
        defer { try? FileManager.default.removeItem(at: root) }
        for (name, value) in [("dog", UInt8(200)), ("cat", UInt8(10))] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(name), withIntermediateDirectories: true)
            for index in 0..<2 {
                try Image(width: 6, height: 4, channels: 3, pixels: Array(repeating: value, count: 72))
                    .writePNG(to: root.appendingPathComponent("\(name)/\(index).png").path)
            }
        }
        let dataset = try Dataset.imageFolder(root.path, size: Size2D(8, 8))
        #expect(dataset.classNames == ["cat", "dog"])
        #expect(dataset.labels == [0, 0, 1, 1])
        #expect(dataset.images.shape == [4, 3, 8, 8])
        #expect(Swift.abs(dataset.images[3].mean().scalar - 200.0 / 255) < 1e-5)
        let (training, validation) = dataset.split(validationFraction: 0.25, seed: 1)
        #expect(training.count == 3 && validation.count == 1)
    }
}
