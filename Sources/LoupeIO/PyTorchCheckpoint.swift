import Foundation
import LoupeTensor

/// PyTorch's `torch.save` zip format (`.pth`, `.pt`) holding a state_dict, read with Loupe's own
/// strict ``ZipArchive``.
///
/// The archive's `data.pkl` is read by the restricted ``Unpickler``; each tensor's bytes come
/// from `data/<key>`, checked against the sizes the pickle declares before they are copied.
/// A checkpoint that wraps its state_dict (`{"state_dict": ...}` or `{"model": ...}`) is unwrapped.
public enum PyTorchCheckpoint {
    /// The most bytes one storage may declare (larger claims are refused before reading).
    static let maximumStorageBytes = 8 << 30

    /// Reads the tensors of a state_dict saved by `torch.save`.
    public static func read(_ path: String) throws -> [String: Tensor] {
        let archive: ZipArchive
        do {
            archive = try ZipArchive(try readFile(path, what: "weights file"), name: path)
        } catch let error as LoupeIOError where error.description.contains("is not a zip archive") {
            throw LoupeIOError(
                "\(path) is not a PyTorch checkpoint (not a zip archive; legacy pre-1.6 .pth files are not supported, re-save with torch.save)"
            )
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
