import LoupeExplain
import LoupeIO
import LoupeTensor

/// An attribution that cannot be drawn as asked (a reduction that keeps several channels): bad
/// user input, not a bug.
public struct RenderError: Error, CustomStringConvertible {
    public let description: String
}

extension Render {
    /// One image's attribution as the 2-D map a picture shows.
    ///
    /// Layer (CAM) maps `[h, w]` are drawn as they are. Pixel maps `[C, H, W]` with several
    /// channels are reduced over channels, by default with the largest |value| (Simonyan et al.);
    /// a one-channel pixel map is kept as it is unless a reduction is named, since its sign is
    /// part of what it says (raw saliency, input × gradient and integrated gradients are signed).
    public static func attributionMap(
        _ attribution: Tensor, attributesToLayer: Bool, reduction: ChannelReduction? = nil
    ) throws -> Tensor {
        if attributesToLayer { return attribution.reshaped(Array(attribution.shape.suffix(2))) }
        precondition(attribution.rank == 3, "attributionMap: a pixel map must be [C, H, W]; got \(attribution.shape)")
        let channels = attribution.shape[0]
        let chosen = reduction ?? (channels == 1 ? .none : .absmax)
        guard chosen != .none || channels == 1 else {
            throw RenderError(
                description: "none keeps \(channels) channels, but a picture shows one: reduce with abs, max or absmax")
        }
        let reduced = chosen.apply(attribution.reshaped([1] + attribution.shape))
        return reduced.reshaped(Array(reduced.shape.suffix(2)))
    }

    /// How Loupe colors an attribution map unless told otherwise:
    /// - layer (CAM) maps: jet, min–max scaled;
    /// - signed pixel maps (any negative value): the diverging bwr, scaled by max |x|, so that
    ///   zero is white and the two signs keep their proportion;
    /// - unsigned pixel maps: inferno, with Captum's percentile scaling (the top 2% of the
    ///   summed |x| saturate), so that a few extreme pixels do not wash the map out.
    public static func defaultColoring(for map: Tensor, attributesToLayer: Bool) -> (colormap: Colormap, scaling: MapScaling) {
        if attributesToLayer { return (.jet, .minMax) }
        return map.min().scalar < 0 ? (.blueWhiteRed, .symmetric) : (.inferno, .percentile(outlierPercent: 2))
    }

    /// One image's attribution drawn over its photo `[1, C, H, W]`: the map of
    /// ``attributionMap(_:attributesToLayer:reduction:)``, colored as
    /// ``defaultColoring(for:attributesToLayer:)`` says unless `colormap` or `scaling` is given.
    /// `explain` and `report` both draw with it, so one attribution looks the same in both.
    public static func attributionPicture(
        _ attribution: Tensor, attributesToLayer: Bool, on photo: Tensor, reduction: ChannelReduction? = nil,
        colormap: Colormap? = nil, scaling: MapScaling? = nil, alpha: Float = 0.5, style: OverlayStyle = .blend
    ) throws -> Image {
        let map = try attributionMap(attribution, attributesToLayer: attributesToLayer, reduction: reduction)
        let coloring = defaultColoring(for: map, attributesToLayer: attributesToLayer)
        return overlay(
            map, on: photo, colormap: colormap ?? coloring.colormap, scaling: scaling ?? coloring.scaling, alpha: alpha,
            style: style)
    }
}
