import Foundation
import LoupeIO
import Testing

/// The readers behind `loupe batch`: SHA-256, manifests, and PNGs written fast.
@Suite("Datasets for batch runs")
struct DataSourceTests {
    @Test func sha256MatchesKnownDigests() {
        let pattern = { (count: Int) in Data((0..<count).map { UInt8($0 % 251) }) }
        // Python's hashlib; 55 and 64 bytes straddle the padding's block boundary.
        #expect(SHA256.hex(Data()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Data("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(pattern(55)) == "463eb28e72f82e0a96c0a4cc53690c571281131f672aa229e0d45ae59b598b59")
        #expect(SHA256.hex(pattern(64)) == "fdeab9acf3710362bd2658cdc9a29e8f9c757fcf9811603a8c447cd1d9151108")
        #expect(SHA256.hex(pattern(100_000)) == "cd2df694e424bc7968cc37f47751019e5ca0cd1bdf2e479ea537c3a1c32ee1aa")
        // A slice of a larger buffer (its indices do not start at 0).
        let slice = pattern(100_100).dropFirst(100)
        #expect(SHA256.hex(Data(slice)) == SHA256.hex(slice))
    }

    @Test func aFastPNGDecodesToTheSamePixels() throws {
        let image = Image(
            width: 37, height: 23, channels: 3, pixels: (0..<(37 * 23 * 3)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 / 7) })
        for fast in [false, true] {
            #expect(try Image.decode(image.encodePNG(fast: fast)) == image)
        }
    }

    /// A manifest in a fresh folder beside one image; returns the manifest's path.
    func manifest(_ text: String) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-manifest-\(UUID())")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("a b"), withIntermediateDirectories: true)
        try Image(width: 2, height: 2, channels: 1, pixels: [0, 64, 128, 255]).writePNG(
            to: folder.appendingPathComponent("a b/x,1.png").path)
        let path = folder.appendingPathComponent("list.csv").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func manifestsFollowRFC4180() throws {
        let path = try manifest("path,label,target\r\n\"a b/x,1.png\",cat,\n\"a b/x,1.png\",2,\"1\"\n\n")
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
        let source = try DataSource.open(path, modelClassNames: ["dog", "cat", "bird"])
        #expect(source.kind == .manifest)
        #expect(
            source.items == [
                .init(source: "a b/x,1.png", label: 1, target: nil), .init(source: "a b/x,1.png", label: 2, target: 1),
            ])
        #expect(try source.image(at: 1).pixels == [0, 64, 128, 255])
        #expect(source.fingerprint.map(\.path) == ["list.csv", "a b/x,1.png", "a b/x,1.png"])
    }

    @Test func badManifestsAreRefusedInOneLine() throws {
        for (text, message) in [
            ("/etc/passwd,1\n", "relative to the manifest"), ("../x.png,1\n", "relative to the manifest"),
            ("\"a b/x,1.png,1\n", "never closed"), ("a b/x,1.png,horse\n", "neither a class index"),
            ("path,kind\na b/x,1.png,1\n", "header"), ("path,label\n", "lists no images"), ("missing.png,1\n", "cannot read"),
        ] {
            let path = try manifest(text)
            defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
            #expect {
                try DataSource.open(path, modelClassNames: ["dog", "cat"])
            } throws: { error in
                "\(error)".contains(message) && !"\(error)".contains("\n")
            }
        }
    }
}
