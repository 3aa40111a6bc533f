import LoupeTensor

/// Each sample's map shifted to minimum 0 and divided by `10⁻⁷` plus its new maximum, as
/// pytorch-grad-cam's `scale_cam_image`: `[N, h, w]` → `[N, h, w]` in `[0, 1]`. An all-constant
/// map becomes zeros.
func minMaxScaled(_ maps: Tensor) -> Tensor {
    precondition(maps.rank == 3, "minMaxScaled: maps must be [N, h, w]; got \(maps.shape)")
    let count = maps.shape[0]
    let shifted = maps - maps.flattened(from: 1).min(along: 1).reshaped([count, 1, 1])
    return shifted / (shifted.flattened(from: 1).max(along: 1).reshaped([count, 1, 1]) + 1e-7)
}

/// Maps at one or more layers made one map at the input's resolution, as pytorch-grad-cam makes
/// it: each layer's map `[N, h, w]` min–max scaled (``minMaxScaled(_:)``) and resized bilinearly
/// with pixel centres aligned (OpenCV's `resize`) to `size`, then their mean scaled again.
func scaledToInput(_ maps: [Tensor], size: Size2D) -> Tensor {
    precondition(!maps.isEmpty, "scaledToInput: no maps")
    let resized = maps.map { minMaxScaled($0).unsqueezed(at: 1).resizedBilinear(to: size) }
    let mean = resized.dropFirst().reduce(resized[0], +) / Float(maps.count)
    return minMaxScaled(mean.squeezed(at: 1))
}

/// pytorch-grad-cam's augmentation smoothing (its `aug_smooth`): `map` runs on six copies of
/// `input` `[N, C, H, W]` — as given and mirrored left to right, each times 0.9, 1 and 1.1 — and
/// each mirrored copy's map `[N, H, W]` is mirrored back before the six are averaged. Without
/// `enabled`, `map` runs once on the input. `map` is also told the copy's index and how many
/// there are, for progress.
func augmentationSmoothed(
    _ input: Tensor, enabled: Bool, map: (Tensor, Int, Int) throws -> Tensor
) rethrows -> Tensor {
    guard enabled else { return try map(input, 0, 1) }
    let width = input.shape[3]
    let mirroredColumns = Array((0..<width).reversed())
    let mirrored = input.detached().gathered(mirroredColumns, along: 3)
    let copies: [(mirror: Bool, factor: Float)] = [false, true].flatMap { mirror in [0.9, 1, 1.1].map { (mirror, $0) } }
    var sum: Tensor?
    for (index, (mirror, factor)) in copies.enumerated() {
        var result = try map((mirror ? mirrored : input.detached()) * factor, index, copies.count)
        if mirror { result = result.gathered(mirroredColumns, along: 2) }
        sum = sum.map { $0 + result } ?? result
    }
    return sum! / Float(copies.count)
}
