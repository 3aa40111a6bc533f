import LoupeIO
import LoupeTensor

/// Pictures of feature maps and attributions.
public enum Render {
    /// Scales values linearly so the smallest becomes 0 and the largest 1 (a constant map becomes 0).
    public static func minMaxNormalized(_ tensor: Tensor) -> Tensor {
        let low = tensor.min().scalar, high = tensor.max().scalar
        return high > low ? (tensor - low) / (high - low) : tensor.zerosLike()
    }

    /// A grayscale grid of 2-D maps, each normalized on its own, `columns` to a row, with a
    /// `gap`-pixel black border between them.
    ///
    /// - Parameter maps: `[count, H, W]`.
    public static func grid(_ maps: Tensor, columns: Int, gap: Int = 2) -> Image {
        precondition(maps.rank == 3 && columns > 0, "grid: maps must be [count, H, W]; got \(maps.shape)")
        let (count, height, width) = (maps.shape[0], maps.shape[1], maps.shape[2])
        let rows = (count + columns - 1) / columns
        let gridWidth = columns * width + (columns + 1) * gap
        let gridHeight = rows * height + (rows + 1) * gap
        var pixels = [UInt8](repeating: 0, count: gridWidth * gridHeight)
        for index in 0..<count {
            let values = minMaxNormalized(maps[index]).scalars
            let top = gap + (index / columns) * (height + gap)
            let left = gap + (index % columns) * (width + gap)
            for row in 0..<height {
                for column in 0..<width {
                    pixels[(top + row) * gridWidth + left + column] = UInt8((values[row * width + column] * 255).rounded())
                }
            }
        }
        return Image(width: gridWidth, height: gridHeight, channels: 1, pixels: pixels)
    }
}

extension Render {
    /// A grid of images `[count, C, H, W]` (C = 1 or 3) with values in `[0, 1]`, shown as they
    /// are (no per-image normalization), `columns` to a row, with a black `gap`.
    public static func imageGrid(_ images: Tensor, columns: Int, gap: Int = 2) -> Image {
        precondition(images.rank == 4 && (images.shape[1] == 1 || images.shape[1] == 3) && columns > 0,
                     "imageGrid: images must be [count, 1 or 3, H, W]; got \(images.shape)")
        let (count, height, width) = (images.shape[0], images.shape[2], images.shape[3])
        let rows = (count + columns - 1) / columns
        let gridWidth = columns * width + (columns + 1) * gap, gridHeight = rows * height + (rows + 1) * gap
        var pixels = [UInt8](repeating: 0, count: gridWidth * gridHeight * 3)
        for index in 0..<count {
            let picture = Image(tensor: images[index].broadcast(to: [3, height, width]))
            let top = gap + (index / columns) * (height + gap), left = gap + (index % columns) * (width + gap)
            for row in 0..<height {
                for column in 0..<width {
                    for channel in 0..<3 {
                        pixels[((top + row) * gridWidth + left + column) * 3 + channel] = picture.pixels[(row * width + column) * 3 + channel]
                    }
                }
            }
        }
        return Image(width: gridWidth, height: gridHeight, channels: 3, pixels: pixels)
    }
}
