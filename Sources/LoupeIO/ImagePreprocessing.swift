import LoupeTensor

/// Turns a photo into a model input, as torchvision's `Resize → CenterCrop → ToTensor → Normalize`,
/// or as other frameworks feed theirs: BGR channel order, pixel values in other units
/// (``pixelScale``), an exact resize, letterboxing.
public struct ImagePreprocessing: Sendable {
    /// The order of the colour channels the model takes.
    public enum ChannelOrder: String, Codable, Sendable, CaseIterable {
        case rgb, bgr
    }

    /// Where a letterboxed photo sits in the padded input.
    public enum Letterbox: String, Codable, Sendable, CaseIterable {
        case center, topleft
    }

    /// The shorter side is resized to this; `nil` keeps the size.
    public var resize: Int?
    /// The filter of every resize (antialiased when shrinking, as torchvision's on PIL images).
    public var interpolation: Interpolation = .bilinear
    /// The image is resized to exactly this height and width instead (torchvision's
    /// `Resize((h, w))`), whatever its aspect ratio; `nil` leaves it to ``resize``.
    public var exactSize: Size2D?
    /// A centred square crop of this size; `nil` keeps the whole image.
    public var crop: Int?
    /// Per-channel mean and standard deviation for `(x − mean) / std`, in the units of
    /// ``pixelScale`` and the model's ``channelOrder``.
    public var mean: [Float]
    public var std: [Float]
    /// 1 for grayscale models (colour images are averaged), 3 for RGB (gray images are repeated).
    public var channels: Int
    public var channelOrder: ChannelOrder = .rgb
    /// What a pixel value (0 to 255) is multiplied by before the normalization: 1/255 gives
    /// torchvision's `[0, 1]`; 1 keeps 0 to 255, as caffe-style means expect.
    public var pixelScale: Float = 1 / 255
    /// Letterboxing: the photo resized, keeping its aspect ratio, to fit ``exactSize`` (or the
    /// input size it is given), and padded to it with ``padValue``; `nil` resizes and crops instead.
    public var letterbox: Letterbox?
    /// The padding's value, in pixel units (0 to 255).
    public var padValue: Float = 0

    public init(resize: Int?, crop: Int?, mean: [Float], std: [Float], channels: Int) {
        self.resize = resize
        self.crop = crop
        self.mean = mean
        self.std = std
        self.channels = channels
    }

    /// The model's own settings: resize to 256/224 of the input size, crop to the input size; an
    /// input that is not square is resized to exactly its height and width. The metadata's
    /// `resize`, `channelOrder`, `pixelScale`, `letterbox` and `padValue` apply over that.
    public init(metadata: ModelMetadata) {
        let size = metadata.inputShape.count == 3 ? metadata.inputShape[1] : 224
        self.init(
            resize: size == 224 ? 256 : size, crop: size, mean: metadata.mean, std: metadata.std,
            channels: metadata.inputShape.first ?? 3)
        if metadata.inputShape.count == 3, metadata.inputShape[1] != metadata.inputShape[2] {
            (resize, crop, exactSize) = (nil, nil, Size2D(metadata.inputShape[1], metadata.inputShape[2]))
        }
        switch metadata.resize {
        case .shorterSide(let side)?: resize = side
        case .exactly(let height, let width)?: (resize, crop, exactSize) = (nil, nil, Size2D(height, width))
        case nil: break
        }
        interpolation = metadata.interpolation ?? .bilinear
        channelOrder = metadata.channelOrder ?? .rgb
        pixelScale = metadata.pixelScale ?? pixelScale
        padValue = metadata.padValue ?? padValue
        if let box = metadata.letterbox { letterbox(box, fitting: metadata.inputShape) }
    }

    /// Letterboxes photos at `anchor` instead of resizing and cropping them: into ``exactSize``,
    /// or where none is set, into `inputShape` `[C, H, W]`'s height and width.
    public mutating func letterbox(_ anchor: Letterbox, fitting inputShape: [Int]) {
        letterbox = anchor
        if exactSize == nil, inputShape.count == 3 { exactSize = Size2D(inputShape[1], inputShape[2]) }
        (resize, crop) = (nil, nil)
    }

