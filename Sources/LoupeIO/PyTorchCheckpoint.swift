import Foundation
import LoupeTensor

/// PyTorch's `torch.save` files (`.pth`, `.pt`) holding a state_dict: the zip format, read with
/// Loupe's own strict ``ZipArchive``, and the legacy format of PyTorch before 1.6 (and of
/// `_use_new_zipfile_serialization=False`), a stream of pickles followed by the raw storages.
///
/// The state_dict's pickle is read by the restricted ``Unpickler``, with the same allow-list in
/// both formats; each tensor's bytes (the zip's `data/<key>`, or the legacy stream's storage of
/// that key) are checked against the sizes the pickle declares before they are copied. A
/// checkpoint that wraps its state_dict (`{"state_dict": ...}` or `{"model": ...}`) is unwrapped.
public enum PyTorchCheckpoint {
    /// The most bytes one storage may declare (larger claims are refused before reading).
    static let maximumStorageBytes = 8 << 30

    /// Reads the tensors of a state_dict saved by `torch.save`.
    public static func read(_ path: String) throws -> [String: Tensor] {
        let data = try readFile(path, what: "weights file")
        if data.starts(with: legacyMagic) { return try readLegacy([UInt8](data), path: path) }
        let archive: ZipArchive
        do {
            archive = try ZipArchive(data, name: path)
        } catch let error as LoupeIOError where error.description.contains("is not a zip archive") {
            throw LoupeIOError(
                "\(path) is not a PyTorch checkpoint (neither torch.save's zip format nor its legacy one)")
        }
        guard let pickleEntry = archive.entries.first(where: { $0.path.hasSuffix("/data.pkl") || $0.path == "data.pkl" }) else {
            throw LoupeIOError("\(path) is a zip archive without data.pkl, not a PyTorch checkpoint")
        }
        let prefix = String(pickleEntry.path.dropLast("data.pkl".count))
        let entriesByPath = Dictionary(archive.entries.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        var unpickler = Unpickler(try contents(of: pickleEntry, in: archive, path: path), name: path)
        let root = try unpickler.load()
        var tensors: [String: Tensor] = [:]
        var storages: [String: [UInt8]] = [:]
        for (key, reference) in try stateDictEntries(root, path: path) {
            let storage = reference.storage
            if storages[storage.key] == nil {
                guard let entry = entriesByPath["\(prefix)data/\(storage.key)"] else {
                    throw LoupeIOError("\(path): tensor '\(key)' refers to storage \(storage.key), which the archive lacks")
                }
                storages[storage.key] = try contents(of: entry, in: archive, path: path)
            }
            tensors[key] = try tensor(reference, bytes: storages[storage.key]!, key: key, path: path)
        }
        return tensors
    }

    /// The legacy format's first pickle, protocol 2: its magic number 0x1950a86a20f9469cfc6c
    /// (LONG1 of ten bytes, little-endian), then STOP.
    static let legacyMagic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]

    /// The legacy stream: the magic number, the protocol version 1001, the system's byte order
    /// and type sizes, the state_dict, the list of storage keys, then for each key in that order
    /// its element count (int64, little-endian) and its raw bytes.
    private static func readLegacy(_ bytes: [UInt8], path: String) throws -> [String: Tensor] {
        var position = legacyMagic.count
        func nextPickle() throws -> (Unpickler.Value, Unpickler) {
            var unpickler = Unpickler(bytes, name: path, position: position)
            let value = try unpickler.load()
            position = unpickler.position
            return (value, unpickler)
        }
        guard case (.int(1001), _) = try nextPickle() else {
            throw LoupeIOError("\(path): a legacy PyTorch checkpoint of an unknown protocol version (Loupe reads 1001)")
        }
        guard case (.dict(let info), _) = try nextPickle(),
            info.entries.contains(where: { if case (.string("little_endian"), .bool(true)) = $0 { true } else { false } })
        else {
            throw LoupeIOError("\(path): a legacy PyTorch checkpoint saved big-endian, or without its system information")
        }
        let (root, objects) = try nextPickle()
        guard case (.list(let keyList), _) = try nextPickle() else {
            throw LoupeIOError("\(path): the legacy checkpoint's list of storages is missing")
        }
        var storages: [String: [UInt8]] = [:]
        for item in keyList.items {
            guard case .string(let key) = item, let storage = objects.storages[key], storages[key] == nil else {
                throw LoupeIOError("\(path): the legacy checkpoint lists a storage its state_dict does not name, or one twice")
            }
            guard let type = ElementType(pytorchStorage: storage.dtype) else {
                throw LoupeIOError("\(path): storage \(key) has type \(storage.dtype), which Loupe does not read")
            }
            guard bytes.count - position >= 8 else {
                throw LoupeIOError("\(path): the legacy checkpoint ends inside storage \(key)")
            }
            let declared = littleEndian(bytes[position..<position + 8])
            position += 8
            guard declared == UInt64(storage.count), let size = checkedProduct([storage.count, type.size]),
                size <= maximumStorageBytes, size <= bytes.count - position
            else {
                throw LoupeIOError(
                    "\(path): storage \(key) holds \(declared) values where the state_dict says \(storage.count), or runs past the file"
                )
            }
            storages[key] = Array(bytes[position..<position + size])
            position += size
        }
        var tensors: [String: Tensor] = [:]
        for (key, reference) in try stateDictEntries(root, path: path) {
            guard let stored = storages[reference.storage.key] else {
                throw LoupeIOError("\(path): tensor '\(key)' refers to storage \(reference.storage.key), which the file lacks")
            }
            tensors[key] = try tensor(reference, bytes: stored, key: key, path: path)
        }
        return tensors
    }

