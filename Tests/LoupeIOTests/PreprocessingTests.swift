import Foundation
import LoupeIO
import LoupeTensor
import Testing

/// Photos made inputs for models that are not torchvision's: BGR order, pixel values in other
/// units, letterboxing, and the same settings read from a metadata file.
@Suite("image preprocessing")
struct PreprocessingTests {
    /// A 2 × 4 RGB photo whose pixels are all different: red 10·i, green 100 + i, blue 250 − 20·i.
    let photo: Image = {
        var pixels: [UInt8] = []
        for index in 0..<8 { pixels += [UInt8(10 * index), UInt8(100 + index), UInt8(250 - 20 * index)] }
        return Image(width: 4, height: 2, channels: 3, pixels: pixels)
    }()

    func plain() -> ImagePreprocessing {
        ImagePreprocessing(resize: nil, crop: nil, mean: [0, 0, 0], std: [1, 1, 1], channels: 3)
    }

    @Test func bgrOrderAndCaffeStyleUnits() {
        var caffe = plain()
        (caffe.channelOrder, caffe.pixelScale, caffe.mean, caffe.std) = (.bgr, 1, [104, 117, 123], [2, 2, 2])
        let input = caffe.apply(to: photo)
        #expect(input.shape == [1, 3, 2, 4])
        // Channel 0 is blue, in 0-255, less 104, over 2; channel 2 is red less 123, over 2.
        let blue: [Float] = (0..<8).map { index in (Float(250 - 20 * index) - 104) / 2 }
        let green: [Float] = (0..<8).map { index in (Float(100 + index) - 117) / 2 }
        let red: [Float] = (0..<8).map { index in (Float(10 * index) - 123) / 2 }
        #expect(input[0][0].scalars == blue)
        #expect(input[0][1].scalars == green)
        #expect(input[0][2].scalars == red)
        // The default keeps torchvision's: RGB in [0, 1].
        let unitRed: [Float] = (0..<8).map { index in Float(10 * index) / 255 }
        #expect(plain().apply(to: photo)[0][0].scalars == unitRed)
    }

    @Test func letterboxKeepsTheAspectRatioAndPads() {
        var boxed = plain()
        (boxed.exactSize, boxed.letterbox, boxed.padValue) = (Size2D(8, 8), .center, 51)
        // 2 × 4 fits 8 × 8 at scale 2: 4 × 8, with 2 padded rows above and below.
        let centred = boxed.picture(of: photo)
        #expect(centred.shape == [1, 3, 8, 8])
        let resized = photo.resized(width: 8, height: 4).tensor()
        #expect(centred.slice(along: 2, from: 2, to: 6).scalars == resized.scalars)
        for rows in [0..<2, 6..<8] {
            #expect(centred.slice(along: 2, from: rows.lowerBound, to: rows.upperBound).scalars.allSatisfy { $0 == 51 / 255 })
        }
        boxed.letterbox = .topleft
        let corner = boxed.picture(of: photo)
        #expect(corner.slice(along: 2, from: 0, to: 4).scalars == resized.scalars)
        #expect(corner.slice(along: 2, from: 4, to: 8).scalars.allSatisfy { $0 == 51 / 255 })
        // The input is the picture normalized: padding becomes 51 · scale, then (x − mean) / std.
        #expect(boxed.apply(to: photo).scalars == corner.scalars)
    }

    @Test func metadataCarriesThePreprocessing() throws {
        let json = """
            {"inputShape": [3, 6, 6], "mean": [1, 2, 3], "std": [4, 5, 6], "channelOrder": "bgr", "pixelScale": 0.5,
             "resize": [6, 6], "letterbox": "topleft", "padValue": 7, "interpolation": "bicubic"}
            """
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-metadata-\(UUID()).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(json.utf8).write(to: file)
        let preprocessing = ImagePreprocessing(metadata: try ModelMetadata.read(file.path))
        #expect(preprocessing.channelOrder == .bgr && preprocessing.pixelScale == 0.5 && preprocessing.padValue == 7)
        #expect(preprocessing.letterbox == .topleft && preprocessing.exactSize == Size2D(6, 6))
        #expect(preprocessing.resize == nil && preprocessing.crop == nil && preprocessing.interpolation == .bicubic)
        #expect(preprocessing.apply(to: photo).shape == [1, 3, 6, 6])
        for bad in [
            #""pixelScale": 0"#, #""padValue": 300"#, #""resize": [0, 4]"#, #""letterbox": "middle""#,
            #""interpolation": "lanczos""#,
        ] {
            try Data(#"{"inputShape": [3, 6, 6], "mean": [0], "std": [1], \#(bad)}"#.utf8).write(to: file)
            #expect(throws: LoupeIOError.self, "\(bad)") { try ModelMetadata.read(file.path) }
        }
    }

    /// Photos are resized as Pillow resizes them (what torchvision's `Resize` runs on PIL images),
    /// byte for byte: Tools/fixtures/make_resize_fixtures.py, bilinear and bicubic, shrinking
    /// (antialiased) and enlarging, along one axis and both.
    @Test func resizeEqualsPillowByteForByte() throws {
        let folder = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent("resize")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter {
            $0.split(separator: "-").count == 4
        }
        #expect(names.count == 20)
        for name in names {
            // source-rgb-19x13-bicubic.png
            let parts = name.dropLast(4).split(separator: "-")
            let size = parts[2].split(separator: "x").compactMap { Int($0) }
            let interpolation = try #require(Interpolation(rawValue: String(parts[3])))
            let source = try Image.read(folder.appendingPathComponent("\(parts[0])-\(parts[1]).png").path)
            let expected = try Image.read(folder.appendingPathComponent(name).path)
            let resized = source.resized(width: size[0], height: size[1], interpolation: interpolation)
            let differing = zip(resized.pixels, expected.pixels).filter { $0 != $1 }.count
            #expect(
                resized.width == expected.width && resized.height == expected.height && differing == 0,
                "\(name): \(differing) bytes differ")
        }
    }

    /// torchvision's `CenterCrop` rounds an odd margin's half to even (Python's `round`), and
    /// `Resize(n)` makes the longer side `int(n · long / short)`.
    @Test func cropAndResizeSizesAreTorchvisions() {
        var preprocessing = plain()
        (preprocessing.resize, preprocessing.crop) = (5, 2)
        #expect(preprocessing.resizedSize(height: 3, width: 7) == Size2D(5, 11))
        // 7 × 5 (odd margins 5 and 3): rows from round(2.5) = 2, columns from round(1.5) = 2.
        let wide = Image(width: 5, height: 7, channels: 1, pixels: (0..<35).map { UInt8($0) })
        preprocessing.resize = nil
        preprocessing.channels = 1
        #expect(preprocessing.picture(of: wide).scalars == [12, 13, 17, 18].map { Float($0) / 255 })
    }
}
