import CDNNL

extension DNNL {
    /// Row-major single-precision GEMM: C = α·op(A)·op(B) + β·C with op(A) M×K, op(B) K×N.
    static func sgemm(
        transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            for row in 0..<m { for column in 0..<n { c[row * ldc + column] *= beta } }
            return
        }
        let no = CChar(UInt8(ascii: "N")), yes = CChar(UInt8(ascii: "T"))
        checkDNNL(
            dnnl_sgemm(
                transposeA ? yes : no, transposeB ? yes : no, Int64(m), Int64(n), Int64(k), alpha,
                a, Int64(lda), b, Int64(ldb), beta, c, Int64(ldc)),
            "multiplying \(m)×\(k) by \(k)×\(n) matrices")
    }
}
