extension Tensor {
    /// Batch normalization over the channels of `[N, C, H, W]` (or `[N, C]`) input
    /// (`F.batch_norm`), differentiable with respect to the input, `scale` and `offset`.
    ///
    /// In inference (`training == false`) the running statistics normalize:
    /// `y = (x − runningMean) / √(runningVariance + ε) · scale + offset`.
    /// In training the batch's own mean and biased variance normalize, and the running
    /// statistics move towards the batch's: `r ← (1 − momentum)·r + momentum·batch`, with the
    /// unbiased variance, as PyTorch does.
    ///
    /// - Parameters:
    ///   - scale: γ, `[C]`. offset: β, `[C]`.
    ///   - runningMean, runningVariance: `[C]`; updated in place when training.
    /// - Returns: the normalized tensor, same shape as the input.
    /// - Reference: Ioffe & Szegedy, "Batch Normalization", 2015.
    public func batchNormalized(
        scale: Tensor, offset: Tensor, runningMean: inout Tensor,
        runningVariance: inout Tensor, training: Bool,
        momentum: Float = 0.1, epsilon: Float = 1e-5
    ) -> Tensor {
        precondition(rank >= 2, "batchNormalized: input must be [N, C, ...]; got \(shape)")
        let channels = shape[1]
        for (name, parameter) in [
            ("scale", scale), ("offset", offset), ("runningMean", runningMean),
            ("runningVariance", runningVariance),
        ] {
            precondition(
                parameter.shape == [channels],
                "batchNormalized: \(name) must be [\(channels)]; got \(parameter.shape)")
        }
        // Per-channel parameters reshaped to broadcast against [N, C, ...].
        let broadcastShape = [1, channels] + Array(repeating: 1, count: rank - 2)
        let reducedAxes = [0] + Array(2..<rank)
        if training {
            let valuesPerChannel = count / channels
            precondition(
                valuesPerChannel > 1, "batchNormalized: training needs more than one value per channel; got shape \(shape)")
            let mean = self.mean(alongAxes: reducedAxes, keepingDimensions: true)
            let centered = self - mean
            let variance = (centered * centered).mean(alongAxes: reducedAxes, keepingDimensions: true)
            let normalized = centered / (variance + epsilon).sqrt()
            withoutGradients {
                let unbiased = variance.reshaped([channels]) * (Float(valuesPerChannel) / Float(valuesPerChannel - 1))
                runningMean = (1 - momentum) * runningMean + momentum * mean.reshaped([channels])
                runningVariance = (1 - momentum) * runningVariance + momentum * unbiased
            }
            return normalized * scale.reshaped(broadcastShape) + offset.reshaped(broadcastShape)
        }
        let affine = Tensor.batchNormalizationAffine(
            scale: scale, offset: offset, runningMean: runningMean,
            runningVariance: runningVariance, epsilon: epsilon)
        return channelAffine(scale: affine.scale, shift: affine.shift)
    }

    /// The per-channel map inference-mode batch normalization applies, `x · scale + shift`:
    /// `scale = γ / √(runningVariance + ε)`, `shift = β − runningMean · scale` (differentiable
    /// with respect to γ and β; the statistics are constants).
    public static func batchNormalizationAffine(
        scale: Tensor, offset: Tensor, runningMean: Tensor,
        runningVariance: Tensor, epsilon: Float = 1e-5
    ) -> (scale: Tensor, shift: Tensor) {
        let inverseDeviation = 1 / (runningVariance.detached() + epsilon).sqrt()
        let factor = scale * inverseDeviation
        return (factor, offset - runningMean.detached() * factor)
    }

    /// `x · scale[c] + shift[c]` for every channel `c` of `[N, C, ...]`, in one pass (batch
    /// normalization with fixed statistics).
    ///
    /// The pullback gives `g · scale` for the input, `Σ g · x` and `Σ g` (over all but the
    /// channel axis) for the scale and shift.
    public func channelAffine(scale: Tensor, shift: Tensor) -> Tensor {
        precondition(
            rank >= 2 && scale.shape == [shape[1]] && shift.shape == [shape[1]],
            "channelAffine: needs [N, C, ...] with [C] scale and shift; got \(shape), \(scale.shape), \(shift.shape)")
        let result = Tensor(shape: shape, storage: scaledByChannel(scale.storage.base, plus: shift.storage.base))
        let reducedAxes = [0] + Array(2..<rank)
        // The input is kept for the scale's gradient only.
        let input = scale.isTrackingGradients ? self : nil
        return Tensor.recording(result, inputs: [self, scale, shift]) { gradient, needed in
            [
                needed[0] ? Tensor(shape: result.shape, storage: gradient.scaledByChannel(scale.storage.base, plus: nil)) : nil,
                needed[1] ? (gradient * input!).sum(alongAxes: reducedAxes) : nil,
                needed[2] ? gradient.sum(alongAxes: reducedAxes) : nil,
            ]
        }
    }