    /// The `(height, width)` an image of `height` × `width` pixels is resized to (itself when
    /// there is no resize); a letterboxed image's is the size it is padded to.
    public func resizedSize(height: Int, width: Int) -> Size2D {
        if let exactSize { return exactSize }
        guard let resize else { return Size2D(height, width) }
        // torchvision's `int(size · long / short)`, in integers.
        let short = Swift.max(Swift.min(height, width), 1)
        return height <= width ? Size2D(resize, width * resize / short) : Size2D(height * resize / short, resize)
    }

    /// The photo as the model sees it, before scaling and normalization: `[1, channels, H, W]`
    /// in `[0, 1]`, RGB, resized (``Image/resized(width:height:interpolation:)``, as torchvision's
    /// `Resize` on a PIL image) and centre-cropped (torchvision's `CenterCrop`, offsets rounded
    /// half to even as Python's `round`), or letterboxed: what `--out` draws over.
    public func picture(of image: Image) -> Tensor {
        var image = image
        if let letterbox, let target = exactSize {
            let scale = Swift.min(Float(target.height) / Float(image.height), Float(target.width) / Float(image.width))
            let fitted = Size2D(
                Swift.min(Swift.max(Int((Float(image.height) * scale).rounded()), 1), target.height),
                Swift.min(Swift.max(Int((Float(image.width) * scale).rounded()), 1), target.width))
            let tensor = channelsMatched(
                image.resized(width: fitted.width, height: fitted.height, interpolation: interpolation).tensor())
            let (extraRows, extraColumns) = (target.height - fitted.height, target.width - fitted.width)
            let (top, left) = letterbox == .center ? (extraRows / 2, extraColumns / 2) : (0, 0)
            return tensor.padded(
                [(0, 0), (0, 0), (top, extraRows - top), (left, extraColumns - left)], mode: .constant(padValue / 255))
        }
        if resize != nil || exactSize != nil {
            let size = resizedSize(height: image.height, width: image.width)
            image = image.resized(width: size.width, height: size.height, interpolation: interpolation)
        }
        var tensor = channelsMatched(image.tensor())
        if let crop {
            let (height, width) = (tensor.shape[2], tensor.shape[3])
            let offset = { (extra: Int) in Swift.max(Int((Double(extra) / 2).rounded(.toNearestOrEven)), 0) }
            let top = offset(height - crop), left = offset(width - crop)
            tensor = tensor.slice(along: 2, from: top, to: Swift.min(top + crop, height))
                .slice(along: 3, from: left, to: Swift.min(left + crop, width))
        }
        return tensor
    }

    /// `[1, C, H, W]` with the model's channel count: colour averaged to gray, or gray repeated.
    private func channelsMatched(_ tensor: Tensor) -> Tensor {
        if channels == 1 && tensor.shape[1] == 3 { return tensor.mean(along: 1, keepingDimensions: true) }
        if channels == 3 && tensor.shape[1] == 1 { return tensor.broadcast(to: [1, 3, tensor.shape[2], tensor.shape[3]]) }
        return tensor
    }

    /// `[1, channels, H, W]`, normalized: the ``picture(of:)`` in the model's channel order, its
    /// pixel values (0 to 255) times ``pixelScale``, then `(x − mean) / std`.
    public func apply(to image: Image) -> Tensor {
        modelInput(fromPicture: picture(of: image))
    }

    /// A ``picture(of:)`` made the model's input.
    public func modelInput(fromPicture picture: Tensor) -> Tensor {
        var tensor = picture
        if channelOrder == .bgr && tensor.shape[1] == 3 { tensor = tensor.gathered([2, 1, 0], along: 1) }
        if pixelScale != 1 / 255 { tensor = tensor * (255 * pixelScale) }
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
