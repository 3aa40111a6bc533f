import CDNNL

/// Memory a primitive hands to a later one and no tensor reads (a max pooling's argmax workspace).
final class OpaqueBuffer: @unchecked Sendable {
    let values: FormattedBuffer

    init(_ format: MemoryFormat) {
        values = FormattedBuffer(allocating: format)
    }

    deinit { values.release() }
}

/// Work a primitive does on its result before storing it, in order.
enum PostOperation {
    /// Adds the destination's prior values.
    case sum
    /// An activation (``ConvolutionActivation``).
    case activation(ConvolutionActivation)
}

/// The primitive descriptor `create` makes with the attributes it is given: Loupe hands the
/// primitive its scratch memory (see ``DNNLContext/scratchpad(byteCount:)``), and `postOperations`
/// run on its result. `nil` when oneDNN has no implementation.
func primitiveDescriptor(
    postOperations: [PostOperation] = [],
    _ create: (inout dnnl_primitive_desc_t?, dnnl_primitive_attr_t?) -> dnnl_status_t
) -> dnnl_primitive_desc_t? {
    var attributes: dnnl_primitive_attr_t?
    checkDNNL(dnnl_primitive_attr_create(&attributes), "creating primitive attributes")
    defer { dnnl_primitive_attr_destroy(attributes) }
    checkDNNL(dnnl_primitive_attr_set_scratchpad_mode(attributes, dnnl_scratchpad_mode_user), "choosing user scratchpads")
    if !postOperations.isEmpty {
        var postOps: dnnl_post_ops_t?
        checkDNNL(dnnl_post_ops_create(&postOps), "creating post-ops")
        defer { dnnl_post_ops_destroy(postOps) }
        for operation in postOperations {
            switch operation {
            case .sum: checkDNNL(loupe_post_ops_append_sum(postOps), "appending a sum post-op")
            case .activation(let activation):
                let status =
                    switch activation {
                    case .relu: loupe_post_ops_append_eltwise(postOps, dnnl_eltwise_relu, 0, 0)
                    case .relu6: loupe_post_ops_append_eltwise(postOps, dnnl_eltwise_clip, 0, 6)
                    case .silu: loupe_post_ops_append_eltwise(postOps, dnnl_eltwise_swish, 1, 0)
                    case .hardswish: loupe_post_ops_append_hardswish(postOps)
                    }
                checkDNNL(status, "appending a \(activation) post-op")
            }
        }
        checkDNNL(dnnl_primitive_attr_set_post_ops(attributes, postOps), "setting post-ops")
    }
    var descriptor: dnnl_primitive_desc_t?
    guard create(&descriptor, attributes) == dnnl_success else { return nil }
    return descriptor
}

/// A primitive with the formats it chose for each argument, run on ``TensorStorage``s.
///
/// Inputs already held in the chosen format (an activation another primitive wrote blocked,
/// a weight reordered before) are passed as they are; others are reordered in. Outputs whose
/// chosen format has no padding are written in it and stay so (see ``TensorStorage/native``);
/// the rest are reordered out to plain buffers.
final class PlannedPrimitive: @unchecked Sendable {
    private struct Argument {
        let index: Int32
        let dimensions: [Int]
        let plain: MemoryFormat
        let chosen: MemoryFormat
        let isPlain: Bool
        /// The chosen format holds exactly the values, no padding.
        let isDense: Bool
        let isOutput: Bool
        /// Not a tensor (a pooling workspace): passed between primitives as an ``OpaqueBuffer``.
        var isOpaque: Bool { dimensions.isEmpty }
    }

    private let primitive: dnnl_primitive_t
    private let arguments: [Argument]
    /// The scratch memory the primitive needs and its size, if any.
    private let scratchpad: MemoryFormat?

    /// - Parameter arguments: (oneDNN argument, query for its format, plain dimensions — empty for
    ///   an opaque one, is output). Arguments the primitive does not use (bias without bias) are dropped.
    init(
        _ descriptor: dnnl_primitive_desc_t, engine: dnnl_engine_t,
        arguments: [(Int32, dnnl_query_t, [Int], Bool)], keepDescriptor: Bool = false
    ) {
        var planned: [Argument] = []
        for (index, query, dimensions, isOutput) in arguments {
            let queryIndex: Int32 = (index == DNNL_ARG_BIAS || index == DNNL_ARG_DIFF_BIAS) ? 1 : 0
            guard let chosen = MemoryFormat(chosenBy: descriptor, query, index: queryIndex) else { continue }
            let plain = dimensions.isEmpty ? chosen : plainDescriptor(dimensions)
            planned.append(
                Argument(
                    index: index, dimensions: dimensions, plain: plain, chosen: chosen, isPlain: plain == chosen,
                    isDense: chosen.byteCount == dimensions.reduce(1, *) * MemoryLayout<Float>.stride, isOutput: isOutput))
        }
        scratchpad = MemoryFormat(chosenBy: descriptor, dnnl_query_scratchpad_md)
        var primitive: dnnl_primitive_t?
        checkDNNL(dnnl_primitive_create(&primitive, descriptor), "creating a primitive")
        if !keepDescriptor { dnnl_primitive_desc_destroy(descriptor) }
        self.primitive = primitive!
        self.arguments = planned
    }

