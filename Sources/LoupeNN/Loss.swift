import LoupeTensor

extension Tensor {
    /// The mean cross-entropy of `[N, classes]` logits against class indices
    /// (`F.cross_entropy` with mean reduction): `−mean(log softmax(x)[n, labels[n]])`.
    ///
    /// - Parameter labels: one class index per row, each in `0..<classes`.
    public func crossEntropy(labels: [Int]) -> Tensor {
        precondition(rank == 2 && shape[0] == labels.count,
                     "crossEntropy: logits must be [N, classes] with N = \(labels.count) labels; got \(shape)")
        let classes = shape[1]
        var oneHot = [Float](repeating: 0, count: count)
        for (row, label) in labels.enumerated() {
            precondition(label >= 0 && label < classes, "crossEntropy: label \(label) is outside 0..<\(classes)")
            oneHot[row * classes + label] = 1
        }
        let picked = logSoftmax(along: 1) * Tensor(shape: shape, scalars: oneHot)
        return -picked.sum() / Float(labels.count)
    }
}
