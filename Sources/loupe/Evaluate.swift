import ArgumentParser
import Loupe

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure a classifier's accuracy on IDX files or an image folder.")

    @OptionGroup var model: ModelOptions

    @Option(help: "An image folder with one subfolder per class.")
    var images: String?

    @Option(help: "IDX image file (gzipped or not).")
    var idxImages: String?

    @Option(help: "IDX label file.")
    var idxLabels: String?

    func validate() throws {
        guard (images != nil) != (idxImages != nil), (idxImages == nil) == (idxLabels == nil) else {
            throw ValidationError("give --images FOLDER, or --idx-images and --idx-labels")
        }
    }

    func run() throws {
        let loaded = try model.load()
        let shape = loaded.metadata.inputShape
        var data =
            try idxImages.map { try Dataset.idx(images: $0, labels: idxLabels!) }
            ?? Dataset.imageFolder(images!, size: Size2D(shape[1], shape[2]), channels: shape[0])
        data.images = loaded.metadata.normalized(data.images)
        let binary = loaded.module(Tensor.zeros([1] + shape)).shape.last == 1
        let (loss, accuracy) = LoupeNN.evaluate(
            loaded.module, images: data.images, labels: data.labels,
            loss: binary ? .binaryCrossEntropy : .crossEntropy)
        print(String(format: "%d images: accuracy %.4f, loss %.4f", data.count, accuracy, loss))
    }
}
