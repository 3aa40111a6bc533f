import LoupeTensor

/// Turns a photo into a model input, as torchvision's `Resize → CenterCrop → ToTensor → Normalize`.
public struct ImagePreprocessing: Sendable {
    /// The shorter side is resized to this (bilinear, without antialiasing); `nil` keeps the size.
    public var resize: Int?
    /// The image is resized to exactly this height and width instead (torchvision's
    /// `Resize((h, w))`), whatever its aspect ratio; `nil` leaves it to ``resize``.
    public var exactSize: Size2D?
    /// A centred square crop of this size; `nil` keeps the whole image.
    public var crop: Int?
    /// Per-channel mean and standard deviation for `(x − mean) / std`, on values in `[0, 1]`.
    public var mean: [Float]
    public var std: [Float]
    /// 1 for grayscale models (colour images are averaged), 3 for RGB (gray images are repeated).
    public var channels: Int

    public init(resize: Int?, crop: Int?, mean: [Float], std: [Float], channels: Int) {
        self.resize = resize
        self.crop = crop
        self.mean = mean
        self.std = std
        self.channels = channels
    }

    /// The model's own settings: resize to 256/224 of the input size, crop to the input size; an
    /// input that is not square is resized to exactly its height and width.
    public init(metadata: ModelMetadata) {
        let size = metadata.inputShape.count == 3 ? metadata.inputShape[1] : 224
        self.init(
            resize: size == 224 ? 256 : size, crop: size, mean: metadata.mean, std: metadata.std,
            channels: metadata.inputShape.first ?? 3)
        if metadata.inputShape.count == 3, metadata.inputShape[1] != metadata.inputShape[2] {
            (resize, crop, exactSize) = (nil, nil, Size2D(metadata.inputShape[1], metadata.inputShape[2]))
        }
    }

    /// The `(height, width)` an image of `height` × `width` pixels is resized to (itself when
    /// there is no resize).
    public func resizedSize(height: Int, width: Int) -> Size2D {
        if let exactSize { return exactSize }
        guard let resize else { return Size2D(height, width) }
        let scale = Float(resize) / Float(Swift.max(Swift.min(height, width), 1))
        return height <= width ? Size2D(resize, Int(Float(width) * scale)) : Size2D(Int(Float(height) * scale), resize)
    }

    /// `[1, channels, H, W]`, normalized.
    public func apply(to image: Image) -> Tensor {
        var tensor = image.tensor()
        if channels == 1 && tensor.shape[1] == 3 { tensor = tensor.mean(along: 1, keepingDimensions: true) }
        if channels == 3 && tensor.shape[1] == 1 { tensor = tensor.broadcast(to: [1, 3, tensor.shape[2], tensor.shape[3]]) }
        if resize != nil || exactSize != nil {
            tensor = tensor.resizedBilinear(to: resizedSize(height: tensor.shape[2], width: tensor.shape[3]))
        }
        if let crop {
            let (height, width) = (tensor.shape[2], tensor.shape[3])
            let top = Swift.max((height - crop) / 2, 0), left = Swift.max((width - crop) / 2, 0)
            tensor = tensor.slice(along: 2, from: top, to: Swift.min(top + crop, height))
                .slice(along: 3, from: left, to: Swift.min(left + crop, width))
        }
        return tensor.normalized(mean: mean, std: std)
    }
}

extension Tensor {
    /// `(x − mean) / std` per channel of `[N, C, H, W]` (the first C entries of `mean` and `std`).
    func normalized(mean: [Float], std: [Float]) -> Tensor {
        let (mean, std) = channelTensors(mean: mean, std: std)
        return (self - mean) / std
    }

    /// The inverse of ``normalized(mean:std:)``: `x · std + mean` per channel.
    func denormalized(mean: [Float], std: [Float]) -> Tensor {
        let (mean, std) = channelTensors(mean: mean, std: std)
        return self * std + mean
    }

    private func channelTensors(mean: [Float], std: [Float]) -> (Tensor, Tensor) {
        let channels = shape[1], broadcastShape = [1, channels, 1, 1]
        return (
            Tensor(shape: broadcastShape, scalars: Array(mean.prefix(channels))),
            Tensor(shape: broadcastShape, scalars: Array(std.prefix(channels)))
        )
    }
}
