/// The element types weight files store, and their conversion to Float.
enum ElementType {
    case float32, float16, bfloat16, float64, int64, int32, uint8

    /// safetensors' dtype names.
    init?(safetensors name: String) {
        let types: [String: ElementType] = ["F32": .float32, "F16": .float16, "BF16": .bfloat16, "F64": .float64,
                                            "I64": .int64, "I32": .int32, "U8": .uint8, "BOOL": .uint8]
        guard let type = types[name] else { return nil }
        self = type
    }

    /// PyTorch's storage class names in a pickle (`torch.FloatStorage`).
    init?(pytorchStorage name: String) {
        let types: [String: ElementType] = ["torch.FloatStorage": .float32, "torch.HalfStorage": .float16,
                                            "torch.BFloat16Storage": .bfloat16, "torch.DoubleStorage": .float64,
                                            "torch.LongStorage": .int64, "torch.IntStorage": .int32,
                                            "torch.ByteStorage": .uint8, "torch.BoolStorage": .uint8]
        guard let type = types[name] else { return nil }
        self = type
    }

    var size: Int {
        switch self {
        case .float32, .int32: 4
        case .float16, .bfloat16: 2
        case .float64, .int64: 8
        case .uint8: 1
        }
    }

    /// `count` little-endian elements from `bytes` as Floats (the type is decided once, not per element).
    func decode(_ bytes: UnsafeRawBufferPointer, count: Int) -> [Float] {
        func load<T: FixedWidthInteger>(_: T.Type, _ index: Int) -> T {
            T(littleEndian: bytes.loadUnaligned(fromByteOffset: index * MemoryLayout<T>.size, as: T.self))
        }
        switch self {
        case .float32: return (0..<count).map { Float(bitPattern: load(UInt32.self, $0)) }
        case .float16: return (0..<count).map { halfToFloat(load(UInt16.self, $0)) }
        case .bfloat16: return (0..<count).map { Float(bitPattern: UInt32(load(UInt16.self, $0)) << 16) }
        case .float64: return (0..<count).map { Float(Double(bitPattern: load(UInt64.self, $0))) }
        case .int64: return (0..<count).map { Float(load(Int64.self, $0)) }
        case .int32: return (0..<count).map { Float(load(Int32.self, $0)) }
        case .uint8: return (0..<count).map { Float(load(UInt8.self, $0)) }
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
