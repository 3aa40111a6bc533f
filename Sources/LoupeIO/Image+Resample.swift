/// The filter a photo is resized with: torchvision's `InterpolationMode.BILINEAR` (most
/// weights) or `BICUBIC` (EfficientNet's).
public enum Interpolation: String, Codable, Sendable, CaseIterable {
    case bilinear, bicubic

    /// The filter's half-width at scale 1, in source pixels.
    var support: Double { self == .bilinear ? 1 : 2 }

    /// The filter's weight at distance `x` (in source pixels at scale 1): a triangle, or Keys'
    /// cubic with a = −0.5.
    func weight(_ x: Double) -> Double {
        let x = Swift.abs(x), a = -0.5
        switch self {
        case .bilinear: return x < 1 ? 1 - x : 0
        case .bicubic:
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        }
    }
}

extension Image {
    /// The image resized to `width` × `height` as Pillow's `Image.resize` does it, which is what
    /// torchvision's `Resize` runs on the photos its weights were evaluated on: the filter widened
    /// by the reduction factor when shrinking (so every source pixel counts: antialiasing),
    /// each output pixel's weights normalized to sum to 1, a horizontal pass then a vertical one,
    /// each in Pillow's 22-bit fixed point and rounded to 8 bits. The same image gives the same
    /// bytes as Pillow's.
    public func resized(width newWidth: Int, height newHeight: Int, interpolation: Interpolation = .bilinear) -> Image {
        precondition(newWidth > 0 && newHeight > 0, "Image.resized: size \(newWidth)×\(newHeight) must be positive")
        var image = self
        if newWidth != width {
            image = image.resampled(along: .horizontal, to: newWidth, interpolation: interpolation)
        }
        if newHeight != height {
            image = image.resampled(along: .vertical, to: newHeight, interpolation: interpolation)
        }
        return image
    }

    private enum Axis { case horizontal, vertical }

    /// One pass of ``resized(width:height:interpolation:)`` along one axis.
    private func resampled(along axis: Axis, to size: Int, interpolation: Interpolation) -> Image {
        let source = axis == .horizontal ? width : height
        let taps = resamplingTaps(from: source, to: size, interpolation: interpolation)
        let (outputWidth, outputHeight) = axis == .horizontal ? (size, height) : (width, size)
        var output = [UInt8](repeating: 0, count: outputWidth * outputHeight * channels)
        // Along the axis, consecutive source pixels are `step` bytes apart.
        let step = axis == .horizontal ? channels : width * channels
        pixels.withUnsafeBufferPointer { input in
            output.withUnsafeMutableBufferPointer { result in
                for row in 0..<outputHeight {
                    for column in 0..<outputWidth {
                        let (tap, start) = axis == .horizontal ? (taps[column], row * width) : (taps[row], column)
                        let origin = (axis == .horizontal ? start + tap.first : tap.first * width + start) * channels
                        for channel in 0..<channels {
                            var sum = 1 << (Image.precisionBits - 1)
                            for (offset, weight) in tap.weights.enumerated() {
                                sum += Int(input[origin + offset * step + channel]) * weight
                            }
                            result[(row * outputWidth + column) * channels + channel] = UInt8(
                                clamping: sum >> Image.precisionBits)
                        }
                    }
                }
            }
        }
        return Image(width: outputWidth, height: outputHeight, channels: channels, pixels: output)
    }

    /// Pillow's fixed-point precision for 8-bit images (32 bits less 8 for the pixel, 2 spare).
    private static let precisionBits = 22
}

/// For each output position, the first source position it reads and the fixed-point weights of
/// the source positions from there: the filter centred at `(o + ½)·scale` and stretched by
/// `scale` when it exceeds 1, cut at the image's edges, normalized to sum to 1.
private func resamplingTaps(
    from input: Int, to output: Int, interpolation: Interpolation
) -> [(
    first: Int, weights: [Int]
)] {
    let scale = Double(input) / Double(output), filterScale = Swift.max(scale, 1)
    let support = interpolation.support * filterScale
    return (0..<output).map { position in
        let center = (Double(position) + 0.5) * scale
        let first = Swift.max(Int(center - support + 0.5), 0)
        let end = Swift.min(Int(center + support + 0.5), input)
        let weights = (first..<Swift.max(end, first)).map { interpolation.weight((Double($0) - center + 0.5) / filterScale) }
        let total = weights.reduce(0, +)
        let unit = Double(1 << 22)
        return (
            first,
            weights.map { weight in
                let normalized = total != 0 ? weight / total : weight
                return Int(normalized < 0 ? -0.5 + normalized * unit : 0.5 + normalized * unit)
            }
        )
    }
}
