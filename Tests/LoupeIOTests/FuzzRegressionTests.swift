import Foundation
import LoupeIO
import Testing

/// Every input the fuzzers (`make fuzz`) ever crashed Loupe with, replayed through the same
/// reader: each must now be refused with an error (or read), never crash. Files in
/// Fuzz/crashers/ are named `<reader>-crash-<hash>` (or `leak-`, `oom-`, `timeout-`).
@Suite("fuzz regressions")
struct FuzzRegressionTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/crashers")

    static func read(_ data: Data, reader: String) throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-replay-\(UUID())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        switch reader {
        case "safetensors": _ = try SafeTensors.decode(data)
        case "npy": _ = try NPY.decode(data)
        case "png", "jpeg": _ = try Image.decode(data)
        case "pth":
            try data.write(to: scratch.appendingPathComponent("m.pth"))
            _ = try PyTorchCheckpoint.read(scratch.appendingPathComponent("m.pth").path)
        case "onnx":
            try data.write(to: scratch.appendingPathComponent("m.onnx"))
            _ = try LoadedModel.load(scratch.appendingPathComponent("m.onnx").path, architecture: nil)
        case "idx":
            let half = data.count / 2
            try data.prefix(half).write(to: scratch.appendingPathComponent("i.idx"))
            try data.dropFirst(half).write(to: scratch.appendingPathComponent("l.idx"))
            _ = try Dataset.idx(images: scratch.appendingPathComponent("i.idx").path, labels: scratch.appendingPathComponent("l.idx").path)
        default:
            Issue.record("unknown reader '\(reader)'")
        }
    }

    @Test func everyCrasherIsRefusedCleanly() throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Self.folder.path))?.filter { !$0.hasPrefix(".") }.sorted() ?? []
        for name in names {
            let reader = String(name.prefix { $0 != "-" })
            let data = try Data(contentsOf: Self.folder.appendingPathComponent(name))
            do { try Self.read(data, reader: reader) } catch {}  // refusing is fine; crashing is not
        }
    }

    /// Loupe's zip reader takes deflated entries too (torch.save stores; a re-zipped file deflates).
    @Test func deflatedCheckpointReads() throws {
        let path = Self.folder.deletingLastPathComponent().appendingPathComponent("corpus/pth/deflated.pth").path
        let tensors = try PyTorchCheckpoint.read(path)
        #expect(tensors["w"]?.shape == [2, 3] && tensors["w"]?.scalars == [0, 1, 2, 3, 4, 5])
    }
}
