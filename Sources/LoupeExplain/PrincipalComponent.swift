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
        // Each channel's plane, centred on its mean, in Double: planes[c * positions + p].
        var planes = [Double](repeating: 0, count: channels * positions)
        for channel in 0..<channels {
            let start = (sample * channels + channel) * positions
            var mean = 0.0
            for position in 0..<positions {
                let value = Double(scalars[start + position])
                planes[channel * positions + position] = value.isNaN ? 0 : value
                mean += planes[channel * positions + position]
            }
            mean /= Double(positions)
            for position in 0..<positions { planes[channel * positions + position] -= mean }
        }
        var projection = projected(planes, channels: channels, positions: positions)
        if let largest = projection.max(by: { abs($0) < abs($1) }), largest < 0 { projection = projection.map { -$0 } }
        projections += projection.map(Float.init)
    }
    return Tensor(shape: [count, values.shape[2], values.shape[3]], scalars: projections)
}

/// `X·v` for the first right singular vector `v` of `X` (positions × channels, given as the
/// channels' columns `planes[c * positions + p]`), from the eigenvectors of the smaller Gram
/// matrix: `XᵀX` gives `v`; `XXᵀ` gives `u` with `X·v = σ·u`.
private func projected(_ planes: [Double], channels: Int, positions: Int) -> [Double] {
    if channels < positions {
        let gram = gramMatrix(planes, vectors: channels, length: positions)
        let (_, v) = topEigenvector(gram, size: channels)
        var projection = [Double](repeating: 0, count: positions)
        for channel in 0..<channels where v[channel] != 0 {
            for position in 0..<positions { projection[position] += v[channel] * planes[channel * positions + position] }
        }
        return projection
    }
    var rows = [Double](repeating: 0, count: positions * channels)
    for channel in 0..<channels {
        for position in 0..<positions { rows[position * channels + channel] = planes[channel * positions + position] }
    }
    let (value, u) = topEigenvector(gramMatrix(rows, vectors: positions, length: channels), size: positions)
    return u.map { $0 * max(value, 0).squareRoot() }
}

/// The Gram matrix `G[i, j] = vᵢ · vⱼ` of `vectors` vectors of `length`, stored one after another.
private func gramMatrix(_ stored: [Double], vectors: Int, length: Int) -> [Double] {
    var gram = [Double](repeating: 0, count: vectors * vectors)
    stored.withUnsafeBufferPointer { base in
        for i in 0..<vectors {
            for j in i..<vectors {
                let value = dot(base.baseAddress! + i * length, base.baseAddress! + j * length, length)
                (gram[i * vectors + j], gram[j * vectors + i]) = (value, value)
            }
        }
    }
    return gram
}

/// `Σₖ a[k]·b[k]` over `count` values, four lanes at a time.
@inline(__always)
private func dot(_ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>, _ count: Int) -> Double {
    let (left, right) = (UnsafeRawPointer(a), UnsafeRawPointer(b))
    var lanes = SIMD4<Double>()
    var k = 0
    while k + 4 <= count {
        lanes +=
            left.loadUnaligned(fromByteOffset: k * 8, as: SIMD4<Double>.self)
            * right.loadUnaligned(fromByteOffset: k * 8, as: SIMD4<Double>.self)
        k += 4
    }
    var sum = lanes.sum()
    while k < count {
        sum += a[k] * b[k]
        k += 1
    }
    return sum
}

/// The largest eigenvalue of a symmetric positive semi-definite matrix (`size × size`,
/// row-major) and a unit eigenvector for it. Small matrices go to ``jacobiTopEigenvector``;
/// larger ones to Lanczos iteration with full reorthogonalization, whose cost does not depend on
/// how far the largest eigenvalue stands from the next as subspace iteration's does: each step
/// adds `G·q` to an orthonormal basis of the Krylov space, the top eigenpair of the small
/// tridiagonal matrix so built is found by bisection and inverse iteration, and it stops once
/// that pair's residual `‖G·v − θ·v‖` (the next off-diagonal times the pair's last component)
/// is below 10⁻¹²·θ, or the space is the whole space or invariant (then the pair is exact).
func topEigenvector(_ matrix: [Double], size n: Int) -> (value: Double, vector: [Double]) {
    guard n > 32 else { return jacobiTopEigenvector(matrix, size: n) }
    let scale = max((0..<n).map { matrix[$0 * n + $0] }.max() ?? 0, .leastNormalMagnitude)
    // A fixed pseudo-random start, so that the result does not vary from run to run.
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    var start = (0..<n).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Double(state >> 11) / Double(1 << 53) - 0.5
    }
    let startNorm = norm(start)
    start = start.map { $0 / startNorm }
    var basis = [start], diagonal: [Double] = [], offDiagonal: [Double] = []
    while true {
        let q = basis[basis.count - 1]
        var w = matrix.withUnsafeBufferPointer { rows in
            q.withUnsafeBufferPointer { x in (0..<n).map { dot(rows.baseAddress! + $0 * n, x.baseAddress!, n) } }
        }
        diagonal.append(inner(q, w))
        // Against every basis vector, twice ("twice is enough" for orthogonality to rounding).
        for _ in 0..<2 {
            for other in basis {
                let projection = inner(other, w)
                for index in 0..<n { w[index] -= projection * other[index] }
            }
        }
        let next = norm(w)
        let size = diagonal.count
        let done = size == n || next <= 1e-14 * scale
        if done || size % 4 == 0 {
            let (theta, y) = tridiagonalTopEigenpair(diagonal, offDiagonal)
            if done || next * abs(y[size - 1]) <= 1e-12 * max(theta, scale * 1e-300) {
                var vector = [Double](repeating: 0, count: n)
                for (coefficient, q) in zip(y, basis) {
                    for index in 0..<n { vector[index] += coefficient * q[index] }
                }
                let length = norm(vector)
                return (theta, length > 0 ? vector.map { $0 / length } : vector)
            }
        }
        offDiagonal.append(next)
        basis.append(w.map { $0 / next })
    }
}

