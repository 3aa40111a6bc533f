import CAtomics
import CDNNL

/// Values in one oneDNN memory format: a buffer, its format and its size.
struct FormattedBuffer {
    let format: MemoryFormat
    let pointer: UnsafeMutableRawPointer
    var byteCount: Int { format.byteCount }

    /// A new pooled buffer for values in `format`.
    init(allocating format: MemoryFormat) {
        self.format = format
        pointer = BufferPool.shared.allocate(byteCount: Swift.max(format.byteCount, 64))
    }

    func release() {
        BufferPool.shared.release(pointer, byteCount: Swift.max(byteCount, 64))
    }
}

// The oneDNN side of a tensor's storage: the plain buffer made from a native layout, copies in
// other primitives' formats, and the values derived from these (see docs/ARCHITECTURE.md, "The
// engine's layout contract"). Every member here runs under DNNLContext's lock, or takes it.
extension TensorStorage {
    /// ``base`` for a caller that holds ``DNNLContext``'s lock.
    func plainWhileLocked() -> UnsafeMutablePointer<Float> {
        if let plain = loupe_atomic_load_pointer(plainSlot) { return plain.assumingMemoryBound(to: Float.self) }
        let plain = BufferPool.shared.allocate(byteCount: plainByteCount)
        let native = native!
        DNNLContext.shared.reorder(from: native.format, native.pointer, to: plainDescriptor(native.format.dimensions), plain)
        loupe_atomic_store_pointer(plainSlot, plain)
        return plain.assumingMemoryBound(to: Float.self)
    }

    /// The values in `format`, or `nil` when no buffer holds them so yet (caller holds
    /// ``DNNLContext``'s lock).
    func existingBuffer(in format: MemoryFormat) -> UnsafeMutableRawPointer? {
        if let native, native.format == format { return native.pointer }
        return formattedCopies[format]?.pointer
    }

    /// The copy of these values in `format`, made by a reorder from the plain values the first
    /// time and kept (caller holds ``DNNLContext``'s lock).
    func formattedCopy(in format: MemoryFormat) -> UnsafeMutableRawPointer {
        if let existing = existingBuffer(in: format) { return existing }
        let copy = FormattedBuffer(allocating: format)
        write(in: format, to: copy.pointer, readingPlainAs: plainDescriptor(format.dimensions))
        formattedCopies[format] = copy
        return copy.pointer
    }

    /// Writes these values in `format` to `destination` by one reorder: from the native buffer
    /// while no plain one exists and the dimensions agree (a blocked activation going to a
    /// channels-last primitive), else from the plain values read as `plain` (a grouped weight's
    /// `[G, O/G, ...]`) (caller holds ``DNNLContext``'s lock).
    func write(in format: MemoryFormat, to destination: UnsafeMutableRawPointer, readingPlainAs plain: MemoryFormat) {
        if loupe_atomic_load_pointer(plainSlot) == nil, let native, native.format.dimensions == format.dimensions {
            DNNLContext.shared.reorder(from: native.format, native.pointer, to: format, destination)
        } else {
            DNNLContext.shared.reorder(from: plain, plainWhileLocked(), to: format, destination)
        }
    }

    /// The values in `layout` (a native layout of some storage of the same shape), for an
    /// elementwise kernel: this storage's own native buffer, or a copy kept with it.
    func elementwiseBuffer(in layout: FormattedBuffer) -> UnsafeMutablePointer<Float> {
        if let native, native.format == layout.format { return native.pointer.assumingMemoryBound(to: Float.self) }
        return DNNLContext.shared.locked { formattedCopy(in: layout.format).assumingMemoryBound(to: Float.self) }
    }

    /// The values named `name` computed from these by `make` the first time, then kept. When
    /// `family` is given, making them drops the kept values whose names start with it (one
    /// folded weight per weight, whatever scales came before).
    func derived(_ name: String, family: String? = nil, make: () -> TensorStorage) -> TensorStorage {
        if let kept = DNNLContext.shared.locked({ derivedValues[name] }) { return kept }
        let made = make()
        return DNNLContext.shared.locked {
            if let kept = derivedValues[name] { return kept }  // another thread was first
            if let family { derivedValues = derivedValues.filter { !$0.key.hasPrefix(family) } }
            derivedValues[name] = made
            return made
        }
    }

    /// Records that these values (a weight) run at `geometry`, and says whether they had before
    /// (caller holds ``DNNLContext``'s lock).
    func recordInferenceShape(_ geometry: ConvolutionGeometry) -> Bool {
        !inferenceShapes.insert(geometry).inserted
    }
}
