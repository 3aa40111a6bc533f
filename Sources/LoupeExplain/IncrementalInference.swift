import LoupeNN
@_spi(Engine) import LoupeTensor

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
        // Once per image: no Winograd weight copies for this shape either.
        activations = withShapeVaryingConvolutions {
            withoutGradients {
                stages.reduce(into: [input]) { kept, stage in kept.append(stage(kept.last!)) }
            }
        }
    }

    /// The unchanged image's output.
    var output: Tensor { activations.last! }

    /// The outputs `[copies, ...]` for copies of the image, each with one region of the input
    /// replaced by the same region of `fill` `[1, C, H, W]`.
    func outputs(replacing regions: [Region], from fill: Tensor) -> Tensor {
        // Crop sizes and batch sizes change from call to call: no per-shape weight copies.
        withShapeVaryingConvolutions {
            withoutGradients {
                // Per copy: the stage to resume from in full, and the change to that stage's input
                // (none: the change reaches no output, which is the kept one).
                let resumed = propagate(regions.map { Change(region: $0, source: fill, item: 0, top: $0.top, left: $0.left) })
                var results = [Tensor](repeating: output, count: regions.count)
                // The remaining stages run as one batch that copies join at the stage they resume
                // from: each stage runs once, on every copy that has reached it.
                var batch: Tensor?, members: [Int] = []
                for stage in 0...stages.count {
                    let joining = resumed.indices.filter { resumed[$0].stage == stage && resumed[$0].change != nil }
                    if !joining.isEmpty {
                        let input = activations[stage]
                        var copies = (0..<members.count).map {
                            RectangleCopy(
                                from: batch!, item: $0, top: 0, left: 0, to: $0, top: 0, left: 0,
                                height: input.shape[2], width: input.shape[3])
                        }
                        copies += windowCopies(
                            of: input, height: input.shape[2], width: input.shape[3], firstItem: members.count,
                            origins: joining.map { _ in (0, 0) }, changes: joining.map { resumed[$0].change! })
                        members += joining
                        batch = Tensor.assembled([members.count] + input.shape.dropFirst(), from: copies)
                    }
                    if stage < stages.count, let input = batch { batch = stages[stage](input) }
                }
                for (position, index) in members.enumerated() {
                    results[index] = batch!.slice(along: 0, from: position, to: position + 1)
                }
                return Tensor.concatenate(results, along: 0)
            }
        }
    }

    /// New values for `region` of a layer: the same-sized rectangle of batch item `item` of
    /// `source`, from row `top` and column `left` (a stage's output, kept unsliced).
    private struct Change {
        var region: Region
        var source: Tensor, item: Int, top: Int, left: Int
    }

    /// The copies that build, for each of several occluded copies from batch item `firstItem`
    /// on, the window `height` × `width` of the kept activation `base` `[1, C, H, W]` at its
    /// origin, with the part of its change inside the window written in.
    private func windowCopies(
        of base: Tensor, height: Int, width: Int, firstItem: Int = 0,
        origins: [(top: Int, left: Int)], changes: [Change]
    ) -> [RectangleCopy] {
        var copies: [RectangleCopy] = []
        for (index, (origin, change)) in zip(origins, changes).enumerated() {
            let item = firstItem + index
            copies.append(
                RectangleCopy(
                    from: base, top: origin.top, left: origin.left,
                    to: item, top: 0, left: 0, height: height, width: width))
            let region = change.region
            let top = Swift.max(region.top, origin.top), bottom = Swift.min(region.bottom, origin.top + height)
            let left = Swift.max(region.left, origin.left), right = Swift.min(region.right, origin.left + width)
            guard top < bottom, left < right else { continue }
            copies.append(
                RectangleCopy(
                    from: change.source, item: change.item,
                    top: change.top + top - region.top, left: change.left + left - region.left,
                    to: item, top: top - origin.top, left: left - origin.left,
                    height: bottom - top, width: right - left))
        }
        return copies
    }

    /// Runs the local stages on the changed regions only; returns, per copy, the first stage to
    /// run in full and the change to its input (`nil`: the change reaches no output).
    ///
    /// The copies still in flight go through each stage together, as one batch of equally sized
    /// crops: the largest crop any of them needs, each copy's crop moved inward where it would
    /// leave the layer (it then holds more than that copy's windows; the extra outputs are
    /// correct and unused). One convolution over the batch streams the weights once, and a
    /// stage sees a few crop shapes instead of one per window position. Crops are cut, patched
    /// and batched in one pass (``LoupeTensor/Tensor/assembled(_:from:)``), in the layout the
    /// layers keep their activations in, and a stage's output is read where it lies.
    private func propagate(_ changes: [Change]) -> [(stage: Int, change: Change?)] {
        var resumed = [(stage: Int, change: Change?)?](repeating: nil, count: changes.count)
        var inFlight = changes.indices.map { (copy: $0, change: changes[$0]) }
        for (index, footprint) in footprints.enumerated() where !inFlight.isEmpty {
            let input = activations[index], output = activations[index + 1]
            var cropped: [(copy: Int, change: Change, rows: Span, columns: Span)] = []
            for (copy, change) in inFlight {
                let region = change.region
                let rows = affected(
                    region.top, region.bottom, footprint.extent.height, footprint.stride.height,
                    footprint.padding.height, inputCount: input.shape[2], outputCount: output.shape[2])
                let columns = affected(
                    region.left, region.right, footprint.extent.width, footprint.stride.width,
                    footprint.padding.width, inputCount: input.shape[3], outputCount: output.shape[3])
                if rows.outputs.isEmpty || columns.outputs.isEmpty {
                    // No output position sees the change (strided past it): the rest is as kept.
                    resumed[copy] = (activations.count - 1, nil)
                } else if Double(rows.crop.count * columns.crop.count) > fullFraction * Double(input.shape[2] * input.shape[3]) {
                    resumed[copy] = (index, change)
                } else {
                    cropped.append((copy, change, rows, columns))
                }
            }
            guard !cropped.isEmpty else { return resumed.map { $0! } }
            let height = sharedCropLength(
                cropped.map(\.rows.crop.count), stride: footprint.stride.height, inputCount: input.shape[2])
            let width = sharedCropLength(
                cropped.map(\.columns.crop.count), stride: footprint.stride.width, inputCount: input.shape[3])
            // Each crop starts at its own start or, where that would run past the layer, at the last
            // start that fits; both are multiples of the stride, so crop outputs line up with the layer's.
            let origins = cropped.map { item in
                (
                    top: Swift.min(item.rows.crop.lowerBound, input.shape[2] - height),
                    left: Swift.min(item.columns.crop.lowerBound, input.shape[3] - width)
                )
            }
            let crops = Tensor.assembled(
                [cropped.count, input.shape[1], height, width],
                from: windowCopies(
                    of: input, height: height, width: width,
                    origins: origins, changes: cropped.map(\.change)))
            let computed = stages[index](crops)
            // Crop output j is layer output j + crop start / stride.
            inFlight = zip(cropped, origins).enumerated().map { position, pair in
                let (item, origin) = pair
                let region = Region(
                    top: item.rows.outputs.lowerBound, bottom: item.rows.outputs.upperBound,
                    left: item.columns.outputs.lowerBound, right: item.columns.outputs.upperBound)
                return (
                    item.copy,
                    Change(
                        region: region, source: computed, item: position,
                        top: region.top - origin.top / footprint.stride.height,
                        left: region.left - origin.left / footprint.stride.width)
                )
            }
        }
        for (copy, change) in inFlight { resumed[copy] = (footprints.count, change) }
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
    private func affected(
        _ low: Int, _ high: Int, _ extent: Int, _ stride: Int, _ padding: Int,
        inputCount: Int, outputCount: Int
    ) -> Span {
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
