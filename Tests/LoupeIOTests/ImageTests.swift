import Foundation
import LoupeIO
import LoupeTensor
import Testing

@Suite("Images")
struct ImageTests {
    private let samples = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Samples")

    @Test func decodesTheSampleJPEG() throws {
        let image = try Image.read(samples.appendingPathComponent("dog.jpg").path)
        #expect(image.width == 768 && image.height == 576 && image.channels == 3)
        let tensor = image.tensor()
        #expect(tensor.shape == [1, 3, 576, 768])
        #expect(tensor.min().scalar >= 0 && tensor.max().scalar <= 1)
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