    private static func contents(of entry: ZipArchive.Entry, in archive: ZipArchive, path: String) throws -> [UInt8] {
        [UInt8](try archive.contents(of: entry, limit: maximumStorageBytes))
    }

    /// The (key, tensor) pairs of the state_dict at the pickle's root.
    private static func stateDictEntries(_ root: Unpickler.Value, path: String) throws -> [(String, Unpickler.TensorReference)] {
        guard case .dict(let dictionary) = root else {
            throw LoupeIOError("\(path): the checkpoint holds no dictionary; save model.state_dict(), not the model")
        }
        for wrapper in ["state_dict", "model"] {
            if let inner = dictionary.entries.first(where: { if case .string(wrapper) = $0.key { true } else { false } }),
                case .dict = inner.value
            {
                return try stateDictEntries(inner.value, path: path)
            }
        }
        return try dictionary.entries.compactMap { key, value in
            guard case .string(let name) = key else { throw LoupeIOError("\(path): a state_dict key is not a string") }
            switch value {
            case .tensor(let reference): return (name, reference)
            default: return nil  // non-tensor entries (epoch counters, optimizer settings) are skipped
            }
        }
    }

    private static func tensor(_ reference: Unpickler.TensorReference, bytes: [UInt8], key: String, path: String) throws -> Tensor
    {
        let storage = reference.storage
        guard let type = ElementType(pytorchStorage: storage.dtype) else {
            throw LoupeIOError("\(path): tensor '\(key)' has storage type \(storage.dtype), which Loupe does not read")
        }
        guard bytes.count == storage.count * type.size else {
            throw LoupeIOError("\(path): storage \(storage.key) should hold \(storage.count) values but has \(bytes.count) bytes")
        }
        // The last element the strided view touches must lie inside the storage.
        // (Sizes and strides come from the file: every step is checked for overflow.)
        var last = reference.offset
        for (extent, stride) in zip(reference.shape, reference.strides) {
            guard extent >= 0, stride >= 0 else { throw LoupeIOError("\(path): tensor '\(key)' has a negative size or stride") }
            guard extent > 0 else { continue }
            guard let reach = checkedProduct([extent - 1, stride]), case let (sum, false) = last.addingReportingOverflow(reach)
            else {
                throw LoupeIOError("\(path): tensor '\(key)' has sizes or strides too large to address")
            }
            last = sum
        }
        // Views may repeat elements (stride 0), but not into an allocation far beyond the file.
        guard let count = checkedProduct(reference.shape), count <= Swift.max(storage.count, 1 << 24) else {
            throw LoupeIOError("\(path): tensor '\(key)' of shape \(reference.shape) is larger than its storage allows")
        }
        guard reference.offset >= 0, count == 0 || last < storage.count else {
            throw LoupeIOError(
                "\(path): tensor '\(key)' of shape \(reference.shape) reaches past its storage of \(storage.count) values")
        }
        return bytes.withUnsafeBytes { type.decodeTensor($0, shape: [storage.count]) }
            .strided(shape: reference.shape, strides: reference.strides, offset: reference.offset)
    }
}
