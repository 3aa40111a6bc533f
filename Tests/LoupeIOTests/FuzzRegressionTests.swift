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

    @Test func everyCrasherIsRefusedCleanly() throws {
        let names =
            (try? FileManager.default.contentsOfDirectory(atPath: Self.folder.path))?.filter { !$0.hasPrefix(".") }.sorted() ?? []
        for name in names {
            let reader = String(name.prefix { $0 != "-" })
            let data = try Data(contentsOf: Self.folder.appendingPathComponent(name))
            #expect(UntrustedInput.readers.contains(reader), "\(name): unknown reader '\(reader)'")
            guard UntrustedInput.readers.contains(reader) else { continue }
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-replay-\(UUID())").path
            defer {
                for suffix in [".pth", ".onnx", "-images.idx", "-labels.idx"] {
                    try? FileManager.default.removeItem(atPath: scratch + suffix)
                }
            }
            do { try UntrustedInput.read(data, with: reader, scratch: scratch) } catch {}  // refusing is fine; crashing is not
        }
    }

    /// Loupe's zip reader takes deflated entries too (torch.save stores; a re-zipped file deflates).
    @Test func deflatedCheckpointReads() throws {
        let path = Self.folder.deletingLastPathComponent().appendingPathComponent("corpus/pth/deflated.pth").path
        let tensors = try PyTorchCheckpoint.read(path)
        #expect(tensors["w"]?.shape == [2, 3] && tensors["w"]?.scalars == [0, 1, 2, 3, 4, 5])
    }
}
