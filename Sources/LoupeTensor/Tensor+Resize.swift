extension Tensor {
    /// Bilinear resize of `[N, C, H, W]` to `size`, equal to
    /// `F.interpolate(mode="bilinear", align_corners=alignCorners)` without antialiasing.
    ///
    /// Output pixel `o` samples the input at `(o + ½)·(in / out) − ½`, clamped at 0 (pixel
    /// centres aligned), or with `alignCorners` at `o·(in − 1)/(out − 1)` (corner pixels aligned,
    /// as `nn.UpsamplingBilinear2d`), mixing the two neighbours by their distance. The pullback
    /// sends each output gradient back to the four input pixels with the same weights.
    public func resizedBilinear(to size: Size2D, alignCorners: Bool = false) -> Tensor {
        precondition(rank == 4, "resizedBilinear: input must be [N, C, H, W]; got \(shape)")
        precondition(size.height > 0 && size.width > 0, "resizedBilinear: size \(size) must be positive")
        let (height, width) = (shape[2], shape[3])
        let rows = interpolationTaps(from: height, to: size.height, alignCorners: alignCorners)
        let columns = interpolationTaps(from: width, to: size.width, alignCorners: alignCorners)
        let planes = shape[0] * shape[1]
        let result = Tensor(uninitializedShape: [shape[0], shape[1], size.height, size.width])
        let source = storage.base, destination = result.storage.base
        parallelRanges(planes, grain: Swift.max(1, 16_384 / Swift.max(size.height * size.width, 1))) { range in
            for plane in range {
                let input = source + plane * height * width
                let output = destination + plane * size.height * size.width
                for (outputRow, row) in rows.enumerated() {
                    for (outputColumn, column) in columns.enumerated() {
                        let top =
                            input[row.low * width + column.low] * (1 - column.weight)
                            + input[row.low * width + column.high] * column.weight
                        let bottom =
                            input[row.high * width + column.low] * (1 - column.weight)
                            + input[row.high * width + column.high] * column.weight
                        output[outputRow * size.width + outputColumn] = top * (1 - row.weight) + bottom * row.weight
                    }
                }
            }
        }
        let inputShape = shape
        return Tensor.recording(result, inputs: [self]) { gradient, _ in
            let inputGradient = Tensor.zeros(inputShape)
            for plane in 0..<planes {
                let target = inputGradient.storage.base + plane * height * width
                let incoming = gradient.storage.base + plane * size.height * size.width
                for (outputRow, row) in rows.enumerated() {
                    for (outputColumn, column) in columns.enumerated() {
                        let g = incoming[outputRow * size.width + outputColumn]
                        target[row.low * width + column.low] += g * (1 - row.weight) * (1 - column.weight)
                        target[row.low * width + column.high] += g * (1 - row.weight) * column.weight
                        target[row.high * width + column.low] += g * row.weight * (1 - column.weight)
                        target[row.high * width + column.high] += g * row.weight * column.weight
                    }
                }
            }
            return [inputGradient]
        }
    }
}

/// For each output position, the two input positions it mixes and the weight of the second.
private func interpolationTaps(from input: Int, to output: Int, alignCorners: Bool) -> [(low: Int, high: Int, weight: Float)] {
    let scale = alignCorners ? (output > 1 ? Float(input - 1) / Float(output - 1) : 0) : Float(input) / Float(output)
    return (0..<output).map { position in
        let source = alignCorners ? Float(position) * scale : Swift.max((Float(position) + 0.5) * scale - 0.5, 0)
        let low = Swift.min(Int(source), input - 1)
        let high = Swift.min(low + 1, input - 1)
        return (low, high, source - Float(low))
    }
}

extension Tensor {
    /// Nearest-neighbour resize of `[N, C, H, W]`, equal to `F.interpolate(mode="nearest")`:
    /// output pixel `o` copies input `⌊o · in / out⌋`. The pullback adds each output gradient
    /// to the pixel it copied.
    public func resizedNearest(to size: Size2D) -> Tensor {
        precondition(
            rank == 4 && size.height > 0 && size.width > 0,
            "resizedNearest: needs [N, C, H, W] input and a positive size; got \(shape), \(size)")
        let rows = (0..<size.height).map { Swift.min(Int(Float($0) * (Float(shape[2]) / Float(size.height))), shape[2] - 1) }
        let columns = (0..<size.width).map { Swift.min(Int(Float($0) * (Float(shape[3]) / Float(size.width))), shape[3] - 1) }
        // Each resized axis is a gather along it; two gathers compose into the full resize.
        return permuted([2, 3, 0, 1]).gathered(rows).permuted([1, 0, 2, 3]).gathered(columns).permuted([2, 3, 1, 0])
    }
}
