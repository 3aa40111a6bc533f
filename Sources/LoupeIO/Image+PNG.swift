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

    /// The image encoded as PNG bytes; `fast` trades a larger file for less compression work
    /// (libpng's `PNG_IMAGE_FLAG_FAST`), for programs that write many pictures.
    public func encodePNG(fast: Bool = false) throws -> Data {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = channels == 1 ? UInt32(PNG_FORMAT_GRAY) : UInt32(PNG_FORMAT_RGB)
        if fast { image.flags |= UInt32(PNG_IMAGE_FLAG_FAST) }
        defer { png_image_free(&image) }
        // One pass into a buffer as large as the compressed data can be (zlib's stored blocks
        // and the chunks around them); libpng says how much it needs if that is ever too little.
        let raw = height * (1 + width * channels)
        var size = raw + raw / 8 + raw / 64 + 12 * (raw / 8192 + 2) + 1024
        var output = [UInt8](repeating: 0, count: size)
        for _ in 0..<2 {
            let capacity = output.count
            let written = output.withUnsafeMutableBytes { target in
                pixels.withUnsafeBytes { png_image_write_to_memory(&image, target.baseAddress, &size, 0, $0.baseAddress, 0, nil) }
            }
            if written != 0 { return Data(output.prefix(size)) }
            guard image.warning_or_error & 3 == 0, size > capacity else { break }
            output = [UInt8](repeating: 0, count: size)
        }
        throw LoupeIOError("cannot encode PNG (\(Image.message(of: &image)))")
    }

    private static func message(of image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
