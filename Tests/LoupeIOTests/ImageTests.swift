import Foundation
import LoupeIO
import LoupeTensor
import Testing

@Suite("Images")
struct ImageTests {
    private let samples = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Samples/imagenet")

    @Test func decodesTheSampleJPEG() throws {
        let image = try Image.read(samples.appendingPathComponent("dog.jpg").path)
        #expect(image.width == 768 && image.height == 576 && image.channels == 3)
        let tensor = image.tensor()
        #expect(tensor.shape == [1, 3, 576, 768])
        #expect(tensor.min().scalar >= 0 && tensor.max().scalar <= 1)
    }

    private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    @Test func decodesGrayscaleJPEGPalettePNGAndDropsAlpha() throws {
        // An 8×6 ramp 0, 32, ..., 224 written by Pillow as a grayscale JPEG (quality 100) and a palette PNG.
        let ramp = (0..<6).flatMap { _ in (0..<8).map { $0 * 32 } }
        let jpeg = try Image.read(fixtures.appendingPathComponent("ramp-gray.jpg").path)
        #expect(jpeg.width == 8 && jpeg.height == 6 && jpeg.channels == 1)
        #expect(zip(jpeg.pixels, ramp).allSatisfy { abs(Int($0) - $1) <= 2 })
        let palette = try Image.read(fixtures.appendingPathComponent("ramp-palette.png").path)
        #expect(palette.width == 8 && palette.height == 6)
        // libpng's simplified API reports any palette as colour: three equal channels.
        #expect(palette.channels == 3 && palette.pixels == ramp.flatMap { Array(repeating: UInt8($0), count: 3) })
        // An opaque RGBA PNG (200, 100, 50, 255) becomes RGB.
        let rgba = try Image.read(fixtures.appendingPathComponent("orange-rgba.png").path)
        #expect(rgba.width == 5 && rgba.height == 4 && rgba.channels == 3)
        #expect(rgba.pixels == Array(repeating: [200, 100, 50], count: 20).flatMap { $0 })
    }

    @Test func pngRoundTripIsExact() throws {
        let pixels = (0..<(5 * 4 * 3)).map { UInt8(($0 * 37) % 256) }
        let image = Image(width: 5, height: 4, channels: 3, pixels: pixels)
        #expect(try Image.decode(image.encodePNG()) == image)
        let gray = Image(width: 3, height: 2, channels: 1, pixels: [0, 50, 100, 150, 200, 255])
        #expect(try Image.decode(gray.encodePNG()) == gray)
    }

    @Test func tensorConversionRoundTrips() {
        let image = Image(width: 2, height: 1, channels: 3, pixels: [255, 0, 128, 10, 20, 30])
        #expect(Image(tensor: image.tensor()) == image)
    }

    @Test func refusesCorruptImages() throws {
        #expect(throws: LoupeIOError.self) { try Image.decode(Data("hello".utf8)) }
        let jpeg = try Data(contentsOf: samples.appendingPathComponent("dog.jpg"))
        #expect(throws: LoupeIOError.self) { try Image.decode(jpeg.prefix(400)) }
        let png = try Image(width: 4, height: 4, channels: 1, pixels: Array(repeating: 7, count: 16)).encodePNG()
        #expect(throws: LoupeIOError.self) { try Image.decode(png.prefix(40)) }
    }
}
