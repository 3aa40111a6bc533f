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
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(min(maximumHeaderBytes, data.count - 8)) else {
            throw LoupeIOError("\(name): the header length \(headerLength) runs past the end of the file; it is not a safetensors file or is truncated")
        }
        let headerEnd = 8 + Int(headerLength)
        guard let header = try? JSONSerialization.jsonObject(with: data.subdata(in: 8..<headerEnd)) as? [String: Any] else {
            throw LoupeIOError("\(name): the header is not a JSON object")
        }
        let payloadCount = data.count - headerEnd
        var tensors: [String: Tensor] = [:]
        for (key, value) in header where key != "__metadata__" {
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw LoupeIOError("\(name): tensor '\(key)' has a malformed header entry")
            }
            guard let elementSize = elementSizes[dtype] else {
                throw LoupeIOError("\(name): tensor '\(key)' has dtype \(dtype), which Loupe does not read (F32, F16, BF16, F64, I64, I32, U8)")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= payloadCount else {
                throw LoupeIOError("\(name): tensor '\(key)' claims bytes \(begin)..<\(end) but the data section has \(payloadCount)")
            }
            var count = 1
            for dimension in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
                guard dimension >= 0, !overflow else { throw LoupeIOError("\(name): tensor '\(key)' has an impossible shape \(shape)") }
                count = product
            }
            guard count.multipliedReportingOverflow(by: elementSize) == (end - begin, false) else {
                throw LoupeIOError("\(name): tensor '\(key)' of shape \(shape) and dtype \(dtype) needs \(count * elementSize) bytes but spans \(end - begin)")
            }
            tensors[key] = data.withUnsafeBytes { raw in
                Tensor(shape: shape, scalars: convert(UnsafeRawBufferPointer(rebasing: raw[(headerEnd + begin)..<(headerEnd + end)]),
                                                      dtype: dtype, count: count))
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
            header[key] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + tensor.count * 4]] as [String: Any]
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

    private static let elementSizes = ["F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I64": 8, "I32": 4, "U8": 1, "BOOL": 1]

    private static func convert(_ bytes: UnsafeRawBufferPointer, dtype: String, count: Int) -> [Float] {
        func load<T: FixedWidthInteger>(_: T.Type, _ index: Int) -> T {
            T(littleEndian: bytes.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self))
        }
        switch dtype {
        case "F32": return (0..<count).map { Float(bitPattern: load(UInt32.self, $0)) }
        case "F16": return (0..<count).map { halfToFloat(load(UInt16.self, $0)) }
        case "BF16": return (0..<count).map { Float(bitPattern: UInt32(load(UInt16.self, $0)) << 16) }
        case "F64": return (0..<count).map { Float(Double(bitPattern: load(UInt64.self, $0))) }
        case "I64": return (0..<count).map { Float(load(Int64.self, $0)) }
        case "I32": return (0..<count).map { Float(load(Int32.self, $0)) }
        default: return (0..<count).map { Float(load(UInt8.self, $0)) }
        }
    }
}

/// IEEE 754 half precision to single precision, subnormals and infinities included.
func halfToFloat(_ bits: UInt16) -> Float {
    let sign = UInt32(bits >> 15) << 31
    let exponent = Int((bits >> 10) & 0x1F)
    let mantissa = UInt32(bits & 0x3FF)
    if exponent == 0 {
        let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign == 0 ? magnitude : -magnitude
    }
    if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
    return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
}
