import LoupeTensor

/// A colormap with matplotlib's exact values: a 256-entry table, looked up as matplotlib does
/// (entry `min(⌊x · 256⌋, 255)` for `x` in `[0, 1]`).
///
/// The sequential maps suit magnitudes (saliency, Grad-CAM); ``blueWhiteRed`` (matplotlib's
/// `bwr`) suits signed maps, with white at 0 when the map is scaled symmetrically.
public enum Colormap: String, CaseIterable, Sendable {
    case viridis, magma, inferno, plasma, hot, jet, gray
    case gistEarth = "gist_earth"
    case blueWhiteRed = "bwr"

    /// Whether the map is diverging (its middle stands for zero).
    public var isDiverging: Bool { self == .blueWhiteRed }

    /// The color at `position` in `[0, 1]` (clamped; NaN gives the lowest color) as red, green,
    /// blue in `[0, 1]`.
    public func color(at position: Float) -> (red: Float, green: Float, blue: Float) {
        let table = Colormap.tables[self]!
        let entry = Colormap.entry(position)
        return (table[entry * 3], table[entry * 3 + 1], table[entry * 3 + 2])
    }

    /// Colors for positions `[H, W]` in `[0, 1]`, as `[3, H, W]` in `[0, 1]`.
    public func colorize(_ positions: Tensor) -> Tensor {
        precondition(positions.rank == 2, "colorize: positions must be [H, W]; got \(positions.shape)")
        let table = Colormap.tables[self]!
        let values = positions.scalars, plane = values.count
        var colors = [Float](repeating: 0, count: 3 * plane)
        for (index, value) in values.enumerated() {
            let entry = Colormap.entry(value)
            for channel in 0..<3 { colors[channel * plane + index] = table[entry * 3 + channel] }
        }
        return Tensor(shape: [3] + positions.shape, scalars: colors)
    }

    private static func entry(_ position: Float) -> Int {
        guard position.isFinite else { return position == .infinity ? 255 : 0 }
        return Swift.min(Int(Swift.min(Swift.max(position, 0), 1) * 256), 255)
    }
}
