import CDNNL

/// oneDNN's channel-blocked activation layouts, nChw`w`c: `[N, C, H, W]` stored as
/// `[N, C/w, H, W, w]`, runs of `w` channels side by side at each position.
///
/// The width is the host's: oneDNN's AVX-512 kernels use 16, its AVX2, AVX and SSE4.1 kernels
/// 8, and for a width they were not written for oneDNN has only its reference kernels (thousands
/// of times slower). So no width is assumed anywhere: the host's is read from the format oneDNN
/// itself picks for a typical convolution, and every Swift kernel that reads or writes blocked
/// memory takes the width of the buffer it is given. This is the one place that names widths.
enum ChannelBlocking {
    /// The widths oneDNN has a blocked format tag for.
    private static let tags: [Int: dnnl_format_tag_t] = [4: dnnl_aBcd4b, 8: dnnl_aBcd8b, 16: dnnl_aBcd16b]

    /// The block width oneDNN's fastest kernels use on this host, or `nil` where they prefer an
    /// unblocked layout (then convolutions leave the choice to oneDNN).
    ///
    /// Read from the source format oneDNN picks for a typical convolution when left free
    /// (``KernelChoice/withTypicalConvolution(_:_:_:)``).
    static let host: Int? = KernelChoice.withTypicalConvolution(dnnl_convolution_direct, dnnl_forward_training) { descriptor in
        descriptor.flatMap { MemoryFormat(chosenBy: $0, dnnl_query_src_md) }.flatMap(width(of:))
    }

    /// The format tag of width `width`'s blocked layout.
    static func tag(width: Int) -> dnnl_format_tag_t {
        guard let tag = tags[width] else { preconditionFailure("oneDNN has no \(width)-channel blocked layout") }
        return tag
    }

    /// Whether `channels` fill whole blocks of the host's width.
    static func fillsHostBlocks(_ channels: Int) -> Bool {
        host.map { channels % $0 == 0 } ?? false
    }

    /// The block width of `format` when it is a blocked layout with a width of ``tags`` and no
    /// padding; `nil` for any other format.
    static func width(of format: MemoryFormat) -> Int? {
        format.channelBlockWidth.flatMap { tags[$0] == nil ? nil : $0 }
    }

    /// Runs `kernel` with SIMD vectors one block wide (`width` lanes, a width of ``tags``).
    static func withLanes<Kernel: ChannelLaneKernel>(width: Int, _ kernel: Kernel) {
        switch width {
        case 16: kernel.run(SIMD16<Float>.self)
        case 8: kernel.run(SIMD8<Float>.self)
        case 4: kernel.run(SIMD4<Float>.self)
        default: preconditionFailure("oneDNN has no \(width)-channel blocked layout")
        }
    }
}

/// A kernel written once for vectors of one channel block, whatever the block's width (see
/// ``ChannelBlocking/withLanes(width:_:)``).
protocol ChannelLaneKernel {
    func run<Lanes: SIMD>(_ lanes: Lanes.Type) where Lanes.Scalar == Float
}

extension TensorStorage {
    /// Storage for values of 4-D `dimensions` to be written in the blocked layout of width
    /// `width` (the channels must be a multiple of it, so there is no padding).
    convenience init(channelBlocked dimensions: [Int], width: Int) {
        precondition(
            dimensions.count == 4 && dimensions[1] % width == 0,
            "channel-blocked storage needs [N, C, H, W] with C a multiple of \(width); got \(dimensions)")
        self.init(
            count: dimensions.reduce(1, *),
            native: FormattedBuffer(allocating: memoryDescriptor(dimensions, ChannelBlocking.tag(width: width))))
    }

    /// The block width of the native layout when it is channel-blocked with no padding.
    var channelBlockWidth: Int? {
        native.flatMap { ChannelBlocking.width(of: $0.format) }
    }
}
