import LoupeTensor

/// One epoch's figures.
public struct EpochRecord: Codable, Equatable, Sendable {
    public var epoch: Int
    public var trainingLoss: Float
    public var trainingAccuracy: Float
    public var validationLoss: Float?
    public var validationAccuracy: Float?

    public init(
        epoch: Int, trainingLoss: Float, trainingAccuracy: Float, validationLoss: Float? = nil, validationAccuracy: Float? = nil
    ) {
        self.epoch = epoch
        self.trainingLoss = trainingLoss
        self.trainingAccuracy = trainingAccuracy
        self.validationLoss = validationLoss
        self.validationAccuracy = validationAccuracy
    }
}

/// The loss a classifier trains with.
public enum ClassificationLoss: String, Sendable {
    /// Softmax cross-entropy over the classes (`[N, classes]` logits).
    case crossEntropy
    /// Binary cross-entropy on one logit per sample (`[N, 1]`), for two classes.
    case binaryCrossEntropy

    /// The loss and the number of correct predictions in a batch.
    func evaluate(_ logits: Tensor, labels: [Int]) -> (loss: Tensor, correct: Int) {
        switch self {
        case .crossEntropy:
            let predicted = logits.detached().argmax(along: 1)
            return (logits.crossEntropy(labels: labels), zip(predicted, labels).filter { $0 == $1 }.count)
        case .binaryCrossEntropy:
            precondition(
                logits.rank == 2 && logits.shape[1] == 1,
                "binary cross-entropy needs one logit per sample; the model returns \(logits.shape)")
            let targets = Tensor(shape: logits.shape, scalars: labels.map(Float.init))
            let correct = zip(logits.scalars, labels).filter { ($0 > 0 ? 1 : 0) == $1 }.count
            return (logits.binaryCrossEntropyWithLogits(targets: targets), correct)
        }
    }
}

/// Mini-batch training of a classifier on images in memory.
public struct Trainer<Optimizer: LoupeNN.Optimizer> {
    public let model: Module
    public var optimizer: Optimizer
    public var loss: ClassificationLoss
    public var batchSize: Int
    public var seed: UInt64

    public init(
        model: Module, optimizer: Optimizer, loss: ClassificationLoss = .crossEntropy, batchSize: Int = 64,
        seed: UInt64 = 0
    ) {
        self.model = model
        self.optimizer = optimizer
        self.loss = loss
        self.batchSize = batchSize
        self.seed = seed
    }

    /// Trains for `epochs` passes over the data, shuffled by `seed` each epoch.
    ///
    /// - Parameters:
    ///   - images: `[N, C, H, W]`; labels: one class per image.
    ///   - validation: evaluated after each epoch when given.
    ///   - progress: called after every batch with (epoch, batch, batches, running loss).
    /// - Returns: one record per epoch.
    public mutating func fit(
        images: Tensor, labels: [Int], validation: (images: Tensor, labels: [Int])? = nil,
        epochs: Int, progress: (Int, Int, Int, Float) -> Void = { _, _, _, _ in }
    ) -> [EpochRecord] {
        var generator = RandomGenerator(seed: seed)
        var history: [EpochRecord] = []
        let trainable = model.namedParameters().map(\.parameter).filter(\.isTrainable)
        for epoch in 1...max(epochs, 1) {
            model.setTraining(true)
            let order = Array(0..<labels.count).shuffled(using: &generator)
            let batches = (order.count + batchSize - 1) / batchSize
            var totalLoss: Float = 0, correct = 0
            for batch in 0..<batches {
                let indices = Array(order[(batch * batchSize)..<min((batch + 1) * batchSize, order.count)])
                for parameter in trainable { parameter.value = parameter.value.trackingGradients() }
                let (batchLoss, batchCorrect) = loss.evaluate(model(images.gathered(indices)), labels: indices.map { labels[$0] })
                let gradients = LoupeTensor.gradients(of: batchLoss, at: trainable.map(\.value))
                optimizer.step(trainable, gradients: gradients)
                totalLoss += batchLoss.scalar * Float(indices.count)
                correct += batchCorrect
                progress(epoch, batch + 1, batches, totalLoss / Float(min((batch + 1) * batchSize, order.count)))
            }
            for parameter in trainable { parameter.value = parameter.value.detached() }
            var record = EpochRecord(
                epoch: epoch, trainingLoss: totalLoss / Float(labels.count),
                trainingAccuracy: Float(correct) / Float(labels.count))
            if let validation {
                let (validationLoss, accuracy) = evaluate(images: validation.images, labels: validation.labels)
                record.validationLoss = validationLoss
                record.validationAccuracy = accuracy
            }
            history.append(record)
        }
        model.setTraining(false)
        return history
    }

    /// Mean loss and accuracy in evaluation mode.
    public func evaluate(images: Tensor, labels: [Int]) -> (loss: Float, accuracy: Float) {
        LoupeNN.evaluate(model, images: images, labels: labels, loss: loss, batchSize: batchSize)
    }
}

/// A classifier's mean loss and accuracy on labelled images, in evaluation mode, in batches.
public func evaluate(
    _ model: Module, images: Tensor, labels: [Int], loss: ClassificationLoss = .crossEntropy,
    batchSize: Int = 256
) -> (loss: Float, accuracy: Float) {
    model.setTraining(false)
    var totalLoss: Float = 0, correct = 0
    withoutGradients {
        for start in stride(from: 0, to: labels.count, by: batchSize) {
            let indices = Array(start..<min(start + batchSize, labels.count))
            let (batchLoss, batchCorrect) = loss.evaluate(model(images.gathered(indices)), labels: indices.map { labels[$0] })
            totalLoss += batchLoss.scalar * Float(indices.count)
            correct += batchCorrect
        }
    }
    return (totalLoss / Float(max(labels.count, 1)), Float(correct) / Float(max(labels.count, 1)))
}
