import LoupeNN
import LoupeTensor

/// Exact incremental inference (Nakandala, Kumar & Papakonstantinou, "Incremental and
/// Approximate Inference for Faster Occlusion-based Deep CNN Explanations", SIGMOD 2019): the
/// model's outputs for copies of one image that each differ from it in a small rectangle.
///
/// The model runs once in full on the image, keeping every layer's activation. For a changed
/// rectangle, each spatially local layer (see ``LoupeNN/SpatialFootprint``) recomputes only the
/// output positions whose window reaches the changed positions, on a crop of its (patched)
/// input that holds those windows, the copies' crops batched at one size; the rest of the
/// activation is the kept one. Once the changed region covers more than ``fullFraction`` of a
/// layer, or at the first layer that is not local (a fully connected head), the remaining layers
/// run in full, batched over the copies. The result equals a full forward pass on each copy up
/// to float rounding (convolution kernels may sum in another order on a crop).
struct IncrementalInference {
    /// The model as a chain of stages, and how many leading stages are spatially local.
    private let stages: [Module]
    private let footprints: [SpatialFootprint]
    /// `activations[i]` is the input of stage `i` for the unchanged image; the last is the output.
    private let activations: [Tensor]
    /// Past this share of a layer's positions, the rest of the model runs in full.
    let fullFraction: Double

    /// A rectangle of positions in a layer: rows `top..<bottom`, columns `left..<right`.
    struct Region {
        var top: Int, bottom: Int, left: Int, right: Int
    }

    /// Prepares incremental inference for `model` on `input` `[1, C, H, W]`, or `nil` when the
    /// model is not a chain that starts with a spatially local stage.
    init?(model: Module, input: Tensor, fullFraction: Double = 0.9) {
        precondition(input.rank == 4 && input.shape[0] == 1, "IncrementalInference: input must be [1, C, H, W]")
        let stages = model.flattenedStages
        var footprints: [SpatialFootprint] = []
        for stage in stages {
            guard let footprint = stage.spatialFootprint else { break }
            footprints.append(footprint)
        }
        guard !footprints.isEmpty else { return nil }
        self.stages = stages
        self.footprints = footprints
        self.fullFraction = fullFraction
        activations = withoutGradients {
            stages.reduce(into: [input]) { kept, stage in kept.append(stage(kept.last!)) }
        }
    }

    /// The unchanged image's output.
    var output: Tensor { activations.last! }

    /// The outputs `[copies, ...]` for copies of the image, each with `region` of the input
    /// replaced by `patch` `[1, C, region height, region width]`.
    func outputs(for changes: [(region: Region, patch: Tensor)]) -> Tensor {
        // Crop sizes and batch sizes change from call to call: no per-shape weight copies.
        withShapeVaryingConvolutions { withoutGradients {
            // Per copy: the stage to resume from in full, and that stage's whole input.
            let resumed = propagate(changes)
            // The remaining stages run batched, grouped by where each copy left off.
            var results = [Tensor?](repeating: nil, count: changes.count)
            for start in Set(resumed.map(\.stage)).sorted() {
                let members = resumed.indices.filter { resumed[$0].stage == start }
                let batch = Tensor.concatenate(members.map { resumed[$0].input }, along: 0)
                let output = stages[start...].reduce(batch) { $1($0) }
                for (position, index) in members.enumerated() {
                    results[index] = output.slice(along: 0, from: position, to: position + 1)
                }
            }
            return Tensor.concatenate(results.map { $0! }, along: 0)
        } }
    }

