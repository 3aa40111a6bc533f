import CJPEG

extension Image {
    static func decodeJPEG(_ bytes: [UInt8], name: String) throws -> Image {
        var width: Int32 = 0, height: Int32 = 0, channels: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let headerStatus = bytes.withUnsafeBufferPointer { data in
            loupe_jpeg_decode(data.baseAddress, UInt(data.count), &width, &height, &channels, nil, &message, message.count)
        }
        guard headerStatus == 0 else {
            throw LoupeIOError("\(name): not a readable JPEG (\(String(cString: message)))")
        }
        try checkSize(width: Int(width), height: Int(height), name: name)
        var pixels = [UInt8](repeating: 0, count: Int(width) * Int(height) * Int(channels))
        let status = bytes.withUnsafeBufferPointer { data in
            pixels.withUnsafeMutableBufferPointer { target in
                loupe_jpeg_decode(data.baseAddress, UInt(data.count), &width, &height, &channels,
                                  target.baseAddress, &message, message.count)
            }
        }
        guard status == 0 else {
            throw LoupeIOError("\(name): corrupt JPEG (\(String(cString: message)))")
        }
        return Image(width: Int(width), height: Int(height), channels: Int(channels), pixels: pixels)
    }
}
