import LoupeTensor

/// How a map's values become colormap positions.
public enum MapScaling: Equatable, Sendable {
    /// `(x − min) / (max − min)`, into `[0, 1]`; a constant map becomes 0.
    case minMax
    /// `x / max|x|`, into `[−1, 1]`: zero stays zero, so a diverging map shows the sign.
    case symmetric
    /// Captum's `visualize_image_attr` scaling: `x / t`, clipped to `[−1, 1]`, where `t` is the
    /// smallest |x| such that the |x| up to it sum to `100 − outlierPercent` percent of all |x|
    /// (Captum's `outlier_perc`, default 2), so a few extreme pixels do not wash the map out.
    case percentile(outlierPercent: Float)

    /// Whether the scaled values span `[−1, 1]` (else `[0, 1]`).
    public var isSigned: Bool { self != .minMax }

    /// The map scaled as the case says; a map of zeros stays zeros.
    public func scaled(_ map: Tensor) -> Tensor {
        switch self {
        case .minMax:
            let low = map.min().scalar, high = map.max().scalar
            return high > low ? (map - low) / (high - low) : map.zerosLike()
        case .symmetric:
            let largest = map.abs().max().scalar
            return largest > 0 ? map / largest : map.zerosLike()
        case .percentile(let outlierPercent):
            precondition((0...100).contains(outlierPercent), "percentile scaling: outlierPercent must be in 0...100")
            let threshold = MapScaling.cumulativeSumThreshold(map.abs().scalars, percent: 100 - outlierPercent)
            return threshold > 0 ? (map / threshold).clamped(min: -1, max: 1) : map.zerosLike()
        }
    }

    /// Colormap positions in `[0, 1]`: signed scalings put zero in the middle of a diverging
    /// colormap and clip negatives to the bottom of a sequential one.
    public func positions(_ map: Tensor, for colormap: Colormap) -> Tensor {
        let values = scaled(map)
        if isSigned && colormap.isDiverging { return (values + 1) * 0.5 }
        return values.clamped(min: 0, max: 1)
    }

    /// The first sorted value at which the running sum reaches `percent` of the total (in Float,
    /// as NumPy's float32 `cumsum` in Captum's `_cumulative_sum_threshold`).
    static func cumulativeSumThreshold(_ values: [Float], percent: Float) -> Float {
        let sorted = values.sorted()
        var sums = [Float](), running: Float = 0
        sums.reserveCapacity(sorted.count)
        for value in sorted {
            running += value
            sums.append(running)
        }
        let bound = running * Float(0.01) * percent
        return sums.firstIndex { $0 >= bound }.map { sorted[$0] } ?? 0
    }
}
