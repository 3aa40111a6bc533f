import Foundation
import LoupeTensor

/// The safetensors format: an 8-byte header length, a JSON header, then raw little-endian data.
///
/// Reads F32, F16, BF16, F64 and integer tensors (converted to Float); writes F32. Every offset
/// and size in the header is checked against the file before anything is allocated.
public enum SafeTensors {
    /// The largest JSON header accepted (the format's reference reader uses the same bound).
    static let maximumHeaderBytes = 100 * 1024 * 1024

    /// Decodes a safetensors file held in memory.
    public static func decode(_ data: Data, name: String = "safetensors file") throws -> [String: Tensor] {
        guard data.count >= 8 else { throw LoupeIOError("\(name) is too short to be a safetensors file") }
        let headerLength = littleEndian(data.prefix(8))
        guard headerLength <= UInt64(min(maximumHeaderBytes, data.count - 8)) else {
            throw LoupeIOError(
                "\(name): the header length \(headerLength) runs past the end of the file; it is not a safetensors file or is truncated"
            )
        }
        let headerEnd = 8 + Int(headerLength)
        guard let header = try? JSONSerialization.jsonObject(with: data.subdata(in: 8..<headerEnd)) as? [String: Any] else {
            throw LoupeIOError("\(name): the header is not a JSON object")
        }
        let payloadCount = data.count - headerEnd
        var tensors: [String: Tensor] = [:]
        for (key, value) in header where key != "__metadata__" {
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else {
                throw LoupeIOError("\(name): tensor '\(key)' has a malformed header entry")
            }
            guard let type = ElementType(safetensors: dtype) else {
                throw LoupeIOError(
                    "\(name): tensor '\(key)' has dtype \(dtype), which Loupe does not read (F32, F16, BF16, F64, I64, I32, U8)")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= payloadCount else {
                throw LoupeIOError(
                    "\(name): tensor '\(key)' claims bytes \(begin)..<\(end) but the data section has \(payloadCount)")
            }
            var count = 1
            for dimension in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                guard dimension >= 0, !overflow else {
                    throw LoupeIOError("\(name): tensor '\(key)' has an impossible shape \(shape)")
                }
                count = product
            }
            guard count.multipliedReportingOverflow(by: type.size) == (end - begin, false) else {
                throw LoupeIOError(
                    "\(name): tensor '\(key)' of shape \(shape) and dtype \(dtype) needs \(count * type.size) bytes but spans \(end - begin)"
                )
            }
            tensors[key] = data.withUnsafeBytes { raw in
                type.decodeTensor(UnsafeRawBufferPointer(rebasing: raw[(headerEnd + begin)..<(headerEnd + end)]), shape: shape)
            }
        }
        return tensors
    }

    /// Reads a safetensors file.
    public static func read(_ path: String) throws -> [String: Tensor] {
        try decode(readFile(path, what: "weights file"), name: path)
    }

    /// Encodes tensors as F32 safetensors, keys sorted, header padded to 8 bytes.
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) throws -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        let keys = tensors.keys.sorted()
        for key in keys {
            let tensor = tensors[key]!
            header[key] =
                ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + tensor.count * 4]] as [String: Any]
            offset += tensor.count * 4
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        json.append(contentsOf: Array(repeating: UInt8(ascii: " "), count: (8 - json.count % 8) % 8))
        var data = Data(capacity: 8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for key in keys {
            tensors[key]!.withUnsafeBufferPointer { values in
                values.withMemoryRebound(to: UInt8.self) { data.append(contentsOf: $0) }  // little-endian hosts
            }
        }
        return data
    }

    /// Writes tensors as a safetensors file, atomically.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to path: String) throws {
        try writeFileAtomically(encode(tensors, metadata: metadata), to: path)
    }
}
