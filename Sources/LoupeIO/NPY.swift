import Foundation
import LoupeTensor

/// NumPy's `.npy` format: read and write float arrays.
///
/// Reads little-endian `float32` and `float64` (converted to Float) arrays in C order; writes
/// `float32`. The declared shape is checked against the file size before anything is allocated.
/// Datasets (``DataSource``) also read bytes, integers and pickled object arrays.
public enum NPY {
    /// Decodes an `.npy` file of floats held in memory.
    public static func decode(_ data: Data, name: String = "array") throws -> Tensor {
        let array = try decodeArray(data, name: name)
        guard case .float(let values) = array.values else {
            throw LoupeIOError("\(name): dtype \(array.descriptor) is not supported; save the array as float32")
        }
        return Tensor(shape: array.shape, scalars: values)
    }

    /// An array as an `.npy` file holds it: floats, integers, bytes, or (pickled) objects.
    struct Array {
        enum Values {
            case float([Float])
            case integer([Int])
            case byte([UInt8])
            case objects([Unpickler.Value])
        }
        let shape: [Int]
        let descriptor: String
        let values: Values

        var count: Int { shape.reduce(1, *) }
    }

    /// The integer dtypes read, by descriptor: bytes per element and whether signed.
    private static let integerTypes: [String: (size: Int, signed: Bool)] = [
        "|i1": (1, true), "<i2": (2, true), "<i4": (4, true), "<i8": (8, true),
        "<u2": (2, false), "<u4": (4, false), "|b1": (1, false),
    ]

    /// Decodes any array Loupe reads: little-endian floats (`<f4`, `<f8`) and integers, bytes
    /// (`|u1`), and object arrays (`|O`), whose pickle is read with
    /// ``Unpickler/AllowList/numpyObjectArray`` only.
    static func decodeArray(_ data: Data, name: String) throws -> Array {
        let bytes = [UInt8](data)
        let magic: [UInt8] = [0x93] + Swift.Array("NUMPY".utf8)
        guard bytes.count >= 10, Swift.Array(bytes[0..<6]) == magic else {
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
        let quoted = descriptorText.prefix(while: { $0 != "," && $0 != "}" }).trimmingCharacters(in: .whitespaces)
        let descriptor = quoted.trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
        let fortranOrder = try field("fortran_order", in: header, name: name)
        let shapeText = try field("shape", in: header, name: name)
        guard fortranOrder.hasPrefix("False") else {
            throw LoupeIOError("\(name): Fortran-ordered arrays are not supported; save with np.ascontiguousarray")
        }
        let shape = try parseShape(shapeText, name: name)
        let dataStart = headerStart + headerLength
        guard let count = checkedProduct(shape) else { throw LoupeIOError("\(name): shape \(shape) is too large") }
        if descriptor == "|O" {
            var unpickler = Unpickler(bytes, name: name, position: dataStart, allowList: .numpyObjectArray)
            guard case .array(let array) = try unpickler.load(), array.shape == shape else {
                throw LoupeIOError("\(name): the object array's pickle does not hold an array of shape \(shape)")
            }
            return Array(shape: shape, descriptor: descriptor, values: .objects(array.objects))
        }
        let elementSize: Int
        switch descriptor {
        case "<f4", "float32": elementSize = 4
        case "<f8", "float64": elementSize = 8
        case "|u1", "uint8": elementSize = 1
        default:
            guard let integer = integerTypes[descriptor] else {
                throw LoupeIOError(
                    "\(name): dtype \(quoted) is not supported; save floats as float32, images as uint8, labels as int64")
            }
            elementSize = integer.size
        }
        guard count <= (bytes.count - dataStart) / elementSize, bytes.count - dataStart == count * elementSize else {
            throw LoupeIOError(
                "\(name): shape \(shape) needs \(count.multipliedReportingOverflow(by: elementSize).partialValue) bytes of data but the file has \(bytes.count - dataStart)"
            )
        }
        let values: Array.Values = bytes.withUnsafeBytes { raw in
            let payload = UnsafeRawBufferPointer(rebasing: raw[dataStart...])
            func load<Bits: FixedWidthInteger>(_ index: Int, as type: Bits.Type) -> Bits {
                Bits(littleEndian: payload.loadUnaligned(fromByteOffset: index * MemoryLayout<Bits>.size, as: Bits.self))
            }
            switch descriptor {
            case "<f4", "float32": return .float((0..<count).map { Float(bitPattern: load($0, as: UInt32.self)) })
            case "<f8", "float64": return .float((0..<count).map { Float(Double(bitPattern: load($0, as: UInt64.self))) })
            case "|u1", "uint8": return .byte(Swift.Array(payload))
            case "|i1": return .integer((0..<count).map { Int(Int8(bitPattern: payload[$0])) })
            case "<i2": return .integer((0..<count).map { Int(load($0, as: Int16.self)) })
            case "<i4": return .integer((0..<count).map { Int(load($0, as: Int32.self)) })
            case "<i8": return .integer((0..<count).map { Int(load($0, as: Int64.self)) })
            case "<u2": return .integer((0..<count).map { Int(load($0, as: UInt16.self)) })
            case "<u4": return .integer((0..<count).map { Int(load($0, as: UInt32.self)) })
            default: return .integer(payload.map { Int($0) })  // |b1
            }
        }
        return Array(shape: shape, descriptor: descriptor, values: values)
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
        var data = Data([0x93] + Swift.Array("NUMPY".utf8) + [1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        data.append(contentsOf: Swift.Array(header.utf8))
        tensor.withUnsafeBufferPointer { values in
            #if _endian(little)
            data.append(values)
            #else
            for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
            #endif
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