    /// Runs the primitive on `inputs` and returns its outputs, one storage per output argument the
    /// primitive has (caller holds the context lock). Inputs in `kept` are long-lived (weights):
    /// their reordered copy is kept with their storage; other inputs are reordered for the call only.
    /// Opaque inputs come from `opaqueInputs`; opaque outputs are returned in `opaqueOutputs`.
    /// An output in `startingValues` holds those values before the primitive runs (for a sum post-op).
    func run(
        _ context: DNNLContext, _ inputs: [Int32: TensorStorage], keeping kept: Set<Int32> = [],
        producing wanted: Set<Int32>, startingValues: [Int32: TensorStorage] = [:],
        opaqueInputs: [Int32: OpaqueBuffer] = [:],
        opaqueOutputs: inout [Int32: OpaqueBuffer]
    ) -> [Int32: TensorStorage] {
        var execution = Execution()
        var outputs: [Int32: TensorStorage] = [:]
        defer { execution.staged.forEach { $0.release() } }
        for argument in arguments {
            if argument.isOpaque {
                let buffer = argument.isOutput ? OpaqueBuffer(argument.chosen) : opaqueInputs[argument.index]!
                if argument.isOutput { opaqueOutputs[argument.index] = buffer }
                execution.arguments.append((argument.index, buffer.values.pointer, argument.chosen))
            } else if argument.isOutput {
                guard wanted.contains(argument.index) else { continue }
                outputs[argument.index] = prepareOutput(
                    argument, startingFrom: startingValues[argument.index], context, &execution)
            } else if let storage = inputs[argument.index] {
                stageInput(argument, storage, keepingCopy: kept.contains(argument.index), context, &execution)
            }
        }
        if let scratchpad {
            execution.arguments.append((DNNL_ARG_SCRATCHPAD, context.scratchpad(byteCount: scratchpad.byteCount), scratchpad))
        }
        context.execute(primitive, execution.arguments)
        for (buffer, storage) in execution.reorderedOutputs {
            context.reorder(
                from: buffer.format, buffer.pointer, to: plainDescriptor(buffer.format.dimensions),
                UnsafeMutableRawPointer(storage.plainWhileLocked()))
        }
        return outputs
    }

    /// One execution's buffers: what the primitive is handed, the buffers made for this call
    /// only, and the outputs to reorder out to plain once it has run.
    private struct Execution {
        var arguments: [(Int32, UnsafeMutableRawPointer, MemoryFormat)] = []
        var staged: [FormattedBuffer] = []
        var reorderedOutputs: [(FormattedBuffer, TensorStorage)] = []
    }

    /// Hands the primitive `storage`'s values in the argument's chosen format: as they are when a
    /// buffer holds them so, else a copy kept with the storage (`keepingCopy`: a weight), else a
    /// reorder for this call only.
    private func stageInput(
        _ argument: Argument, _ storage: TensorStorage, keepingCopy: Bool, _ context: DNNLContext,
        _ execution: inout Execution
    ) {
        let pointer: UnsafeMutableRawPointer
        if argument.isPlain {
            pointer = UnsafeMutableRawPointer(storage.plainWhileLocked())
        } else if let existing = storage.existingBuffer(in: argument.chosen) {
            pointer = existing
        } else if keepingCopy {
            pointer = storage.formattedCopy(in: argument.chosen)
        } else {
            let buffer = FormattedBuffer(allocating: argument.chosen)
            execution.staged.append(buffer)
            storage.write(in: argument.chosen, to: buffer.pointer, readingPlainAs: argument.plain)
            pointer = buffer.pointer
        }
        execution.arguments.append((argument.index, pointer, argument.chosen))
    }

    /// The storage an output argument is written to: plain, native in the chosen format when it
    /// has no padding, or plain by way of a staged buffer reordered out after the run. With
    /// `start` (a sum post-op's addend), the buffer holds its values before the primitive runs.
    private func prepareOutput(
        _ argument: Argument, startingFrom start: TensorStorage?, _ context: DNNLContext, _ execution: inout Execution
    ) -> TensorStorage {
        let count = argument.dimensions.reduce(1, *)
        let storage: TensorStorage
        let pointer: UnsafeMutableRawPointer
        if argument.isPlain {
            storage = TensorStorage(count: count)
            pointer = UnsafeMutableRawPointer(storage.base)
        } else if argument.isDense {
            storage = TensorStorage(count: count, native: FormattedBuffer(allocating: argument.chosen))
            pointer = storage.native!.pointer
        } else {
            let buffer = FormattedBuffer(allocating: argument.chosen)
            execution.staged.append(buffer)
            storage = TensorStorage(count: count)
            execution.reorderedOutputs.append((buffer, storage))
            pointer = buffer.pointer
        }
        if let start {
            if let existing = start.existingBuffer(in: argument.chosen) {
                // Split across the threads: a residual block's sum copies a whole activation here
                // before every convolution that adds it, while oneDNN's threads wait.
                let byteCount = argument.chosen.byteCount
                parallelRanges(byteCount, grain: 1 << 18) { bytes in
                    (pointer + bytes.lowerBound).copyMemory(from: existing + bytes.lowerBound, byteCount: bytes.count)
                }
            } else {
                start.write(in: argument.chosen, to: pointer, readingPlainAs: argument.plain)
            }
        }
        execution.arguments.append((argument.index, pointer, argument.chosen))
        return storage
    }
}
