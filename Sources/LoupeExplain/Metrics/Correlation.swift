import Foundation

// The similarity measures Quantus' metrics use: Pearson's and Spearman's correlation (SciPy's
// `pearsonr` and `spearmanr`) and the structural similarity index (scikit-image's
// `structural_similarity` with its defaults), written again in double precision.

/// Pearson's correlation of two equally long lists; NaN where either is constant, as SciPy's.
func pearsonCorrelation(_ first: [Double], _ second: [Double]) -> Double {
    precondition(first.count == second.count, "pearsonCorrelation: \(first.count) values against \(second.count)")
    let count = Double(first.count)
    let (meanFirst, meanSecond) = (first.reduce(0, +) / count, second.reduce(0, +) / count)
    var (product, squaresFirst, squaresSecond) = (0.0, 0.0, 0.0)
    for (a, b) in zip(first, second) {
        let (x, y) = (a - meanFirst, b - meanSecond)
        product += x * y
        squaresFirst += x * x
        squaresSecond += y * y
    }
    guard squaresFirst > 0, squaresSecond > 0 else { return .nan }
    return Swift.max(-1, Swift.min(1, product / (squaresFirst * squaresSecond).squareRoot()))
}

/// Each value's rank from 1, equal values sharing the mean of their ranks (SciPy's `rankdata`):
/// Spearman's correlation is Pearson's of two lists' ranks.
func averageRanks(_ values: [Float]) -> [Double] {
    precondition(values.count < 1 << 32, "averageRanks: at most 2³² values")
    // Sorted as integers: the value's bits made to order as the values do (negative values'
    // bits flipped, positive values' sign bit set; −0 before +0 does not matter, they are
    // equal below), the index in the low half. NaN is not expected here.
    let keys = values.enumerated().map { index, value -> UInt64 in
        let bits = value.bitPattern
        let ordered = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
        return UInt64(ordered) << 32 | UInt64(index)
    }.sorted()
    let order = keys.map { Int($0 & 0xFFFF_FFFF) }
    var ranks = [Double](repeating: 0, count: values.count)
    var start = 0
    while start < order.count {
        var end = start + 1
        while end < order.count && values[order[end]] == values[order[start]] { end += 1 }
        let rank = Double(start + end + 1) / 2  // the mean of ranks start + 1 … end
        for position in start..<end { ranks[order[position]] = rank }
        start = end
    }
    return ranks
}

/// scikit-image's `structural_similarity(a, b, data_range=R)` of two flat arrays, as Quantus'
/// `ssim` calls it on flattened maps: windows of 7 values (mirrored at the ends, SciPy's
/// `uniform_filter`), the sample covariance, K1 0.01 and K2 0.03, the mean of the index over
/// the positions 3 or more from either end. The window means are computed in double precision
/// and rounded to single, and the rest in single precision, as scikit-image does for float32.
func structuralSimilarity(_ first: [Float], _ second: [Float], dataRange: Float) -> Double {
    precondition(first.count == second.count && first.count >= 7, "structuralSimilarity: needs two arrays of 7 or more values")
    let window = 7
    func means(_ values: [Float]) -> [Float] {
        let count = values.count
        func mirrored(_ index: Int) -> Int {
            let period = 2 * count
            let folded = ((index % period) + period) % period
            return folded < count ? folded : period - 1 - folded
        }
        return (0..<count).map { position in
            Float((-3...3).reduce(0.0) { $0 + Double(values[mirrored(position + $1)]) } / Double(window))
        }
    }
    let (ux, uy) = (means(first), means(second))
    let uxx = means(zip(first, first).map { $0 * $1 })
    let uyy = means(zip(second, second).map { $0 * $1 })
    let uxy = means(zip(first, second).map { $0 * $1 })
    let covarianceNorm = Float(Double(window) / Double(window - 1))
    let (c1, c2) = ((0.01 * dataRange) * (0.01 * dataRange), (0.03 * dataRange) * (0.03 * dataRange))
    var total = 0.0
    for position in 3..<(first.count - 3) {
        let vx = covarianceNorm * (uxx[position] - ux[position] * ux[position])
        let vy = covarianceNorm * (uyy[position] - uy[position] * uy[position])
        let vxy = covarianceNorm * (uxy[position] - ux[position] * uy[position])
        let a1 = 2 * ux[position] * uy[position] + c1, a2 = 2 * vxy + c2
        let b1 = ux[position] * ux[position] + uy[position] * uy[position] + c1, b2 = vx + vy + c2
        total += Double((a1 * a2) / (b1 * b2))
    }
    return total / Double(first.count - 6)
}
