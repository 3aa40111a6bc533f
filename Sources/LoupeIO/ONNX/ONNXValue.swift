import Foundation
import LoupeTensor

/// An integer tensor of an ONNX graph (int64, int32, bool, ...): shapes, indices and axes.
/// Loupe keeps these exact instead of rounding them through Float.
public struct IntegerTensor: Equatable, Sendable {
    public var shape: [Int]
    public var values: [Int]

    public init(shape: [Int], values: [Int]) {
        precondition(shape.reduce(1, *) == values.count, "IntegerTensor: \(values.count) values for shape \(shape)")
        self.shape = shape
        self.values = values
    }

    init(vector: [Int]) { self.init(shape: [vector.count], values: vector) }
    init(scalar: Int) { self.init(shape: [], values: [scalar]) }
}

/// A value flowing through an ONNX graph: floats (differentiable, on ``Tensor``) or integers.
public enum ONNXValue {
    case float(Tensor)
    case integer(IntegerTensor)

    public var shape: [Int] {
        switch self {
        case .float(let tensor): tensor.shape
        case .integer(let integers): integers.shape
        }
    }

    /// The values as floats (integers converted).
    public var tensor: Tensor {
        switch self {
        case .float(let tensor): tensor
        case .integer(let integers): Tensor(shape: integers.shape, scalars: integers.values.map(Float.init))
        }
    }

    /// The values as integers (floats truncated toward zero, as ONNX's Cast does), or an error
    /// for a non-finite float.
    func integers(_ what: String) throws -> IntegerTensor {
        switch self {
        case .integer(let integers): return integers
        case .float(let tensor):
            let values = try tensor.scalars.map { value -> Int in
                guard value.isFinite, Swift.abs(value) < 9.0e18 else { throw LoupeIOError("\(what): \(value) is not an integer") }
                return Int(value)
            }
            return IntegerTensor(shape: tensor.shape, values: values)
        }
    }
}

/// ONNX's TensorProto.DataType codes Loupe reads.
enum ONNXDataType: Int {
    case float = 1, uint8 = 2, int8 = 3, uint16 = 4, int16 = 5, int32 = 6, int64 = 7, string = 8, bool = 9
    case float16 = 10, double = 11, uint32 = 12, uint64 = 13, bfloat16 = 16

    var isFloatingPoint: Bool { self == .float || self == .float16 || self == .double || self == .bfloat16 }
}

