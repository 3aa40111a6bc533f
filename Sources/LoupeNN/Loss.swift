import LoupeTensor

extension Tensor {
    /// The mean cross-entropy of `[N, classes]` logits against class indices
    /// (`F.cross_entropy` with mean reduction): `−mean(log softmax(x)[n, labels[n]])`.
    ///
    /// - Parameter labels: one class index per row, each in `0..<classes`.
    public func crossEntropy(labels: [Int]) -> Tensor {
        precondition(
            rank == 2 && shape[0] == labels.count,
            "crossEntropy: logits must be [N, classes] with N = \(labels.count) labels; got \(shape)")
        let picked = logSoftmax(along: 1) * Tensor.oneHot(labels, classes: shape[1])
        return -picked.sum() / Float(labels.count)
    }
}

extension Tensor {
    /// The mean binary cross-entropy of logits against 0/1 targets of the same shape
    /// (`F.binary_cross_entropy_with_logits`), computed stably:
    /// `max(x, 0) − x·y + log(1 + e^(−|x|))`.
    public func binaryCrossEntropyWithLogits(targets: Tensor) -> Tensor {
        precondition(shape == targets.shape, "binaryCrossEntropyWithLogits: logits \(shape) and targets \(targets.shape) differ")
        return (relu() - self * targets + ((-abs()).exp() + 1).log()).mean()
    }
}
