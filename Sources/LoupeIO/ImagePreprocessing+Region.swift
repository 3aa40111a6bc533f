import LoupeTensor

// Where the object is, for the localisation metrics: boxes or a mask in the photo's pixels,
// carried through the photo's own resize and crop (or letterbox) to the model's input.

extension ImagePreprocessing {
    /// The region `mask` marks (any nonzero pixel of an image the photo's size), as the model sees
    /// the photo: `[H, W]` of 1 inside and 0 outside, after the photo's resize (bilinear values
    /// above one half count as inside) and crop or letterbox (padding is outside).
    public func region(fromMask mask: Image) -> Tensor {
        var binary = mask
        binary.pixels = mask.pixels.map { $0 > 0 ? 255 : 0 }
        var geometry = self
        (geometry.padValue, geometry.channels) = (0, 1)
        let picture = geometry.picture(of: binary.channels == 1 ? binary : Image(tensor: binary.tensor().max(along: 1)))
        let plane = picture.slice(along: 1, from: 0, to: 1)
        return Tensor(shape: Array(plane.shape.suffix(2)), scalars: plane.scalars.map { $0 > 0.5 ? 1 : 0 })
    }

    /// A gray image of `width` × `height` that is white inside any of `boxes` (`[x0, y0, x1, y1]`
    /// in pixels, x to the right and y down; a pixel is inside when its centre is) and black
    /// elsewhere: the mask ``region(fromMask:)`` takes.
    public static func boxMask(width: Int, height: Int, boxes: [[Double]]) -> Image {
        var pixels = [UInt8](repeating: 0, count: width * height)
        for box in boxes where box.count == 4 {
            for row in 0..<height where Double(row) + 0.5 >= box[1] && Double(row) + 0.5 <= box[3] {
                for column in 0..<width where Double(column) + 0.5 >= box[0] && Double(column) + 0.5 <= box[2] {
                    pixels[row * width + column] = 255
                }
            }
        }
        return Image(width: width, height: height, channels: 1, pixels: pixels)
    }
}
