/// One rectangle of every channel, copied from a batch item of `source` `[N, C, H, W]` into a
/// tensor that ``Tensor/assembled(_:from:)`` builds.
public struct RectangleCopy {
    public var source: Tensor
    /// The batch item of `source` the values come from, and the rectangle's top-left corner there.
    public var sourceItem: Int, sourceTop: Int, sourceLeft: Int
    /// The batch item of the result the values go to, and the rectangle's top-left corner there.
    public var item: Int, top: Int, left: Int
    public var height: Int, width: Int

    public init(
        from source: Tensor, item sourceItem: Int = 0, top sourceTop: Int, left sourceLeft: Int,
        to item: Int, top: Int, left: Int, height: Int, width: Int
    ) {
        self.source = source
        (self.sourceItem, self.sourceTop, self.sourceLeft) = (sourceItem, sourceTop, sourceLeft)
        (self.item, self.top, self.left) = (item, top, left)
        (self.height, self.width) = (height, width)
    }
}

extension Tensor {
    /// A new `[N, C, H, W]` tensor of `shape` made of rectangles copied, every channel at once,
    /// from other tensors with `C` channels. Copies apply in order, so a later one overwrites an
    /// earlier one where they overlap; positions no copy writes are zero.
    ///
    /// Cropping, pasting and batching in one parallel pass: incremental occlusion builds each
    /// layer's batch of patched crops so. When every source is channel-blocked alike (as
    /// convolutions leave their outputs), the result is too, and no values go
    /// through the row-major layout. The result is not recorded for differentiation.
    public static func assembled(_ shape: [Int], from copies: [RectangleCopy]) -> Tensor {
        precondition(shape.count == 4 && shape.allSatisfy { $0 >= 0 }, "assembled: shape \(shape) is not [N, C, H, W]")
        let (items, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        for copy in copies {
            let source = copy.source.shape
            precondition(
                source.count == 4 && source[1] == channels && (0..<source[0]).contains(copy.sourceItem)
                    && (0..<items).contains(copy.item) && copy.height >= 0 && copy.width >= 0
                    && copy.sourceTop >= 0 && copy.sourceLeft >= 0
                    && copy.sourceTop + copy.height <= source[2] && copy.sourceLeft + copy.width <= source[3]
                    && copy.top >= 0 && copy.left >= 0 && copy.top + copy.height <= height && copy.left + copy.width <= width,
                "assembled: a \(copy.height)×\(copy.width) copy from \(source) at (\(copy.sourceTop), \(copy.sourceLeft)) "
                    + "to (\(copy.top), \(copy.left)) does not fit \(shape)")
        }
        let blockWidth = copies.first?.source.storage.channelBlockWidth
        let blocked = blockWidth != nil && copies.allSatisfy { $0.source.storage.channelBlockWidth == blockWidth }
        let result =
            blocked
            ? Tensor(shape: shape, storage: TensorStorage(channelBlocked: shape, width: blockWidth!))
            : Tensor(uninitializedShape: shape)
        guard result.count > 0 else { return result }
        // A plane is one channel, or one block of channels whose values sit together per position.
        let lanes = blockWidth ?? 1
        let planesPerItem = channels / lanes, planeLength = height * width * lanes
        // Read every source's buffer here: making a row-major buffer from a blocked one is not
        // for the worker threads. Each step is one copy as plain numbers (no references to count).
        struct Step {
            let source: UnsafeMutablePointer<Float>
            let sourcePlaneLength: Int, sourceWidth: Int, sourceTop: Int, sourceLeft: Int
            let top: Int, left: Int, height: Int, width: Int
        }
        var steps = [[Step]](repeating: [], count: items)
        for copy in copies {
            let buffer = blocked ? copy.source.storage.elementwiseBase : copy.source.storage.base
            let (sourceHeight, sourceWidth) = (copy.source.shape[2], copy.source.shape[3])
            let sourcePlaneLength = sourceHeight * sourceWidth * lanes
            steps[copy.item].append(
                Step(
                    source: buffer + copy.sourceItem * planesPerItem * sourcePlaneLength,
                    sourcePlaneLength: sourcePlaneLength, sourceWidth: sourceWidth,
                    sourceTop: copy.sourceTop, sourceLeft: copy.sourceLeft,
                    top: copy.top, left: copy.left, height: copy.height, width: copy.width))
        }
        let destination = blocked ? result.storage.elementwiseBase : result.storage.base
        withExtendedLifetime(copies) {
            parallelRanges(items * planesPerItem, grain: Swift.max(1, 65_536 / planeLength)) { planes in
                for plane in planes {
                    let (item, planeInItem) = plane.quotientAndRemainder(dividingBy: planesPerItem)
                    let target = destination + plane * planeLength
                    steps[item].withUnsafeBufferPointer { itemSteps in
                        if let first = itemSteps.first, first.height == height, first.width == width {
                            // The first copy writes the whole plane: nothing to clear.
                        } else {
                            target.update(repeating: 0, count: planeLength)
                        }
                        for step in itemSteps {
                            let sourcePlane = step.source + planeInItem * step.sourcePlaneLength
                            for row in 0..<step.height {
                                (target + ((step.top + row) * width + step.left) * lanes).update(
                                    from: sourcePlane + ((step.sourceTop + row) * step.sourceWidth + step.sourceLeft) * lanes,
                                    count: step.width * lanes)
                            }
                        }
                    }
                }
            }
        }
        return result
    }
}
