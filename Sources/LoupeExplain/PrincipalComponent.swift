import Foundation
import LoupeTensor

/// Each sample's positions projected on the first principal component of its channels:
/// `[N, C, h, w]` → `[N, h, w]`, as pytorch-grad-cam's `get_2d_projection` computes it. The
/// positions are the rows and the channels the columns of a matrix `X`; each column is centred on
/// its mean, and the projection is `X·v`, with `v` the first right singular vector of the centred
/// `X`. NaNs count as zeros.
///
/// A singular vector's sign is arbitrary (`−v` serves as well), so Loupe fixes it: the projection's
/// value of largest magnitude is positive (Seg-Eigen-CAM's sign correction, Chung & Ying, 2025).
/// References compared with it are given the same sign first.
public func firstPrincipalProjection(_ values: Tensor) -> Tensor {
    precondition(values.rank == 4, "firstPrincipalProjection: values must be [N, C, h, w]; got \(values.shape)")
    let (count, channels, positions) = (values.shape[0], values.shape[1], values.shape[2] * values.shape[3])
    let scalars = values.scalars
    var projections: [Float] = []
    projections.reserveCapacity(count * positions)
    for sample in 0..<count {
        // Centred, in Double: x[p * channels + c].
        var x = [Double](repeating: 0, count: positions * channels)
        for channel in 0..<channels {
            let start = (sample * channels + channel) * positions
            var mean = 0.0
            for position in 0..<positions {
                let value = Double(scalars[start + position])
                x[position * channels + channel] = value.isNaN ? 0 : value
                mean += x[position * channels + channel]
            }
            mean /= Double(positions)
            for position in 0..<positions { x[position * channels + channel] -= mean }
        }
        var projection = projected(x, rows: positions, columns: channels)
        if let largest = projection.max(by: { abs($0) < abs($1) }), largest < 0 { projection = projection.map { -$0 } }
        projections += projection.map(Float.init)
    }
    return Tensor(shape: [count, values.shape[2], values.shape[3]], scalars: projections)
}

/// `X·v` for the first right singular vector `v` of `X` (`rows × columns`, row-major), from the
/// eigenvectors of the smaller Gram matrix: `XᵀX` gives `v`; `XXᵀ` gives `u` with `X·v = σ·u`.
private func projected(_ x: [Double], rows: Int, columns: Int) -> [Double] {
    if columns < rows {
        var gram = [Double](repeating: 0, count: columns * columns)
        for row in 0..<rows {
            let base = row * columns
            for i in 0..<columns where x[base + i] != 0 {
                let xi = x[base + i]
                for j in i..<columns { gram[i * columns + j] += xi * x[base + j] }
            }
        }
        for i in 0..<columns { for j in 0..<i { gram[i * columns + j] = gram[j * columns + i] } }
        let (_, v) = topEigenvector(gram, size: columns)
        return (0..<rows).map { row in (0..<columns).reduce(0.0) { $0 + x[row * columns + $1] * v[$1] } }
    }
    var gram = [Double](repeating: 0, count: rows * rows)
    for i in 0..<rows {
        for j in i..<rows {
            var sum = 0.0
            for k in 0..<columns { sum += x[i * columns + k] * x[j * columns + k] }
            (gram[i * rows + j], gram[j * rows + i]) = (sum, sum)
        }
    }
    let (value, u) = topEigenvector(gram, size: rows)
    return u.map { $0 * max(value, 0).squareRoot() }
}

