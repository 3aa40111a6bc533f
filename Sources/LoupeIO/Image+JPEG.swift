import CJPEG

extension Image {
    static func decodeJPEG(_ bytes: [UInt8], name: String) throws -> Image {
        var width: Int32 = 0, height: Int32 = 0, channels: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let headerStatus = bytes.withUnsafeBufferPointer { data in
            loupe_jpeg_decode(data.baseAddress, UInt(data.count), &width, &height, &channels, nil, &message, message.count)
        }
        guard headerStatus == 0 else {
            throw LoupeIOError("\(name): not a readable JPEG (\(text(message)))")
        }
        try checkSize(width: Int(width), height: Int(height), name: name)
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * Int(channels))
        let status = bytes.withUnsafeBufferPointer { data in
            pixels.withUnsafeMutableBufferPointer { target in
                loupe_jpeg_decode(
                    data.baseAddress, UInt(data.count), &width, &height, &channels,
                    target.baseAddress, &message, message.count)
            }
        }
        guard status == 0 else {
            throw LoupeIOError("\(name): corrupt JPEG (\(text(message)))")
        }
        return Image(width: Int(width), height: Int(height), channels: Int(channels), pixels: pixels)
    }

    /// The text of a NUL-terminated C message buffer.
    private static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
