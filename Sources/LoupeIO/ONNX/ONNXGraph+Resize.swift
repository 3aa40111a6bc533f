import Foundation
import LoupeTensor

// Resize, nearest and linear, as separable gathers along each resized axis: every output
// coordinate maps back to the input by the node's coordinate_transformation_mode, then takes
// the nearest input (by nearest_mode) or blends the two neighbours. Built from differentiable
// ops, so gradients flow through it.
extension ONNXGraph {
    static func resize(_ arguments: ONNXArguments) throws -> ONNXValue {
        let x = try arguments.float(0)
        let attributes = arguments.attributes
        let mode = attributes.string("mode", "nearest")
        guard mode == "nearest" || mode == "linear" else {
            throw LoupeIOError("Resize mode '\(mode)' is not supported (nearest, linear)")
        }
        guard attributes.int("antialias", 0) == 0 else { throw LoupeIOError("Resize with antialias is not supported") }
        let transform = arguments.opset < 11 ? "asymmetric" : attributes.string("coordinate_transformation_mode", "half_pixel")
        let nearestMode = arguments.opset < 11 ? "floor" : attributes.string("nearest_mode", "round_prefer_floor")
        guard attributes.string("keep_aspect_ratio_policy", "stretch") == "stretch" else {
            throw LoupeIOError("Resize keep_aspect_ratio_policy other than stretch is not supported")
        }
        let axes = try (attributes.ints("axes") ?? Array(0..<x.rank)).map { try arguments.axis($0, rank: x.rank) }
        // Scales (input 1 before opset 11, input 2 after) or sizes (input 3).
        var scales = [Float](repeating: 1, count: x.rank), sizes = x.shape
        let scaleIndex = arguments.opset < 11 ? 1 : 2
        if arguments.opset >= 11, arguments.has(3), try arguments.value(3).shape.reduce(1, *) > 0 {
            let given = try arguments.value(3).integers("Resize sizes").values
            guard given.count == axes.count, given.allSatisfy({ $0 > 0 && $0 <= 1 << 20 }) else {
                throw LoupeIOError("Resize sizes \(given) do not fit the input \(x.shape)")
            }
            for (axis, size) in zip(axes, given) {
                sizes[axis] = size
                scales[axis] = Float(size) / Float(x.shape[axis])
            }
        } else if arguments.has(scaleIndex), try arguments.value(scaleIndex).shape.reduce(1, *) > 0 {
            let given = try arguments.float(scaleIndex).scalars
            guard given.count == axes.count, given.allSatisfy({ $0 > 0 && $0.isFinite }) else {
                throw LoupeIOError("Resize scales \(given) do not fit the input \(x.shape)")
            }
            for (axis, scale) in zip(axes, given) {
                scales[axis] = scale
                sizes[axis] = Int((Float(x.shape[axis]) * scale).rounded(.down))
                guard sizes[axis] >= 1, sizes[axis] <= 1 << 20 else {
                    throw LoupeIOError("Resize scale \(scale) gives an empty or huge axis")
                }
            }
        } else {
            throw LoupeIOError("Resize needs scales or sizes")
        }
        return .float(try resampled(x, sizes: sizes, scales: scales, mode: mode, transform: transform, nearestMode: nearestMode))
    }

    /// Upsample (opsets 7 to 9, Resize's predecessor): scales from the attribute (7, 8) or input 1
    /// (9), every axis's size `⌊size · scale⌋`, sampled at `output / scale` (asymmetric) — the
    /// nearest input below it, or linearly between the two around it.
    static func upsample(_ arguments: ONNXArguments) throws -> ONNXValue {
        let x = try arguments.float(0)
        var mode = arguments.attributes.string("mode", "nearest")
        if mode == "bilinear" { mode = "linear" }
        guard mode == "nearest" || mode == "linear" else {
            throw LoupeIOError("Upsample mode '\(mode)' is not supported (nearest, linear)")
        }
        let scales = arguments.opset >= 9 ? try arguments.float(1).scalars : arguments.attributes.floats("scales") ?? []
        guard scales.count == x.rank, scales.allSatisfy({ $0 >= 1 && $0.isFinite }) else {
            throw LoupeIOError("Upsample scales \(scales) do not fit the input \(x.shape) (one per axis, each at least 1)")
        }
        let sizes = try zip(x.shape, scales).map { size, scale in
            let resized = (Float(size) * scale).rounded(.down)
            guard resized <= Float(1 << 20) else { throw LoupeIOError("Upsample scale \(scale) gives a huge axis") }
            return Int(resized)
        }
        return .float(try resampled(x, sizes: sizes, scales: scales, mode: mode, transform: "asymmetric", nearestMode: "floor"))
    }

    /// `x` resized to `sizes`, each output coordinate mapped back by `transform` with its axis's scale.
    private static func resampled(
        _ input: Tensor, sizes: [Int], scales: [Float], mode: String, transform: String, nearestMode: String
    ) throws -> Tensor {
        var x = input
        _ = try checkedCount(sizes)
        for axis in 0..<x.rank where sizes[axis] != x.shape[axis] || scales[axis] != 1 {
            let (input, output, scale) = (x.shape[axis], sizes[axis], scales[axis])
            let coordinates = try (0..<output).map {
                try sourceCoordinate(Float($0), input: input, output: output, scale: scale, transform: transform)
            }
            if mode == "nearest" {
                let indices = try coordinates.map { Swift.min(Swift.max(try nearestIndex($0, mode: nearestMode), 0), input - 1) }
                x = x.gathered(indices, along: axis)
            } else {
                let clamped = coordinates.map { Swift.min(Swift.max($0, 0), Float(input - 1)) }
                let lower = clamped.map { Int($0.rounded(.down)) }, upper = lower.map { Swift.min($0 + 1, input - 1) }
                var weightShape = Array(repeating: 1, count: x.rank)
                weightShape[axis] = output
                let weights = Tensor(shape: weightShape, scalars: zip(clamped, lower).map { $0 - Float($1) })
                x = x.gathered(lower, along: axis) * (1 - weights) + x.gathered(upper, along: axis) * weights
            }
        }
        return x
    }

    private static func sourceCoordinate(_ x: Float, input: Int, output: Int, scale: Float, transform: String) throws -> Float {
        switch transform {
        case "half_pixel": return (x + 0.5) / scale - 0.5
        case "pytorch_half_pixel": return Float(input) * scale > 1 ? (x + 0.5) / scale - 0.5 : 0
        // ONNX measures the resized length as input · scale, before rounding down.
        case "align_corners":
            let length = Float(input) * scale
            return length == 1 ? 0 : x * Float(input - 1) / (length - 1)
        case "asymmetric": return x / scale
        case "tf_half_pixel_for_nearest", "tf_half_pixel_for_nn": return (x + 0.5) / scale
        default: throw LoupeIOError("Resize coordinate_transformation_mode '\(transform)' is not supported")
        }
    }

    private static func nearestIndex(_ x: Float, mode: String) throws -> Int {
        switch mode {
        case "round_prefer_floor": return Int(x - x.rounded(.down) == 0.5 ? x.rounded(.down) : x.rounded())
        case "round_prefer_ceil": return Int(x - x.rounded(.down) == 0.5 ? x.rounded(.up) : x.rounded())
        case "floor": return Int(x.rounded(.down))
        case "ceil": return Int(x.rounded(.up))
        default: throw LoupeIOError("Resize nearest_mode '\(mode)' is not supported")
        }
    }
}
