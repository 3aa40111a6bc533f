import LoupeTensor
/// The element types weight files store, and their conversion to Float.
enum ElementType {
    case float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8, uint16, uint32, uint64

    /// safetensors' dtype names.
    init?(safetensors name: String) {
        let types: [String: ElementType] = [
            "F32": .float32, "F16": .float16, "BF16": .bfloat16, "F64": .float64,
            "I64": .int64, "I32": .int32, "U8": .uint8, "BOOL": .uint8,
        ]
        guard let type = types[name] else { return nil }
        self = type
    }

    /// PyTorch's storage class names in a pickle (`torch.FloatStorage`).
    init?(pytorchStorage name: String) {
        let types: [String: ElementType] = [
            "torch.FloatStorage": .float32, "torch.HalfStorage": .float16,
            "torch.BFloat16Storage": .bfloat16, "torch.DoubleStorage": .float64,
            "torch.LongStorage": .int64, "torch.IntStorage": .int32,
            "torch.ByteStorage": .uint8, "torch.BoolStorage": .uint8,
        ]
        guard let type = types[name] else { return nil }
        self = type
    }

    var size: Int {
        switch self {
        case .float32, .int32, .uint32: 4
        case .float16, .bfloat16, .int16, .uint16: 2
        case .float64, .int64, .uint64: 8
        case .uint8, .int8: 1
        }
    }

    /// Whether the type holds integers (decoded exactly by ``decodeIntegers(_:count:)``).
    var isInteger: Bool { ![.float32, .float16, .bfloat16, .float64].contains(self) }

    /// `count` little-endian integer elements from `bytes` as Ints.
    func decodeIntegers(_ bytes: UnsafeRawBufferPointer, count: Int) -> [Int] {
        precondition(isInteger, "decodeIntegers: \(self) is not an integer type")
        func load<T: FixedWidthInteger>(_: T.Type, _ index: Int) -> Int {
            Int(T(littleEndian: bytes.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self)))
        }
        switch self {
        case .int64: return (0..<count).map { load(Int64.self, $0) }
        case .int32: return (0..<count).map { load(Int32.self, $0) }
        case .int16: return (0..<count).map { load(Int16.self, $0) }
        case .int8: return (0..<count).map { load(Int8.self, $0) }
        case .uint16: return (0..<count).map { load(UInt16.self, $0) }
        case .uint32: return (0..<count).map { load(UInt32.self, $0) }
        case .uint64:
            return (0..<count).map {
                Int(truncatingIfNeeded: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self)))
            }
        default: return (0..<count).map { load(UInt8.self, $0) }
        }
    }

    /// A tensor of `shape` from as many little-endian elements in `bytes` (which must hold
    /// them), written straight into its storage: one copy of the values, the type decided once.
    func decodeTensor(_ bytes: UnsafeRawBufferPointer, shape: [Int]) -> Tensor {
        func load<T: FixedWidthInteger>(_: T.Type, _ index: Int) -> T {
            T(littleEndian: bytes.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self))
        }
        return Tensor(shape: shape) { values in
            precondition(bytes.count >= values.count * size, "decodeTensor: \(bytes.count) bytes cannot hold \(shape) of \(self)")
            func fill(_ value: (Int) -> Float) {
                for index in values.indices { values[index] = value(index) }
            }
            switch self {
            case .float32:
                #if _endian(little)
                if let target = values.baseAddress, let source = bytes.baseAddress {
                    UnsafeMutableRawPointer(target).copyMemory(from: source, byteCount: values.count * 4)
                }
                #else
                fill { Float(bitPattern: load(UInt32.self, $0)) }
                #endif
            case .float16: fill { halfToFloat(load(UInt16.self, $0)) }
            case .bfloat16: fill { Float(bitPattern: UInt32(load(UInt16.self, $0)) << 16) }
            case .float64: fill { Float(Double(bitPattern: load(UInt64.self, $0))) }
            case .int64: fill { Float(load(Int64.self, $0)) }
            case .int32: fill { Float(load(Int32.self, $0)) }
            case .uint8: fill { Float(load(UInt8.self, $0)) }
            default:
                let integers = decodeIntegers(bytes, count: values.count)
                fill { Float(integers[$0]) }
            }
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
