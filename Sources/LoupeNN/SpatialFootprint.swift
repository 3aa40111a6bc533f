import LoupeTensor

/// How a spatially local module reads its input: output position `j` (per axis) depends only on
/// input positions `j·stride − padding ..< j·stride − padding + extent`, and the module computes
/// the same values on any crop of its input (zero-padding, or −∞ for max pooling, at the crop's
/// edges only changes outputs whose window reaches past the crop).
///
/// Incremental inference (occlusion) uses this to recompute only the part of each layer that a
/// changed input region reaches.
public struct SpatialFootprint: Equatable, Sendable {
    /// The window's extent in input positions (dilation included), per axis.
    public var extent: Size2D
    public var stride: Size2D
    /// Positions of padding before the first input position, per axis.
    public var padding: Size2D

    public init(extent: Size2D, stride: Size2D = 1, padding: Size2D = 0) {
        self.extent = extent
        self.stride = stride
        self.padding = padding
    }

    /// A module that works position by position (activations, batch norm in evaluation).
    public static let pointwise = SpatialFootprint(extent: 1)

    /// The footprint of `self` followed by `next`.
    public func then(_ next: SpatialFootprint) -> SpatialFootprint {
        SpatialFootprint(
            extent: Size2D(
                extent.height + (next.extent.height - 1) * stride.height,
                extent.width + (next.extent.width - 1) * stride.width),
            stride: Size2D(stride.height * next.stride.height, stride.width * next.stride.width),
            padding: Size2D(
                padding.height + next.padding.height * stride.height,
                padding.width + next.padding.width * stride.width))
    }

    /// The footprint of modules applied in order, or `nil` when one of them is not local.
    public static func chain(_ modules: [Module]) -> SpatialFootprint? {
        var result = SpatialFootprint.pointwise
        for module in modules {
            guard let footprint = module.spatialFootprint else { return nil }
            result = result.then(footprint)
        }
        return result
    }

    /// A window footprint (convolution or pooling) from its hyper-parameters.
    public init(kernelSize: Size2D, stride: Size2D, padding: Size2D, dilation: Size2D = 1) {
        self.init(
            extent: Size2D(dilation.height * (kernelSize.height - 1) + 1, dilation.width * (kernelSize.width - 1) + 1),
            stride: stride, padding: padding)
    }
}

extension Module {
    /// The module as a chain of modules whose composition is ``forward(_:)``, each stage
    /// expanded into its own ``stages`` as far as they go.
    public var flattenedStages: [Module] {
        guard let stages else { return [self] }
        return stages.flatMap(\.flattenedStages)
    }

    /// The stages that follow the module at `path`, when this module is a chain of stages and
    /// that module's output is one stage's output: run in order on that output, they give this
    /// module's output. `nil` when the module at `path` ends inside a stage (or is not there).
    public func stages(after path: String) -> [Module]? {
        guard let module = module(at: path), let last = module.flattenedStages.last else { return nil }
        let chain = flattenedStages
        guard let index = chain.firstIndex(where: { $0 === last }) else { return nil }
        return Array(chain[(index + 1)...])
    }
}