    /// `x · scales[c] + shifts[c]` for every channel `c` (shifts `nil`: no shift), in this tensor's
    /// own layout when a oneDNN primitive left it channel-blocked.
    fileprivate func scaledByChannel(
        _ scales: UnsafeMutablePointer<Float>, plus shifts: UnsafeMutablePointer<Float>?
    ) -> TensorStorage {
        let (batches, channels) = (shape[0], shape[1])
        let plane = count / Swift.max(batches * channels, 1)
        // Blocked: runs of `width` channels interleaved, [N, C/width, H, W, width]; plain: [N, C, plane].
        let width = storage.channelBlockWidth
        let layout = width != nil ? storage.native : nil
        let source = layout.map { $0.pointer.assumingMemoryBound(to: Float.self) } ?? storage.base
        let result = TensorStorage(count: count, layout: layout)
        ChannelBlocking.withLanes(
            width: width ?? 4,
            ChannelAffineKernel(
                source: source, destination: result.elementwiseBase, scales: scales, shifts: shifts,
                rows: batches * channels / (width ?? 1), channels: channels, plane: plane, blocked: width != nil))
        return result
    }

    /// Zeroes each element with probability `probability` and scales the rest by
    /// `1 / (1 − probability)` (inverted dropout, `F.dropout` in training mode).
    ///
    /// The gradient flows through the kept elements with the same scale.
    public func dropout(probability: Float, generator: inout RandomGenerator) -> Tensor {
        precondition(probability >= 0 && probability < 1, "dropout: probability must be in [0, 1); got \(probability)")
        if probability == 0 { return self }
        var mask = Tensor(uninitializedShape: shape)
        let keptScale = 1 / (1 - probability)
        mask.withUnsafeMutableBufferPointer { values in
            for index in values.indices {
                values[index] = generator.nextUniform() < probability ? 0 : keptScale
            }
        }
        return self * mask
    }
}

/// `x · scales[c] + shifts[c]` over rows of one channel block (blocked) or one channel (plain).
private struct ChannelAffineKernel: ChannelLaneKernel {
    let source: UnsafeMutablePointer<Float>, destination: UnsafeMutablePointer<Float>
    let scales: UnsafeMutablePointer<Float>, shifts: UnsafeMutablePointer<Float>?
    let rows: Int, channels: Int, plane: Int
    /// Whether a row is one block of `Lanes.scalarCount` channels side by side at each position.
    let blocked: Bool

    func run<Lanes: SIMD>(_: Lanes.Type) where Lanes.Scalar == Float {
        let lanes = blocked ? Lanes.scalarCount : 1
        parallelRanges(rows, grain: Swift.max(1, 32_768 / Swift.max(plane * lanes, 1))) { range in
            for row in range {
                let firstChannel = (row * lanes) % channels
                let (input, output) = (source + row * plane * lanes, destination + row * plane * lanes)
                if blocked {
                    // One vector of the block's factors for every position.
                    let a = Lanes(UnsafeBufferPointer(start: scales + firstChannel, count: lanes))
                    let b = shifts.map { Lanes(UnsafeBufferPointer(start: $0 + firstChannel, count: lanes)) } ?? .zero
                    for position in 0..<plane {
                        let x = UnsafeRawPointer(input + position * lanes).loadUnaligned(as: Lanes.self)
                        UnsafeMutableRawPointer(output + position * lanes).storeBytes(of: x * a + b, as: Lanes.self)
                    }
                } else {
                    let (a, b) = (scales[firstChannel], shifts?[firstChannel] ?? 0)
                    for index in 0..<plane { output[index] = input[index] * a + b }
                }
            }
        }
    }
}

extension Tensor {
    /// Layer normalization over `axes` (PyTorch's `F.layer_norm` over the last axes, or
    /// ConvNeXt's `LayerNorm2d` over the channels): `(x − mean) / √(variance + ε)`, the biased
    /// variance, times `scale` plus `bias` (each broadcast against the input), with the mean and
    /// the inverse deviation it used (ONNX's `LayerNormalization` returns them). Composed of
    /// differentiable operations, so its pullback is theirs.
    public func layerNormalizedWithStatistics(
        alongAxes axes: [Int], scale: Tensor, bias: Tensor?, epsilon: Float
    ) -> (output: Tensor, mean: Tensor, inverseDeviation: Tensor) {
        let mean = self.mean(alongAxes: axes, keepingDimensions: true)
        let centred = self - mean
        let inverse = 1 / ((centred * centred).mean(alongAxes: axes, keepingDimensions: true) + epsilon).sqrt()
        let scaled = centred * inverse * scale
        return (bias.map { scaled + $0 } ?? scaled, mean, inverse)
    }

    /// ``layerNormalizedWithStatistics(alongAxes:scale:bias:epsilon:)``'s output alone.
    public func layerNormalized(alongAxes axes: [Int], scale: Tensor, bias: Tensor?, epsilon: Float) -> Tensor {
        layerNormalizedWithStatistics(alongAxes: axes, scale: scale, bias: bias, epsilon: epsilon).output
    }
}