extension ONNXValue {
    /// Decodes an initializer or a Constant's tensor: raw little-endian bytes, the typed fields,
    /// or external data in a file beside the model.
    ///
    /// - Parameters:
    ///   - directory: the model's folder, for external data (which must stay inside it).
    ///   - budget: the most elements Loupe will allocate for it.
    init(_ proto: Onnx_TensorProto, directory: String?, budget: Int) throws {
        let name = proto.name.isEmpty ? "a tensor" : "tensor '\(proto.name)'"
        let shape = proto.dims.map(Int.init)
        guard shape.allSatisfy({ $0 >= 0 && $0 <= budget }) else { throw LoupeIOError("\(name) has an invalid shape \(shape)") }
        guard let count = checkedProduct(shape), count <= budget else {
            throw LoupeIOError("\(name) declares \(shape), more elements than Loupe loads (\(budget))")
        }
        guard let type = ONNXDataType(rawValue: Int(proto.dataType)) else {
            throw LoupeIOError("\(name) has data type \(proto.dataType), which Loupe does not read")
        }
        let raw: Data?
        if proto.dataLocation == .external {
            raw = try ONNXValue.externalData(proto, directory: directory, name: name)
        } else {
            raw = proto.hasRawData ? proto.rawData : nil
        }
        if let raw {
            guard let element = type.elementType else { throw LoupeIOError("\(name): raw data of type \(type) is not supported") }
            guard raw.count == count * element.size else {
                throw LoupeIOError("\(name) holds \(raw.count) bytes; \(shape) of \(type) needs \(count * element.size)")
            }
            self = raw.withUnsafeBytes { bytes in
                element.isInteger || !type.isFloatingPoint
                    ? .integer(IntegerTensor(shape: shape, values: element.decodeIntegers(bytes, count: count)))
                    : .float(element.decodeTensor(bytes, shape: shape))
            }
            return
        }
        switch type {
        case .float:
            guard proto.floatData.count == count else {
                throw LoupeIOError("\(name) has \(proto.floatData.count) floats for shape \(shape)")
            }
            self = .float(Tensor(shape: shape, scalars: proto.floatData))
        case .double:
            guard proto.doubleData.count == count else {
                throw LoupeIOError("\(name) has \(proto.doubleData.count) doubles for shape \(shape)")
            }
            self = .float(Tensor(shape: shape, scalars: proto.doubleData.map(Float.init)))
        case .int64:
            guard proto.int64Data.count == count else {
                throw LoupeIOError("\(name) has \(proto.int64Data.count) int64s for shape \(shape)")
            }
            self = .integer(IntegerTensor(shape: shape, values: proto.int64Data.map(Int.init)))
        case .int32, .int16, .int8, .uint16, .uint8, .bool:
            guard proto.int32Data.count == count else {
                throw LoupeIOError("\(name) has \(proto.int32Data.count) int32s for shape \(shape)")
            }
            self = .integer(IntegerTensor(shape: shape, values: proto.int32Data.map(Int.init)))
        case .float16, .bfloat16:
            guard proto.int32Data.count == count else {
                throw LoupeIOError("\(name) has \(proto.int32Data.count) values for shape \(shape)")
            }
            let bits = proto.int32Data.map { UInt16(truncatingIfNeeded: $0) }
            self = .float(
                Tensor(
                    shape: shape, scalars: bits.map { type == .float16 ? halfToFloat($0) : Float(bitPattern: UInt32($0) << 16) }))
        default:
            throw LoupeIOError("\(name) has data type \(type), which Loupe does not read")
        }
    }

    /// The bytes of an external-data tensor: `location` relative to the model's folder (no
    /// escaping it), `offset` and `length` checked against the file.
    private static func externalData(_ proto: Onnx_TensorProto, directory: String?, name: String) throws -> Data {
        let entries = Dictionary(proto.externalData.map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
        guard let directory, let location = entries["location"], !location.isEmpty else {
            throw LoupeIOError("\(name) keeps its data outside the model, but no location is given")
        }
        guard !location.hasPrefix("/"), !location.split(separator: "/").contains("..") else {
            throw LoupeIOError("\(name): external data location '\(location)' leaves the model's folder")
        }
        let path = (directory as NSString).appendingPathComponent(location)
        let offset = Int(entries["offset"] ?? "0") ?? -1
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        guard let size else { throw LoupeIOError("\(name): external data file '\(path)' cannot be read") }
        let length = entries["length"].flatMap { Int($0) } ?? (size - offset)
        guard offset >= 0, length >= 0, offset <= size, length <= size - offset else {
            throw LoupeIOError("\(name): external data \(offset)+\(length) lies outside '\(path)' (\(size) bytes)")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw LoupeIOError("\(name): cannot open '\(path)'") }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        return try handle.read(upToCount: length) ?? Data()
    }
}

extension ONNXValue {
    /// Reads a serialized TensorProto file (as ONNX's test data sets hold).
    public static func read(tensorFile path: String) throws -> ONNXValue {
        let data = try readFile(path, what: "tensor")
        let proto: Onnx_TensorProto
        do { proto = try Onnx_TensorProto(serializedBytes: data) } catch {
            throw LoupeIOError("\(path) is not a TensorProto (\(error))")
        }
        return try ONNXValue(proto, directory: nil, budget: ONNXGraph.elementBudget)
    }
}

extension ONNXDataType {
    /// How raw bytes of this type decode.
    var elementType: ElementType? {
        switch self {
        case .float: .float32
        case .float16: .float16
        case .bfloat16: .bfloat16
        case .double: .float64
        case .int64: .int64
        case .int32: .int32
        case .int16: .int16
        case .int8: .int8
        case .uint16: .uint16
        case .uint32: .uint32
        case .uint64: .uint64
        case .uint8, .bool: .uint8
        default: nil
        }
    }
}
