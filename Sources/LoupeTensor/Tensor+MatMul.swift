extension Tensor {
    /// Matrix product over the last two dimensions, batched over the leading ones
    /// (`torch.matmul` for rank ≥ 2; batch dimensions broadcast). Runs oneDNN's sgemm.
    ///
    /// `[..., M, K] × [..., K, N] → [..., M, N]`. Derivatives: dA = G·Bᵀ, dB = Aᵀ·G.
    public func matmul(_ other: Tensor) -> Tensor {
        precondition(
            rank >= 2 && other.rank >= 2,
            "matmul: both operands need rank ≥ 2; got shapes \(shape) and \(other.shape)")
        precondition(
            shape[rank - 1] == other.shape[other.rank - 2],
            "matmul: inner dimensions differ: \(shape) × \(other.shape)")
        let batch = broadcastShape(Array(shape.dropLast(2)), Array(other.shape.dropLast(2)))
        let left = broadcast(to: batch + shape.suffix(2))
        let right = other.broadcast(to: batch + other.shape.suffix(2))
        let result = Tensor.batchedProduct(left.detached(), right.detached(), transposeA: false, transposeB: false)
        return Tensor.recording(result, inputs: [left, right]) { gradient, needed in
            [
                needed[0] ? Tensor.batchedProduct(gradient, right.detached(), transposeA: false, transposeB: true) : nil,
                needed[1] ? Tensor.batchedProduct(left.detached(), gradient, transposeA: true, transposeB: false) : nil,
            ]
        }
    }

    /// `op(A)·op(B)` for each of the equal leading batch indices, without recording.
    static func batchedProduct(_ a: Tensor, _ b: Tensor, transposeA: Bool, transposeB: Bool) -> Tensor {
        let batch = Array(a.shape.dropLast(2))
        let (aRows, aColumns) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
        let (bRows, bColumns) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
        let m = transposeA ? aColumns : aRows
        let k = transposeA ? aRows : aColumns
        let n = transposeB ? bRows : bColumns
        let result = Tensor(uninitializedShape: batch + [m, n])
        for index in 0..<batch.reduce(1, *) {
            DNNL.sgemm(
                transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                a: a.storage.base + index * aRows * aColumns, lda: aColumns,
                b: b.storage.base + index * bRows * bColumns, ldb: bColumns,
                c: result.storage.base + index * m * n, ldc: n)
        }
        return result
    }

    /// A fully connected layer: `x·Wᵀ + b` over the last dimension (`F.linear`).
    ///
    /// - Parameters:
    ///   - weight: `[outputFeatures, inputFeatures]`.
    ///   - bias: `[outputFeatures]`, or `nil`.
    /// - Returns: `[..., outputFeatures]`.
    ///
    /// Derivatives: dx = G·W, dW = Gᵀ·x, db = Σ G over rows.
    public func linear(weight: Tensor, bias: Tensor? = nil) -> Tensor {
        precondition(weight.rank == 2, "linear: the weight must be [outputFeatures, inputFeatures]; got \(weight.shape)")
        let outputShape = requiringShapes {
            try ShapeRules.linear(input: shape, features: weight.shape[1], outputs: weight.shape[0])
        }
        if let bias {
            precondition(bias.shape == [weight.shape[0]], "linear: bias must be [\(weight.shape[0])]; got \(bias.shape)")
        }
        let inputFeatures = weight.shape[1], outputFeatures = weight.shape[0]
        let rows = count / Swift.max(inputFeatures, 1)
        let result = Tensor(uninitializedShape: outputShape)
        if let bias {
            for row in 0..<rows {
                (result.storage.base + row * outputFeatures).update(from: bias.storage.base, count: outputFeatures)
            }
        }
        DNNL.sgemm(
            transposeA: false, transposeB: true, m: rows, n: outputFeatures, k: inputFeatures,
            a: storage.base, lda: inputFeatures, b: weight.storage.base, ldb: inputFeatures,
            beta: bias == nil ? 0 : 1, c: result.storage.base, ldc: outputFeatures)
        let inputs = [self, weight] + (bias.map { [$0] } ?? [])
        let inputShape = shape
        return Tensor.recording(result, inputs: inputs) { gradient, needed in
            let flatGradient = gradient.reshaped([rows, outputFeatures])
            let flatInput = self.detached().reshaped([rows, inputFeatures])
            var gradients: [Tensor?] = [
                needed[0]
                    ? Tensor.batchedProduct(flatGradient, weight.detached(), transposeA: false, transposeB: false)
                        .reshaped(inputShape) : nil,
                needed[1] ? Tensor.batchedProduct(flatGradient, flatInput, transposeA: true, transposeB: false) : nil,
            ]
            if bias != nil { gradients.append(needed[2] ? flatGradient.sum(along: 0) : nil) }
            return gradients
        }
    }
}