    /// Runs the local stages on the changed regions only; returns, per copy, the first stage to
    /// run in full and its input (the kept activation with the changed values written in).
    ///
    /// The copies still in flight go through each stage together, as one batch of equally sized
    /// crops: the largest crop any of them needs, each copy's crop moved inward where it would
    /// leave the layer (it then holds more than that copy's windows; the extra outputs are
    /// correct and unused). One convolution over the batch streams the weights once, and a
    /// stage sees a few crop shapes instead of one per window position.
    private func propagate(_ changes: [(region: Region, patch: Tensor)]) -> [(stage: Int, input: Tensor)] {
        var resumed = [(stage: Int, input: Tensor)?](repeating: nil, count: changes.count)
        var inFlight = changes.indices.map { (copy: $0, region: changes[$0].region, values: changes[$0].patch) }
        for (index, footprint) in footprints.enumerated() where !inFlight.isEmpty {
            let input = activations[index], output = activations[index + 1]
            var cropped: [(copy: Int, region: Region, values: Tensor, rows: Span, columns: Span)] = []
            for (copy, region, values) in inFlight {
                let rows = affected(region.top, region.bottom, footprint.extent.height, footprint.stride.height,
                                    footprint.padding.height, inputCount: input.shape[2], outputCount: output.shape[2])
                let columns = affected(region.left, region.right, footprint.extent.width, footprint.stride.width,
                                       footprint.padding.width, inputCount: input.shape[3], outputCount: output.shape[3])
                if rows.outputs.isEmpty || columns.outputs.isEmpty {
                    // No output position sees the change (strided past it): the rest is as kept.
                    resumed[copy] = (activations.count - 1, activations.last!)
                } else if Double(rows.crop.count * columns.crop.count) > fullFraction * Double(input.shape[2] * input.shape[3]) {
                    resumed[copy] = (index, input.pasting(values, at: region))
                } else {
                    cropped.append((copy, region, values, rows, columns))
                }
            }
            guard !cropped.isEmpty else { return resumed.map { $0! } }
            let height = sharedCropLength(cropped.map(\.rows.crop.count), stride: footprint.stride.height, inputCount: input.shape[2])
            let width = sharedCropLength(cropped.map(\.columns.crop.count), stride: footprint.stride.width, inputCount: input.shape[3])
            // Each crop starts at its own start or, where that would run past the layer, at the last
            // start that fits; both are multiples of the stride, so crop outputs line up with the layer's.
            let origins = cropped.map { item in
                (top: Swift.min(item.rows.crop.lowerBound, input.shape[2] - height),
                 left: Swift.min(item.columns.crop.lowerBound, input.shape[3] - width))
            }
            let crops = zip(cropped, origins).map { item, origin in
                input.cropped(rows: origin.top..<(origin.top + height), columns: origin.left..<(origin.left + width))
                    .pasting(item.values, at: Region(top: item.region.top - origin.top, bottom: item.region.bottom - origin.top,
                                                     left: item.region.left - origin.left, right: item.region.right - origin.left))
            }
            let computed = stages[index](Tensor.concatenate(crops, along: 0))
            // Crop output j is layer output j + crop start / stride.
            inFlight = zip(cropped, origins).enumerated().map { position, pair in
                let (item, origin) = pair
                let rowOffset = origin.top / footprint.stride.height, columnOffset = origin.left / footprint.stride.width
                let values = computed.slice(along: 0, from: position, to: position + 1).cropped(
                    rows: (item.rows.outputs.lowerBound - rowOffset)..<(item.rows.outputs.upperBound - rowOffset),
                    columns: (item.columns.outputs.lowerBound - columnOffset)..<(item.columns.outputs.upperBound - columnOffset))
                return (item.copy, Region(top: item.rows.outputs.lowerBound, bottom: item.rows.outputs.upperBound,
                                          left: item.columns.outputs.lowerBound, right: item.columns.outputs.upperBound), values)
            }
        }
        let local = footprints.count
        for (copy, region, values) in inFlight {
            resumed[copy] = (local, activations[local].pasting(values, at: region))
        }
        return resumed.map { $0! }
    }

    /// Output positions and the input crop that holds their windows, along one axis.
    private typealias Span = (outputs: Range<Int>, crop: Range<Int>)

    /// The crop length, along one axis, that holds every crop of `lengths`: the longest, made
    /// longer where needed so that the last crop start that fits the layer (`inputCount` − length)
    /// is a multiple of the stride.
    private func sharedCropLength(_ lengths: [Int], stride: Int, inputCount: Int) -> Int {
        inputCount - (inputCount - lengths.max()!) / stride * stride
    }

    /// Along one axis: the output positions whose window reaches input positions `low..<high`,
    /// and the input crop that holds their windows, starting at a multiple of the stride so the
    /// crop's output grid lines up with the layer's.
    private func affected(_ low: Int, _ high: Int, _ extent: Int, _ stride: Int, _ padding: Int,
                          inputCount: Int, outputCount: Int) -> Span {
        // Output j reads inputs j·stride − padding ..< j·stride − padding + extent.
        let first = Swift.max(0, ceilDivide(low + padding - extent + 1, stride))
        let last = Swift.min(outputCount, floorDivide(high - 1 + padding, stride) + 1)
        guard first < last else { return (0..<0, 0..<0) }
        let start = Swift.max(0, first * stride - padding) / stride * stride
        let end = Swift.min(inputCount, (last - 1) * stride - padding + extent)
        return (first..<last, start..<end)
    }
}

private func floorDivide(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
private func ceilDivide(_ a: Int, _ b: Int) -> Int { -floorDivide(-a, b) }

extension Tensor {
    /// Rows and columns of a `[N, C, H, W]` tensor.
    func cropped(rows: Range<Int>, columns: Range<Int>) -> Tensor {
        slice(along: 2, from: rows.lowerBound, to: rows.upperBound)
            .slice(along: 3, from: columns.lowerBound, to: columns.upperBound)
    }

    /// A copy with `region` of every channel replaced by `values` `[N, C, region height, region
    /// width]`; the part of `region` outside the tensor is left out (a crop need not hold every
    /// changed position: those no output window reads).
    func pasting(_ values: Tensor, at region: IncrementalInference.Region) -> Tensor {
        let (planes, height, width) = (shape[0] * shape[1], shape[2], shape[3])
        let (rows, columns) = (region.bottom - region.top, region.right - region.left)
        precondition(values.shape == [shape[0], shape[1], rows, columns], "pasting: \(values.shape) does not fit \(region)")
        let (firstRow, lastRow) = (Swift.max(0, -region.top), Swift.min(rows, height - region.top))
        let (firstColumn, lastColumn) = (Swift.max(0, -region.left), Swift.min(columns, width - region.left))
        guard firstRow < lastRow, firstColumn < lastColumn else { return self }
        var result = self
        values.withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { target in
                for plane in 0..<planes {
                    for row in firstRow..<lastRow {
                        let from = (plane * rows + row) * columns
                        let to = (plane * height + region.top + row) * width + region.left
                        for column in firstColumn..<lastColumn { target[to + column] = source[from + column] }
                    }
                }
            }
        }
        return result
    }
}
