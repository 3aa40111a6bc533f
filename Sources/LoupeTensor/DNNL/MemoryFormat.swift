import CDNNL

/// A oneDNN memory format: logical dimensions and how their values lie in memory (row-major,
/// channels-last, channel-blocked, or a layout of a primitive's own such as Winograd's weights).
///
/// Two formats are equal when oneDNN says their layouts are, so formats serve as dictionary keys:
/// a copy of some values in one format is shared by every primitive that reads that format. Each
/// instance owns its oneDNN descriptor (a handle in oneDNN 3.x, a value in 2.x; see `shim.h`).
final class MemoryFormat: Hashable, @unchecked Sendable {
    let handle: loupe_md_t
    let dimensions: [Int]
    /// The bytes the values take in this format, padding included.
    let byteCount: Int
    /// The block width `w` when the format is nChw`w`c (`[N, C/w, H, W, w]`) with no padding;
    /// `nil` for every other format (see ``ChannelBlocking``).
    let channelBlockWidth: Int?
    private let layoutSummary: [Int]

    /// The float32 format of `dimensions` in the layout `tag`, or `nil` when oneDNN refuses them.
    convenience init?(_ dimensions: [Int], _ tag: dnnl_format_tag_t) {
        guard let handle = loupe_md_create(Int32(dimensions.count), dimensions.map(Int64.init), tag) else { return nil }
        self.init(owning: handle)
    }

    /// The format `descriptor` chose for the argument `query` asks about (the `index`-th of its
    /// kind), or `nil` when the primitive has no such argument.
    convenience init?(chosenBy descriptor: dnnl_primitive_desc_t, _ query: dnnl_query_t, index: Int32 = 0) {
        guard let handle = loupe_pd_query_md(descriptor, query, index) else { return nil }
        self.init(owning: handle)
    }

    private init(owning handle: loupe_md_t) {
        self.handle = handle
        var dims = [Int64](repeating: 0, count: Int(DNNL_MAX_NDIMS))
        let rank = Int(loupe_md_dims(handle, &dims))
        dimensions = dims.prefix(rank).map(Int.init)
        byteCount = loupe_md_size(handle)
        var strides = [Int64](repeating: 0, count: Int(DNNL_MAX_NDIMS)), blocks = strides, indices = strides
        let blockCount = Int(loupe_md_blocking(handle, &strides, &blocks, &indices))
        if blockCount < 0 {
            layoutSummary = [-1]
            channelBlockWidth = nil
        } else {
            let (strides, blocks, indices) = (
                strides.prefix(rank).map(Int.init), blocks.prefix(blockCount).map(Int.init),
                indices.prefix(blockCount).map(Int.init)
            )
            layoutSummary = [blockCount] + strides + blocks + indices
            channelBlockWidth = Self.channelBlock(dimensions, strides, blocks, indices)
        }
    }

    deinit { loupe_md_destroy(handle) }

    /// `w` when the blocking described is nChw`w`c's, values dense.
    private static func channelBlock(_ dimensions: [Int], _ strides: [Int], _ blocks: [Int], _ indices: [Int]) -> Int? {
        guard dimensions.count == 4, blocks.count == 1, indices[0] == 1 else { return nil }
        let (width, channels, height, columns) = (blocks[0], dimensions[1], dimensions[2], dimensions[3])
        guard width > 1, channels % width == 0 else { return nil }
        let dense = [channels * height * columns, height * columns * width, columns * width, width]
        return strides == dense ? width : nil
    }

    static func == (left: MemoryFormat, right: MemoryFormat) -> Bool {
        left === right || loupe_md_equal(left.handle, right.handle) != 0
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(dimensions)
        hasher.combine(byteCount)
        hasher.combine(layoutSummary)
    }
}

/// A float32 memory format for `dimensions` in the layout `tag`.
func memoryDescriptor(_ dimensions: [Int], _ tag: dnnl_format_tag_t) -> MemoryFormat {
    guard let format = MemoryFormat(dimensions, tag) else {
        fatalError("oneDNN refused to describe memory of dimensions \(dimensions)")
    }
    return format
}

/// The plain row-major memory format for `dimensions`.
func plainDescriptor(_ dimensions: [Int]) -> MemoryFormat {
    let tags: [dnnl_format_tag_t] = [dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde]
    return memoryDescriptor(dimensions, tags[dimensions.count - 1])
}