/// The largest eigenvalue of the symmetric tridiagonal matrix with `diagonal` and `offDiagonal`
/// (one shorter), by bisection on Sturm counts, and a unit eigenvector for it by inverse iteration.
private func tridiagonalTopEigenpair(_ diagonal: [Double], _ offDiagonal: [Double]) -> (Double, [Double]) {
    let m = diagonal.count
    var low = Double.infinity, high = -Double.infinity
    for i in 0..<m {
        let radius = (i > 0 ? abs(offDiagonal[i - 1]) : 0) + (i < m - 1 ? abs(offDiagonal[i]) : 0)
        (low, high) = (min(low, diagonal[i] - radius), max(high, diagonal[i] + radius))
    }
    /// How many eigenvalues are below `x`.
    func below(_ x: Double) -> Int {
        var count = 0, d = 1.0
        for i in 0..<m {
            d = diagonal[i] - x - (i > 0 ? offDiagonal[i - 1] * offDiagonal[i - 1] / d : 0)
            if d == 0 { d = -Double.ulpOfOne * (abs(x) + Double.leastNormalMagnitude) }
            if d < 0 { count += 1 }
        }
        return count
    }
    for _ in 0..<200 {
        let middle = (low + high) / 2
        guard middle > low, middle < high else { break }
        if below(middle) == m { high = middle } else { low = middle }
    }
    let theta = high
    // Inverse iteration: solve (T − θ·I)·y = previous y, by Gaussian elimination with partial
    // pivoting on the tridiagonal (a pivot that vanishes is replaced by rounding's size).
    let tiny = Double.ulpOfOne * max(abs(low), abs(high), Double.leastNormalMagnitude)
    var y = [Double](repeating: 1, count: m)
    for _ in 0..<3 {
        // Rows as (sub, main, super, super²) after pivoting; the right-hand side goes with them.
        var main = diagonal.map { $0 - theta }, upper = offDiagonal + [0], upper2 = [Double](repeating: 0, count: m)
        var lower = [0] + offDiagonal, rhs = y
        for i in 0..<(m - 1) {
            if abs(lower[i + 1]) > abs(main[i]) {  // swap rows i and i + 1
                (main[i], lower[i + 1]) = (lower[i + 1], main[i])
                (upper[i], main[i + 1]) = (main[i + 1], upper[i])
                (upper2[i], upper[i + 1]) = (upper[i + 1], 0)
                rhs.swapAt(i, i + 1)
            }
            if main[i] == 0 { main[i] = tiny }
            let factor = lower[i + 1] / main[i]
            main[i + 1] -= factor * upper[i]
            upper[i + 1] -= factor * upper2[i]
            rhs[i + 1] -= factor * rhs[i]
        }
        if main[m - 1] == 0 { main[m - 1] = tiny }
        for i in stride(from: m - 1, through: 0, by: -1) {
            let known = (i + 1 < m ? upper[i] * y[i + 1] : 0) + (i + 2 < m ? upper2[i] * y[i + 2] : 0)
            y[i] = (rhs[i] - known) / main[i]
        }
        let length = norm(y)
        y = y.map { $0 / length }
    }
    return (theta, y)
}

private func inner(_ a: [Double], _ b: [Double]) -> Double {
    a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in dot(x.baseAddress!, y.baseAddress!, a.count) } }
}

private func norm(_ a: [Double]) -> Double { inner(a, a).squareRoot() }

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
