import LoupeIO

/// A color as red, green and blue in `[0, 1]`.
public struct RGB: Equatable, Sendable {
    public var red, green, blue: Float
    public init(_ red: Float, _ green: Float, _ blue: Float) { (self.red, self.green, self.blue) = (red, green, blue) }

    public static let white = RGB(1, 1, 1), black = RGB(0, 0, 0), text = RGB(0.13, 0.13, 0.13)
    public static let axis = RGB(0.35, 0.35, 0.35), grid = RGB(0.9, 0.9, 0.9)
    /// matplotlib's "tab10" colors, for plot lines.
    public static let series = [
        RGB(0.122, 0.467, 0.706), RGB(1.0, 0.498, 0.055), RGB(0.173, 0.627, 0.173), RGB(0.839, 0.153, 0.157),
        RGB(0.580, 0.404, 0.741), RGB(0.549, 0.337, 0.294), RGB(0.890, 0.467, 0.761), RGB(0.498, 0.498, 0.498),
        RGB(0.737, 0.741, 0.133), RGB(0.090, 0.745, 0.812),
    ]
}

/// An RGB drawing surface: rectangles, antialiased lines, text and pasted images; the pictures
/// with titles, plots and histograms are drawn on it.
public struct Canvas {
    public let width: Int
    public let height: Int
    /// `height · width · 3` values in `[0, 1]`, rows top to bottom.
    private var pixels: [Float]

    public init(width: Int, height: Int, background: RGB = .white) {
        precondition(width > 0 && height > 0, "Canvas: needs a positive size; got \(width)×\(height)")
        self.width = width
        self.height = height
        pixels = [Float](repeating: 0, count: width * height * 3)
        fill(x: 0, y: 0, width: width, height: height, color: background)
    }

    /// Mixes `color` into pixel (x, y) with `coverage` in `[0, 1]`; outside the canvas, nothing.
    public mutating func blend(x: Int, y: Int, color: RGB, coverage: Float) {
        guard x >= 0, y >= 0, x < width, y < height, coverage > 0 else { return }
        let index = (y * width + x) * 3, amount = Swift.min(coverage, 1)
        pixels[index] += (color.red - pixels[index]) * amount
        pixels[index + 1] += (color.green - pixels[index + 1]) * amount
        pixels[index + 2] += (color.blue - pixels[index + 2]) * amount
    }

    public mutating func fill(x: Int, y: Int, width: Int, height: Int, color: RGB) {
        for row in Swift.max(y, 0)..<Swift.max(Swift.min(y + height, self.height), Swift.max(y, 0)) {
            for column in Swift.max(x, 0)..<Swift.max(Swift.min(x + width, self.width), Swift.max(x, 0)) {
                blend(x: column, y: row, color: color, coverage: 1)
            }
        }
    }

    /// A straight line `lineWidth` pixels wide between two points (pixel centres at integer
    /// coordinates), antialiased by each pixel's distance to the segment.
    public mutating func line(from start: (x: Float, y: Float), to end: (x: Float, y: Float), color: RGB, lineWidth: Float = 1) {
        let half = lineWidth / 2
        let (dx, dy) = (end.x - start.x, end.y - start.y)
        let lengthSquared = dx * dx + dy * dy
        let left = Int((Swift.min(start.x, end.x) - half - 1).rounded(.down)),
            right = Int((Swift.max(start.x, end.x) + half + 1).rounded(.up))
        let top = Int((Swift.min(start.y, end.y) - half - 1).rounded(.down)),
            bottom = Int((Swift.max(start.y, end.y) + half + 1).rounded(.up))
        let rows = Swift.max(top, 0)..<Swift.max(Swift.min(bottom + 1, height), Swift.max(top, 0))
        let columns = Swift.max(left, 0)..<Swift.max(Swift.min(right + 1, width), Swift.max(left, 0))
        for y in rows {
            for x in columns {
                let (px, py) = (Float(x) - start.x, Float(y) - start.y)
                let t = lengthSquared > 0 ? Swift.min(Swift.max((px * dx + py * dy) / lengthSquared, 0), 1) : 0
                let (ex, ey) = (px - t * dx, py - t * dy)
                blend(x: x, y: y, color: color, coverage: half + 0.5 - (ex * ex + ey * ey).squareRoot())
            }
        }
    }

    /// Draws `text` with its top-left corner at (x, y); returns its width.
    @discardableResult
    public mutating func text(_ text: String, x: Int, y: Int, color: RGB = .text, font: BitmapFont = .standard) -> Int {
        var pen = x
        for character in text {
            let glyph = font.glyph(character)
            for row in 0..<font.height {
                for column in 0..<glyph.width {
                    blend(
                        x: pen + column, y: y + row, color: color,
                        coverage: Float(glyph.coverage[row * glyph.width + column]) / 255)
                }
            }
            pen += glyph.advance
        }
        return pen - x
    }

    /// Pastes an image (gray or RGB) with its top-left corner at (x, y).
    public mutating func draw(_ image: Image, x: Int, y: Int) {
        for row in 0..<image.height {
            for column in 0..<image.width {
                let source = (row * image.width + column) * image.channels
                let value = { (channel: Int) in Float(image.pixels[source + (image.channels == 3 ? channel : 0)]) / 255 }
                blend(x: x + column, y: y + row, color: RGB(value(0), value(1), value(2)), coverage: 1)
            }
        }
    }

    /// The canvas as an 8-bit RGB image.
    public var image: Image {
        Image(
            width: width, height: height, channels: 3,
            pixels: pixels.map { UInt8((Swift.min(Swift.max($0, 0), 1) * 255).rounded()) })
    }
}

extension Image {
    /// The image enlarged `factor` times with nearest-neighbour sampling, so small inputs
    /// (28×28) stay crisp in a report.
    public func enlarged(by factor: Int) -> Image {
        precondition(factor >= 1, "enlarged(by:): factor must be at least 1")
        guard factor > 1 else { return self }
        var result = [UInt8](repeating: 0, count: pixels.count * factor * factor)
        let newWidth = width * factor
        for row in 0..<height * factor {
            for column in 0..<newWidth {
                let source = ((row / factor) * width + column / factor) * channels
                for channel in 0..<channels { result[(row * newWidth + column) * channels + channel] = pixels[source + channel] }
            }
        }
        return Image(width: newWidth, height: height * factor, channels: channels, pixels: result)
    }
}
