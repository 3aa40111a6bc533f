import Foundation
import LoupeTensor

/// NumPy's `.npy` format: read and write float arrays.
///
/// Reads little-endian `float32` and `float64` (converted to Float) arrays in C order; writes
/// `float32`. The declared shape is checked against the file size before anything is allocated.
public enum NPY {
    /// Decodes an `.npy` file held in memory.
    public static func decode(_ data: Data, name: String = "array") throws -> Tensor {
        let bytes = [UInt8](data)
        let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw LoupeIOError("\(name) is not a NumPy .npy file (bad magic bytes)")
        }
        let major = bytes[6]
        let headerLengthSize = major == 1 ? 2 : 4
        guard major >= 1 && major <= 3, bytes.count >= 8 + headerLengthSize else {
            throw LoupeIOError("\(name): unsupported .npy version \(major)")
        }
        let headerLength = Int(littleEndian(bytes[8..<(8 + headerLengthSize)]))
        let headerStart = 8 + headerLengthSize
        guard headerStart + headerLength <= bytes.count,
            let header = String(bytes: bytes[headerStart..<(headerStart + headerLength)], encoding: .utf8)
        else {
            throw LoupeIOError("\(name): the .npy header is truncated or not text")
        }
        let descriptorText = try field("descr", in: header, name: name)
        let descriptor = descriptorText.prefix(while: { $0 != "," && $0 != "}" }).trimmingCharacters(in: .whitespaces)
        let fortranOrder = try field("fortran_order", in: header, name: name)
        let shapeText = try field("shape", in: header, name: name)
        guard fortranOrder.hasPrefix("False") else {
            throw LoupeIOError("\(name): Fortran-ordered arrays are not supported; save with np.ascontiguousarray")
        }
        let elementSize: Int
        switch descriptor {
        case "'<f4'", "'float32'": elementSize = 4
        case "'<f8'", "'float64'": elementSize = 8
        default:
            throw LoupeIOError("\(name): dtype \(descriptor) is not supported; save the array as float32")
        }
        let shape = try parseShape(shapeText, name: name)
        let dataStart = headerStart + headerLength
        var count = 1
        for dimension in shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard !overflow, product <= (bytes.count - dataStart) / elementSize else {
                throw LoupeIOError("\(name): shape \(shape) needs more data than the file's \(bytes.count - dataStart) bytes")
            }
            count = product
        }
        guard bytes.count - dataStart == count * elementSize else {
            throw LoupeIOError(
                "\(name): shape \(shape) needs \(count * elementSize) bytes of data but the file has \(bytes.count - dataStart)")
        }
        let values: [Float] = bytes.withUnsafeBytes { raw in
            let payload = UnsafeRawBufferPointer(rebasing: raw[dataStart...])
            if elementSize == 4 {
                return (0..<count).map {
                    Float(bitPattern: UInt32(littleEndian: payload.loadUnaligned(fromByteOffset: $0 * 4, as: UInt32.self)))
                }
            }
            return (0..<count).map {
                Float(Double(bitPattern: UInt64(littleEndian: payload.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self))))
            }
        }
        return Tensor(shape: shape, scalars: values)
    }

    /// Reads an `.npy` file.
    public static func read(_ path: String) throws -> Tensor {
        try decode(readFile(path, what: "NumPy file"), name: path)
    }

    /// Encodes a tensor as a version 1.0 `.npy` file of little-endian float32.
    public static func encode(_ tensor: Tensor) -> Data {
        let shapeText =
            tensor.shape.isEmpty
            ? "()"
            : tensor.shape.count == 1
                ? "(\(tensor.shape[0]),)"
                : "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        // Magic (6) + version (2) + length (2) + header + newline, padded to 64 bytes.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        data.append(contentsOf: Array(header.utf8))
        tensor.withUnsafeBufferPointer { values in
            for value in values {
                let bits = value.bitPattern.littleEndian
                withUnsafeBytes(of: bits) { data.append(contentsOf: $0) }
            }
        }
        return data
    }

    /// Writes a tensor as an `.npy` file, atomically.
    public static func write(_ tensor: Tensor, to path: String) throws {
        try writeFileAtomically(encode(tensor), to: path)
    }

    private static func field(_ key: String, in header: String, name: String) throws -> String {
        guard let range = header.range(of: "'\(key)':") else {
            throw LoupeIOError("\(name): the .npy header has no '\(key)' entry")
        }
        return header[range.upperBound...].trimmingCharacters(in: .whitespaces)
    }

    private static func parseShape(_ text: String, name: String) throws -> [Int] {
        guard text.hasPrefix("("), let close = text.firstIndex(of: ")") else {
            throw LoupeIOError("\(name): the .npy shape entry is malformed")
        }
        let inside = text[text.index(after: text.startIndex)..<close]
        let parts = inside.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return try parts.map { part in
            guard let dimension = Int(part), dimension >= 0 else {
                throw LoupeIOError("\(name): the .npy shape has a bad dimension '\(part)'")
            }
            return dimension
        }
    }
}
