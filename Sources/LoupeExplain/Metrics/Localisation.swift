import LoupeTensor

// Quantus' localisation metrics: does the map point at the object? The object is a region
// [H, W] (1 inside, 0 outside: boxes or a segmentation mask). Quantus takes one-channel
// segmentations and maps of their shape, so a pixel map is scored by its channel sum. An empty
// region gives NaN, as Quantus returns.

extension ExplanationMetric {
    /// Quantus' `PointingGame` (Zhang et al., 2018): 1 when a largest value of the map lies
    /// inside the region, else 0.
    public static let pointingGame = ExplanationMetric(
        name: "pointing-game", summary: "1 when the map's largest value lies on the object, else 0 (Quantus PointingGame)",
        direction: .higherIsBetter, requirements: [.region]
    ) { context in
        let (map, inside) = (planeMap(context).scalars, regionMask(context))
        guard inside.contains(true) else { return Result(value: .nan) }
        let largest = map.max() ?? 0
        return Result(value: map.indices.contains { map[$0] == largest && inside[$0] } ? 1 : 0)
    }

    /// Quantus' `AttributionLocalisation` (Kohlbrenner et al., 2020): the share of the map's
    /// magnitude (its absolute values divided by the largest, Quantus' defaults) that falls
    /// inside the region, Σ inside / (Σ all + 10⁻⁹).
    public static let attributionLocalisation = ExplanationMetric(
        name: "attribution-localisation",
        summary: "Share of the map's magnitude that lies on the object (Quantus AttributionLocalisation)",
        direction: .higherIsBetter, requirements: [.region]
    ) { context in
        let inside = regionMask(context)
        guard inside.contains(true) else { return Result(value: .nan) }
        let magnitudes = quantusMagnitudes(planeMap(context)).map(Double.init)
        let within = zip(magnitudes, inside).reduce(0.0) { $0 + ($1.1 ? $1.0 : 0) }
        return Result(value: Float(within / (magnitudes.reduce(0, +) + 1e-9)))
    }
}

/// Whether each pixel lies inside the region.
private func regionMask(_ context: ExplanationMetric.Context) -> [Bool] { context.region!.scalars.map { $0 > 0.5 } }

/// The map as one plane `[H, W]`: a pixel map's channels summed in order, in single precision
/// (as NumPy's `sum(axis=0)`, so that equal sums stay equal on both sides).
func planeMap(_ context: ExplanationMetric.Context) -> Tensor {
    guard context.map.rank == 3 else { return context.map }
    let (channels, height, width) = (context.map.shape[0], context.map.shape[1], context.map.shape[2])
    let values = context.map.scalars, plane = height * width
    var sums = Array(values[0..<plane])
    for channel in 1..<channels {
        for index in 0..<plane { sums[index] += values[channel * plane + index] }
    }
    return Tensor(shape: [height, width], scalars: sums)
}
