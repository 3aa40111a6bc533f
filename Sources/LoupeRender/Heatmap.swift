import LoupeIO
import LoupeTensor

extension Render {
    /// A 2-D map `[h, w]` as a heat map over a photo `[1, 3, H, W]` in `[0, 1]`: the map is
    /// resized to the photo, min–max normalized, and blended into the red channel with `alpha`
    /// (the pictures issue brings colormaps).
    public static func overlay(_ map: Tensor, on photo: Tensor, alpha: Float = 0.6) -> Image {
        precondition(map.rank == 2 && photo.rank == 4, "overlay: needs a [h, w] map and a [1, C, H, W] photo")
        let (height, width) = (photo.shape[2], photo.shape[3])
        let heat = minMaxNormalized(map.reshaped([1, 1] + map.shape).resizedBilinear(to: Size2D(height, width)))
        let gray = photo.mean(along: 1, keepingDimensions: true) * (1 - alpha)
        let red = gray + heat * alpha
        return Image(tensor: Tensor.concatenate([red, gray, gray], along: 1))
    }
}
