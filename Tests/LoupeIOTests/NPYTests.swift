import Foundation
import LoupeIO
import LoupeTensor
import Testing

@Suite("NPY")
struct NPYTests {
    @Test func roundTrip() throws {
        let tensor = Tensor(shape: [2, 1, 3], scalars: [1, -2, 3.5, 0, .infinity, -0.25])
        let decoded = try NPY.decode(NPY.encode(tensor))
        #expect(decoded.shape == [2, 1, 3])
        #expect(decoded.scalars == tensor.scalars)
        // The header (magic, version, length, dictionary) is padded to 64 bytes; 6 floats follow.
        #expect((NPY.encode(tensor).count - 6 * 4) % 64 == 0)
        #expect(try NPY.decode(NPY.encode(Tensor(4))).shape == [])
    }

    @Test func refusesBadFiles() {
        #expect(throws: LoupeIOError.self) { try NPY.decode(Data("not numpy".utf8)) }
        var truncated = NPY.encode(Tensor.zeros([10]))
        truncated.removeLast(8)
        #expect(throws: LoupeIOError.self) { try NPY.decode(truncated) }
        // A header claiming a huge shape is refused before allocating.
        var huge = NPY.encode(Tensor.zeros([1]))
        let text = String(decoding: huge, as: UTF8.self).replacingOccurrences(of: "(1,)", with: "(99999999999,)")
        huge = Data(text.utf8)
        #expect(throws: LoupeIOError.self) { try NPY.decode(huge) }
    }

    @Test func missingFileIsAClearError() {
        #expect(throws: LoupeIOError("NumPy file '/nonexistent/x.npy' does not exist")) {
            try NPY.read("/nonexistent/x.npy")
        }
    }
}

@Suite("safetensors")
struct SafeTensorsTests {
    /// A file with one tensor of the given dtype and raw little-endian bytes.
    private func file(dtype: String, shape: [Int], bytes: [UInt8]) -> Data {
        let header = "{\"t\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":[0,\(bytes.count)]}}"
        var data = Data()
        withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(contentsOf: Array(header.utf8))
        data.append(contentsOf: bytes)
        return data
    }

    @Test func halfAndBrainFloatAreConverted() throws {
        // F16: 1.0 = 0x3C00, -2.0 = 0xC000, 65504 = 0x7BFF, smallest subnormal 2⁻²⁴ = 0x0001.
        let half = try SafeTensors.decode(
            file(dtype: "F16", shape: [4], bytes: [0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x01, 0x00]))
        #expect(half["t"]?.scalars == [1, -2, 65504, Float(sign: .plus, exponent: -24, significand: 1)])
        // BF16: the top half of a Float: 1.0 = 0x3F80, -0.5 = 0xBF00.
        let brain = try SafeTensors.decode(file(dtype: "BF16", shape: [2], bytes: [0x80, 0x3F, 0x00, 0xBF]))
        #expect(brain["t"]?.scalars == [1, -0.5])
    }

    @Test func doubleAndIntegerTypesAreConverted() throws {
        func bytes<T>(_ values: [T]) -> [UInt8] { values.withUnsafeBytes { Array($0) } }  // this host is little-endian
        let double = try SafeTensors.decode(file(dtype: "F64", shape: [2], bytes: bytes([1.5, -2.25])))
        #expect(double["t"]?.scalars == [1.5, -2.25])
        let long = try SafeTensors.decode(file(dtype: "I64", shape: [2], bytes: bytes([Int64(3), -7])))
        #expect(long["t"]?.scalars == [3, -7])
        let short = try SafeTensors.decode(file(dtype: "I32", shape: [2, 1], bytes: bytes([Int32(-2), 300])))
        #expect(short["t"]?.scalars == [-2, 300] && short["t"]?.shape == [2, 1])
        let byte = try SafeTensors.decode(file(dtype: "U8", shape: [3], bytes: [0, 7, 255]))
        #expect(byte["t"]?.scalars == [0, 7, 255])
    }

    @Test func sizesAreCheckedAgainstTheData() {
        // Shape [4] of F32 needs 16 bytes; 8 are given.
        #expect(throws: LoupeIOError.self) {
            try SafeTensors.decode(file(dtype: "F32", shape: [4], bytes: Array(repeating: 0, count: 8)))
        }
        #expect(throws: LoupeIOError.self) { try SafeTensors.decode(file(dtype: "Q4", shape: [1], bytes: [0])) }
    }

    @Test func writeThenReadIsExact() throws {
        let tensors = ["b": Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]), "a": Tensor(shape: [3], scalars: [-1, 0.5, 7])]
        let decoded = try SafeTensors.decode(SafeTensors.encode(tensors, metadata: ["k": "v"]))
        #expect(decoded["a"]?.scalars == [-1, 0.5, 7] && decoded["b"]?.shape == [2, 2])
    }
}
