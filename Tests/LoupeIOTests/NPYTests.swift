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
