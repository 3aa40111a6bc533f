import Foundation
import LoupeTensor

/// An 8-bit image with interleaved channels (1: gray, 3: RGB), rows top to bottom.
public struct Image: Equatable, Sendable {
    public let width: Int
    public let height: Int
    /// 1 (grayscale) or 3 (RGB).
    public let channels: Int
    /// `height · width · channels` bytes, row-major, channels interleaved.
    public var pixels: [UInt8]

    /// The most pixels a decoded image may have (a header claiming more is refused unread).
    public static let maximumPixelCount = 100_000_000

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(channels == 1 || channels == 3, "Image: channels must be 1 or 3; got \(channels)")
        precondition(
            pixels.count == width * height * channels,
            "Image: \(width)×\(height)×\(channels) needs \(width * height * channels) bytes; got \(pixels.count)")
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
    }

    /// The image as `[1, channels, height, width]` floats in `[0, 1]`.
    public func tensor() -> Tensor {
        var values = [Float](repeating: 0, count: pixels.count)
        let plane = width * height
        for index in 0..<plane {
            for channel in 0..<channels {
                values[channel * plane + index] = Float(pixels[index * channels + channel]) / 255
            }
        }
        return Tensor(shape: [1, channels, height, width], scalars: values)
    }

    /// An image from `[channels, H, W]` or `[1, channels, H, W]` values in `[0, 1]`, clamped and rounded.
    public init(tensor: Tensor) {
        let shape = tensor.rank == 4 ? Array(tensor.shape.dropFirst()) : tensor.shape
        precondition(
            shape.count == 3 && (shape[0] == 1 || shape[0] == 3) && (tensor.rank == 3 || tensor.shape[0] == 1),
            "Image(tensor:): expected [C, H, W] or [1, C, H, W] with C = 1 or 3; got \(tensor.shape)")
        let (channels, height, width) = (shape[0], shape[1], shape[2])
        let values = tensor.scalars
        var pixels = [UInt8](repeating: 0, count: values.count)
        let plane = width * height
        for index in 0..<plane {
            for channel in 0..<channels {
                let value = values[channel * plane + index]
                pixels[index * channels + channel] = UInt8((min(max(value.isNaN ? 0 : value, 0), 1) * 255).rounded())
            }
        }
        self.init(width: width, height: height, channels: channels, pixels: pixels)
    }

    /// Decodes a PNG or JPEG file (told apart by its first bytes).
    public static func read(_ path: String) throws -> Image {
        try decode(readFile(path, what: "image"), name: path)
    }

    /// Decodes PNG or JPEG bytes.
    public static func decode(_ data: Data, name: String = "image") throws -> Image {
        let bytes = [UInt8](data)
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) { return try decodePNG(bytes, name: name) }
        if bytes.starts(with: [0xFF, 0xD8]) { return try decodeJPEG(bytes, name: name) }
        throw LoupeIOError("\(name) is neither a PNG nor a JPEG image")
    }

    /// Writes the image as PNG, atomically.
    public func writePNG(to path: String) throws {
        try writeFileAtomically(encodePNG(), to: path)
    }

    static func checkSize(width: Int, height: Int, name: String) throws {
        guard width > 0, height > 0 else {
            throw LoupeIOError("\(name): the image has no pixels (\(width)×\(height))")
        }
        guard width <= maximumPixelCount / height else {
            throw LoupeIOError(
                "\(name): \(width)×\(height) pixels is more than Loupe decodes (\(maximumPixelCount)); resize the image first")
        }
    }
}