/// The largest eigenvalue of a symmetric positive semi-definite matrix (`size × size`,
/// row-major) and a unit eigenvector for it. Small matrices go to ``jacobiTopEigenvector``;
/// larger ones to subspace iteration on 16 vectors with a Rayleigh–Ritz step each round, which
/// stops once the top Ritz pair's residual `‖G·v − θ·v‖` is below 10⁻¹³·θ (so the vector is
/// within that over the eigenvalue gap), and falls back to Jacobi if it has not after 300 rounds.
func topEigenvector(_ matrix: [Double], size n: Int) -> (value: Double, vector: [Double]) {
    let width = 16
    guard n > 2 * width else { return jacobiTopEigenvector(matrix, size: n) }
    func multiply(_ vector: [Double]) -> [Double] {
        (0..<n).map { row in (0..<n).reduce(0.0) { $0 + matrix[row * n + $1] * vector[$1] } }
    }
    // A fixed pseudo-random start, so that the result does not vary from run to run.
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    var basis = (0..<width).map { _ in
        (0..<n).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53) - 0.5
        }
    }
    let scale = max((0..<n).map { matrix[$0 * n + $0] }.max() ?? 0, .leastNormalMagnitude)
    for _ in 0..<300 {
        basis = orthonormalized(basis.map(multiply))
        guard basis.count == width else { break }  // the matrix has rank below 16: Jacobi
        let images = basis.map(multiply)
        var small = [Double](repeating: 0, count: width * width)
        for i in 0..<width {
            for j in i..<width {
                let value = zip(basis[i], images[j]).reduce(0.0) { $0 + $1.0 * $1.1 }
                (small[i * width + j], small[j * width + i]) = (value, value)
            }
        }
        let (theta, coefficients) = jacobiTopEigenvector(small, size: width)
        var vector = [Double](repeating: 0, count: n), image = [Double](repeating: 0, count: n)
        for (j, coefficient) in coefficients.enumerated() {
            for row in 0..<n {
                vector[row] += coefficient * basis[j][row]
                image[row] += coefficient * images[j][row]
            }
        }
        let residual = zip(image, vector).reduce(0.0) { $0 + ($1.0 - theta * $1.1) * ($1.0 - theta * $1.1) }.squareRoot()
        if residual <= 1e-13 * max(theta, scale * 1e-300) { return (theta, vector) }
    }
    return jacobiTopEigenvector(matrix, size: n)
}

/// The vectors made orthonormal by modified Gram–Schmidt, dropping any that depend on the others.
private func orthonormalized(_ vectors: [[Double]]) -> [[Double]] {
    var result: [[Double]] = []
    for var vector in vectors {
        let original = vector.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
        for other in result {
            let projection = zip(vector, other).reduce(0.0) { $0 + $1.0 * $1.1 }
            for index in vector.indices { vector[index] -= projection * other[index] }
        }
        let norm = vector.reduce(0.0) { $0 + $1 * $1 }.squareRoot()
        guard norm > 1e-10 * original, norm > 0 else { continue }
        result.append(vector.map { $0 / norm })
    }
    return result
}

/// The largest eigenvalue of a symmetric matrix (`size × size`, row-major) and a unit eigenvector
/// for it, by cyclic Jacobi rotations until the off-diagonal part is negligible.
func jacobiTopEigenvector(_ matrix: [Double], size n: Int) -> (value: Double, vector: [Double]) {
    var a = matrix
    var v = [Double](repeating: 0, count: n * n)
    for i in 0..<n { v[i * n + i] = 1 }
    let total = a.reduce(0) { $0 + $1 * $1 }
    for _ in 0..<60 {
        var off = 0.0
        for p in 0..<n { for q in (p + 1)..<n { off += a[p * n + q] * a[p * n + q] } }
        if off <= 1e-26 * total || total == 0 { break }
        for p in 0..<(n - 1) {
            for q in (p + 1)..<n {
                let apq = a[p * n + q]
                if abs(apq) <= 1e-300 { continue }
                let theta = (a[q * n + q] - a[p * n + p]) / (2 * apq)
                let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
                let c = 1 / (t * t + 1).squareRoot(), s = t * c
                for k in 0..<n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q])
                    (a[k * n + p], a[k * n + q]) = (c * akp - s * akq, s * akp + c * akq)
                }
                for k in 0..<n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k])
                    (a[p * n + k], a[q * n + k]) = (c * apk - s * aqk, s * apk + c * aqk)
                }
                for k in 0..<n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q])
                    (v[k * n + p], v[k * n + q]) = (c * vkp - s * vkq, s * vkp + c * vkq)
                }
            }
        }
    }
    let top = (0..<n).max { a[$0 * n + $0] < a[$1 * n + $1] } ?? 0
    return (n == 0 ? 0 : a[top * n + top], (0..<n).map { v[$0 * n + top] })
}
