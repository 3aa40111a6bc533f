extension Tensor {
    /// Blurs each channel of `[N, C, H, W]` with a Gaussian of standard deviation `sigma`
    /// (in pixels), equal to torchvision's `gaussian_blur(kernel_size, [sigma, sigma])`.
    ///
    /// The kernel has `kernelSize` taps (default `2·⌈3σ⌉ + 1`, odd), is normalized to sum 1,
    /// and the border is padded by reflection, so `kernelSize / 2` must be below H and W.
    /// Built from differentiable ops (reflect pad, depthwise convolution), so it has a gradient.
    public func gaussianBlurred(sigma: Float, kernelSize: Int? = nil) -> Tensor {
        precondition(rank == 4, "gaussianBlurred: input must be [N, C, H, W]; got \(shape)")
        precondition(sigma > 0, "gaussianBlurred: sigma must be positive; got \(sigma)")
        let size = kernelSize ?? 2 * Int((3 * sigma).rounded(.up)) + 1
        precondition(size > 0 && size % 2 == 1, "gaussianBlurred: kernel size must be odd and positive; got \(size)")
        let half = size / 2
        precondition(
            half < shape[2] && half < shape[3],
            "gaussianBlurred: kernel size \(size) needs an image larger than \(half) pixels each way; got \(Array(shape[2...]))")
        let taps = (0..<size).map { index -> Float in
            let x = Float(index - half) / sigma
            return scalarExp(-0.5 * x * x)
        }
        let total = taps.reduce(0, +)
        let kernel1D = taps.map { $0 / total }
        let channels = shape[1]
        let kernel2D = kernel1D.flatMap { vertical in kernel1D.map { vertical * $0 } }
        let weight = Tensor(shape: [1, 1, size, size], scalars: kernel2D).broadcast(to: [channels, 1, size, size])
        return padded([(half, half), (half, half)], mode: .reflect)
            .convolved2D(with: weight, groups: channels)
    }
}
