import ArgumentParser
import Foundation
import Loupe

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a classifier on an image folder or IDX files; write weights, metadata and history.",
        discussion: """
            From scratch:   loupe train --idx-images I.gz --idx-labels L.gz --preset small-cnn --out model.safetensors
            Transfer:       loupe train --images cats_dogs/ --arch vgg16 --backbone vgg16.pth --head 2048,1024,512 \\
                                        --freeze-features --loss bce --out catdog.safetensors
            Writes OUT (safetensors), OUT's .json metadata (so --model needs no --arch) and OUT's -history.json.
            """)

    @Option(help: "An image folder with one subfolder per class.")
    var images: String?

    @Option(help: "IDX image file (MNIST format, gzipped or not).")
    var idxImages: String?

    @Option(help: "IDX label file.")
    var idxLabels: String?

    @Option(help: "IDX test images, evaluated after training.")
    var testIdxImages: String?

    @Option(help: "IDX test labels.")
    var testIdxLabels: String?

    @Option(help: "Comma-separated class names (default: folder names, or 'class N').")
    var classNames: String?

    @Option(help: "A built-in small architecture: small-cnn.")
    var preset: String?

    @Option(help: "A torchvision architecture to fine-tune.")
    var arch: String?

    @Option(help: "Weights for the architecture (.pth or .safetensors), loaded except for the head.")
    var backbone: String?

    @Option(help: "Hidden sizes of a new MLP head replacing the architecture's classifier, e.g. 2048,1024,512.")
    var head: String?

    @Flag(help: "Train only the head: freeze every other parameter.")
    var freezeFeatures = false

    @Option(help: "Image side length for image folders (default 224 for architectures, 28 for small-cnn).")
    var imageSize: Int?

    @Option(help: "Loss: ce (cross-entropy) or bce (binary cross-entropy with one output, two classes).")
    var loss = "ce"

    @Option(help: "Optimizer: adam or sgd.")
    var optimizer = "adam"

    @Option(help: "Learning rate.")
    var lr: Float = 1e-3

    @Option(help: "SGD momentum.")
    var momentum: Float = 0.9

    @Option(help: "Weight decay.")
    var weightDecay: Float = 0

    @Option(help: "Epochs.")
    var epochs = 3

    @Option(help: "Mini-batch size.")
    var batchSize = 64

    @Option(help: "Fraction of the data held out for validation.")
    var validation: Float = 0.1

    @Option(help: "Seed for initialization, shuffling and the split.")
    var seed: UInt64 = 0

    @Option(help: "Where to write the weights (.safetensors).")
    var out: String

    func validate() throws {
        guard (images != nil) != (idxImages != nil), (idxImages == nil) == (idxLabels == nil) else {
            throw ValidationError("give --images FOLDER, or --idx-images and --idx-labels")
        }
        guard (preset != nil) != (arch != nil) else { throw ValidationError("give --preset or --arch") }
        guard ["ce", "bce"].contains(loss), ["adam", "sgd"].contains(optimizer) else {
            throw ValidationError("--loss is ce or bce; --optimizer is adam or sgd")
        }
        guard out.hasSuffix(".safetensors") else { throw ValidationError("--out must end in .safetensors") }
        guard epochs >= 1, batchSize >= 1 else { throw ValidationError("--epochs and --batch-size must be at least 1") }
        guard lr.isFinite, lr > 0, momentum.isFinite, momentum >= 0, weightDecay.isFinite, weightDecay >= 0 else {
            throw ValidationError("--lr must be positive, --momentum and --weight-decay finite and not negative")
        }
        guard validation >= 0, validation < 1 else {
            throw ValidationError("--validation is a fraction in 0..<1; got \(validation)")
        }
        if let head { _ = try CommaList.positiveIntegers(head, option: "--head") }
        if let classNames { _ = try CommaList.names(classNames, option: "--class-names") }
    }

    func run() throws {
        var data = try loadData()
        if let classNames {
            let names = try CommaList.names(classNames, option: "--class-names")
            guard names.count == data.classNames.count else {
                throw ValidationError("--class-names gives \(names.count) names; the data has \(data.classNames.count) classes")
            }
            data.classNames = names
        }
        let binary = loss == "bce"
        guard !binary || data.classNames.count == 2 else {
            throw ValidationError("--loss bce needs two classes; the data has \(data.classNames.count)")
        }
        let outputs = binary ? 1 : data.classNames.count
        let metadata = try makeMetadata(data: data, outputs: outputs)
        // Train on inputs normalized as `predict` will normalize them.
        data.images = metadata.normalized(data.images)
        let model = try metadata.makeModule(seed: seed)
        if let backbone {
            let report = try model.load(try ModelFile.readStateDict(backbone), strict: false)
            FileHandle.standardError.write(
                Data("Loaded \(backbone); kept new: \(report.missing.count + report.mismatched.count) tensors of the head\n".utf8)
            )
        }
        if freezeFeatures {
            guard let head = model.head else {
                throw ValidationError("--freeze-features needs an architecture that declares its classifier head")
            }
            model.setTrainable(false)
            head.setTrainable(true)
        }
        let (training, held) = data.split(validationFraction: validation, seed: seed)
        let lossKind: ClassificationLoss = binary ? .binaryCrossEntropy : .crossEntropy
        let history: [EpochRecord]
        let test: (loss: Float, accuracy: Float)?
        if optimizer == "adam" {
            var trainer = Trainer(
                model: model, optimizer: Adam(learningRate: lr, weightDecay: weightDecay),
                loss: lossKind, batchSize: batchSize, seed: seed)
            (history, test) = try fit(&trainer, training: training, held: held)
        } else {
            var trainer = Trainer(
                model: model, optimizer: SGD(learningRate: lr, momentum: momentum, weightDecay: weightDecay),
                loss: lossKind, batchSize: batchSize, seed: seed)
            (history, test) = try fit(&trainer, training: training, held: held)
        }
        let historyPath = TrainingHistory.path(besideWeights: out)
        let curvesPath = URL(fileURLWithPath: out).deletingPathExtension().path + "-curves.png"
        let curves = history.isEmpty ? nil : Render.trainingCurves(history)
        // The four files together or none: a failed write removes the ones before it.
        var written: [String] = []
        do {
            try SafeTensors.write(model.stateDict(), metadata: ["format": "pt"], to: out)
            written.append(out)
            try metadata.write(to: ModelMetadata.path(besideWeights: out))
            written.append(ModelMetadata.path(besideWeights: out))
            try TrainingHistory(
                epochs: history, test: test.map { TrainingHistory.TestResult(loss: $0.loss, accuracy: $0.accuracy) }
            )
            .write(to: historyPath)
            written.append(historyPath)
            try curves?.writePNG(to: curvesPath)
        } catch {
            written.forEach { try? FileManager.default.removeItem(atPath: $0) }
            throw error
        }
        print("Wrote \(out), \(ModelMetadata.path(besideWeights: out)), \(historyPath) and \(curvesPath)")
        if let test { print(String(format: "Test accuracy: %.4f (loss %.4f)", test.accuracy, test.loss)) }
    }

    private func fit<O: Optimizer>(
        _ trainer: inout Trainer<O>, training: Dataset, held: Dataset
    ) throws
        -> ([EpochRecord], (loss: Float, accuracy: Float)?)
    {
        let start = Date()
        let history = trainer.fit(
            images: training.images, labels: training.labels,
            validation: held.count > 0 ? (held.images, held.labels) : nil, epochs: epochs
        ) { epoch, batch, batches, loss in
            if batch % 20 == 0 || batch == batches {
                FileHandle.standardError.write(
                    Data(
                        String(
                            format: "\repoch %d/%d  batch %d/%d  loss %.4f  %.0fs",
                            epoch, epochs, batch, batches, loss, Date().timeIntervalSince(start)
                        ).utf8))
            }
            if batch == batches { FileHandle.standardError.write(Data("\n".utf8)) }
        }
        for record in history {
            print(
                String(format: "epoch %d: train loss %.4f acc %.4f", record.epoch, record.trainingLoss, record.trainingAccuracy)
                    + (record.validationAccuracy.map {
                        String(format: ", validation loss %.4f acc %.4f", record.validationLoss ?? 0, $0)
                    } ?? ""))
        }
        guard let testIdxImages, let testIdxLabels else { return (history, nil) }
        let test = try Dataset.idx(images: testIdxImages, labels: testIdxLabels)
        return (history, trainer.evaluate(images: test.images, labels: test.labels))
    }

    private func loadData() throws -> Dataset {
        if let idxImages, let idxLabels { return try Dataset.idx(images: idxImages, labels: idxLabels) }
        let side = imageSize ?? (arch != nil ? 224 : 28)
        return try Dataset.imageFolder(images!, size: Size2D(side, side), channels: preset != nil ? 1 : 3)
    }

    private func makeMetadata(data: Dataset, outputs: Int) throws -> ModelMetadata {
        let shape = Array(data.images.shape.dropFirst())
        if let preset {
            guard preset == "small-cnn" else {
                throw ValidationError("unknown preset '\(preset)'; the built-in one is small-cnn")
            }
            let layers = LayerStack.smallCNN(classes: outputs)
            // Inputs stay in [0, 1]: the identity normalization.
            return ModelMetadata(
                features: layers.features, classifier: layers.classifier, classes: data.classNames,
                inputShape: shape, mean: Array(repeating: 0, count: shape[0]), std: Array(repeating: 1, count: shape[0]))
        }
        var metadata = ModelMetadata.imageNet(architecture: arch!)
        metadata.inputShape = shape
        metadata.classes = data.classNames
        if let head {
            let sizes = try CommaList.positiveIntegers(head, option: "--head")
            metadata.head =
                sizes.flatMap { [LayerSpec("linear", outputs: $0), LayerSpec("relu")] } + [LayerSpec("linear", outputs: outputs)]
        } else if outputs != 1000 {
            metadata.head = [LayerSpec("linear", outputs: outputs)]
        }
        return metadata
    }
}
