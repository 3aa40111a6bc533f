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

/// The largest eigenvalue of a symmetric matrix (`size × size`, row-major) and a unit eigenvector
/// for it, by cyclic Jacobi rotations until the off-diagonal part is negligible.
func topEigenvector(_ matrix: [Double], size n: Int) -> (value: Double, vector: [Double]) {
    var a = matrix
    var v = [Double](repeating: 0, count: n * n)
    for i in 0..<n { v[i * n + i] = 1 }
    let total = a.reduce(0) { $0 + $1 * $1 }
    for _ in 0..<60 {
        var off = 0.0
        for p in 0..<n { for q in (p + 1)..<max(p + 1, n) { off += a[p * n + q] * a[p * n + q] } }
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
