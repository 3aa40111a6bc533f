import LoupeIO
import LoupeTensor

/// Pictures of feature maps and attributions.
public enum Render {}

/// How an overlay puts a map over a photo.
public enum OverlayStyle: String, CaseIterable, Sendable {
    /// The colored map alpha-blended over the photo: `(1 − α) · photo + α · color`.
    case blend
    /// The photo in gray with the scaled map written into the red channel:
    /// `red = (1 − α) · gray + α · map`, green and blue `(1 − α) · gray`.
    case red
}

extension Render {
    /// A 2-D map `[H, W]` as colors `[3, H, W]` in `[0, 1]`.
    public static func heatmap(_ map: Tensor, colormap: Colormap = .inferno, scaling: MapScaling = .minMax) -> Tensor {
        precondition(map.rank == 2, "heatmap: map must be [H, W]; got \(map.shape)")
        return colormap.colorize(scaling.positions(map, for: colormap))
    }

    /// A 2-D map `[h, w]` over a photo `[1, C, H, W]` (C = 1 or 3, values in `[0, 1]`): the map
    /// is resized bilinearly to the photo, scaled, colored and combined as `style` says.
    public static func overlay(
        _ map: Tensor, on photo: Tensor, colormap: Colormap = .jet, scaling: MapScaling = .minMax,
        alpha: Float = 0.5, style: OverlayStyle = .blend
    ) -> Image {
        precondition(
            map.rank == 2 && photo.rank == 4 && photo.shape[0] == 1 && [1, 3].contains(photo.shape[1]),
            "overlay: needs a [h, w] map and a [1, 1 or 3, H, W] photo; got \(map.shape) and \(photo.shape)")
        precondition((0...1).contains(alpha), "overlay: alpha must be in 0...1; got \(alpha)")
        let (height, width) = (photo.shape[2], photo.shape[3])
        let resized = map.reshaped([1, 1] + map.shape).resizedBilinear(to: Size2D(height, width)).reshaped([height, width])
        switch style {
        case .blend:
            let colors = heatmap(resized, colormap: colormap, scaling: scaling).reshaped([1, 3, height, width])
            return Image(tensor: photo.broadcast(to: [1, 3, height, width]) * (1 - alpha) + colors * alpha)
        case .red:
            let gray = photo.mean(along: 1, keepingDimensions: true) * (1 - alpha)
            let red = gray + scaling.positions(resized, for: .gray).reshaped([1, 1, height, width]) * alpha
            return Image(tensor: Tensor.concatenate([red, gray, gray], along: 1))
        }
    }

    /// A grid of 2-D maps `[count, H, W]`, each scaled on its own and colored, `columns` to a
    /// row, with a `gap`-pixel black border; gray maps give a grayscale image.
    public static func grid(
        _ maps: Tensor, columns: Int, gap: Int = 2, colormap: Colormap = .gray,
        scaling: MapScaling = .minMax
    ) -> Image {
        precondition(maps.rank == 3 && columns > 0, "grid: maps must be [count, H, W]; got \(maps.shape)")
        let colored = Tensor.stack((0..<maps.shape[0]).map { heatmap(maps[$0], colormap: colormap, scaling: scaling) }, along: 0)
        let pictures = colormap == .gray ? colored.slice(along: 1, from: 0, to: 1) : colored
        return imageGrid(pictures, columns: columns, gap: gap)
    }

    /// A grid of images `[count, C, H, W]` (C = 1 or 3) with values in `[0, 1]`, shown as they
    /// are (no per-image scaling), `columns` to a row, with a black `gap`.
    public static func imageGrid(_ images: Tensor, columns: Int, gap: Int = 2) -> Image {
        precondition(
            images.rank == 4 && (images.shape[1] == 1 || images.shape[1] == 3) && columns > 0,
            "imageGrid: images must be [count, 1 or 3, H, W]; got \(images.shape)")
        let (count, channels, height, width) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3])
        let rows = (count + columns - 1) / columns
        let gridWidth = columns * width + (columns + 1) * gap, gridHeight = rows * height + (rows + 1) * gap
        var pixels = [UInt8](repeating: 0, count: gridWidth * gridHeight * channels)
        for index in 0..<count {
            let picture = Image(tensor: images[index])
            let top = gap + (index / columns) * (height + gap), left = gap + (index % columns) * (width + gap)
            for row in 0..<height {
                let source = row * width * channels, destination = ((top + row) * gridWidth + left) * channels
                pixels[destination..<destination + width * channels] = picture.pixels[source..<source + width * channels]
            }
        }
        return Image(width: gridWidth, height: gridHeight, channels: channels, pixels: pixels)
    }
}
