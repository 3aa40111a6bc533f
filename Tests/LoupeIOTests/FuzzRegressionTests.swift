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
            // The reader's name runs up to "-crash-" (or "-leak-", ...): "pth-legacy-crash-…".
            let reader =
                UntrustedInput.readers.sorted { $0.count > $1.count }.first { name.hasPrefix("\($0)-") }
                ?? String(name.prefix { $0 != "-" })
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

    /// torch.save's legacy format (Tools/fixtures/make_legacy_pth_fixtures.py): a layer's
    /// state_dict, tensors viewing one storage at offsets and transposed, float16.
    @Test func legacyCheckpointsRead() throws {
        let corpus = Self.folder.deletingLastPathComponent().appendingPathComponent("corpus/pth-legacy")
        let small = try PyTorchCheckpoint.read(corpus.appendingPathComponent("small.pth").path)
        #expect(small["weight"]?.shape == [3, 2, 2, 2] && small["weight"]?.scalars == (0..<24).map { Float($0) / 8 })
        #expect(small["bias"]?.scalars == [0.5, -1, 2])
        let shared = try PyTorchCheckpoint.read(corpus.appendingPathComponent("shared.pth").path)
        #expect(shared["first"]?.scalars == [0, 1, 2, 3, 4, 5] && shared["second"]?.scalars == [6, 7, 8, 9, 10, 11])
        #expect(
            shared["transposed"]?.shape == [4, 3] && shared["transposed"]?.scalars == [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])
        let half = try PyTorchCheckpoint.read(corpus.appendingPathComponent("half.pth").path)
        #expect(half["w"]?.scalars == [1.5, -2.25, 0.125, 4])
    }

    /// A legacy stream whose state_dict pickle calls posix.system is refused by name, and the
    /// command it carries never runs.
    @Test func hostileLegacyCheckpointIsRefusedBeforeAnythingRuns() throws {
        try? FileManager.default.removeItem(atPath: "/tmp/loupe-legacy-pwned")
        let path = Self.folder.deletingLastPathComponent().appendingPathComponent("corpus/pth-legacy/hostile.pth").path
        do {
            _ = try PyTorchCheckpoint.read(path)
            Issue.record("the hostile file was read")
        } catch {
            #expect("\(error)".contains("refusing to load") && "\(error)".contains("'posix.system'"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/loupe-legacy-pwned"))
    }

    /// A truncated or altered legacy stream is refused in one line, never read past its end.
    @Test func damagedLegacyCheckpointsAreRefused() throws {
        let path = Self.folder.deletingLastPathComponent().appendingPathComponent("corpus/pth-legacy/small.pth").path
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-legacy-\(UUID()).pth")
        defer { try? FileManager.default.removeItem(at: scratch) }
        for cut in stride(from: 15, to: bytes.count, by: 7) {  // from just past the magic number
            try bytes.prefix(cut).write(to: scratch)
            #expect(throws: LoupeIOError.self) { try PyTorchCheckpoint.read(scratch.path) }
        }
    }
}
