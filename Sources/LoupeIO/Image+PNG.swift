import CPNG
import Foundation

extension Image {
    static func decodePNG(_ bytes: [UInt8], name: String) throws -> Image {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        defer { png_image_free(&image) }
        guard bytes.withUnsafeBytes({ png_image_begin_read_from_memory(&image, $0.baseAddress, $0.count) }) != 0 else {
            throw LoupeIOError("\(name): not a readable PNG (\(message(of: &image)))")
        }
        try checkSize(width: Int(image.width), height: Int(image.height), name: name)
        let gray = image.format & UInt32(PNG_FORMAT_FLAG_COLOR) == 0
        let channels = gray ? 1 : 3
        image.format = gray ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
        var pixels = [UInt8](repeating: 0, count: Int(image.width) * Int(image.height) * channels)
        let finished = bytes.withUnsafeBytes { _ in
            pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
        }
        guard finished != 0 else {
            throw LoupeIOError("\(name): corrupt PNG (\(message(of: &image)))")
        }
        return Image(width: Int(image.width), height: Int(image.height), channels: channels, pixels: pixels)
    }

    /// The image encoded as PNG bytes.
    public func encodePNG() throws -> Data {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = channels == 1 ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
        defer { png_image_free(&image) }
        var size = 0
        let sized = pixels.withUnsafeBytes { png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, 0, nil) }
        guard sized != 0 else { throw LoupeIOError("cannot encode PNG (\(Image.message(of: &image)))") }
        var output = [UInt8](repeating: 0, count: size)
        let written = output.withUnsafeMutableBytes { target in
            pixels.withUnsafeBytes { png_image_write_to_memory(&image, target.baseAddress, &size, 0, $0.baseAddress, 0, nil) }
        }
        guard written != 0 else { throw LoupeIOError("cannot encode PNG (\(Image.message(of: &image)))") }
        return Data(output.prefix(size))
    }

    private static func message(of image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
