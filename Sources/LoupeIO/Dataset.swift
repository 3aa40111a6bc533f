import Foundation
import LoupeTensor

/// Labelled images in memory: `[N, C, H, W]` values in `[0, 1]` and one class per image.
public struct Dataset {
    public var images: Tensor
    public var labels: [Int]
    public var classNames: [String]

    public init(images: Tensor, labels: [Int], classNames: [String]) {
        precondition(
            images.rank == 4 && images.shape[0] == labels.count,
            "Dataset: \(labels.count) labels for images of shape \(images.shape)")
        self.images = images
        self.labels = labels
        self.classNames = classNames
    }

    public var count: Int { labels.count }

    /// The samples at `indices`, in that order.
    public func subset(_ indices: [Int]) -> Dataset {
        Dataset(images: images.gathered(indices), labels: indices.map { labels[$0] }, classNames: classNames)
    }

    /// Splits off the last `fraction` of a seeded shuffle as a validation set.
    public func split(validationFraction fraction: Float, seed: UInt64) -> (training: Dataset, validation: Dataset) {
        var generator = RandomGenerator(seed: seed)
        let order = Array(0..<count).shuffled(using: &generator)
        let validationCount = Int((Float(count) * fraction).rounded())
        return (subset(Array(order.dropLast(validationCount))), subset(Array(order.suffix(validationCount))))
    }

    /// Reads a pair of IDX files (MNIST's format, gzipped or not): `images` of unsigned bytes
    /// `[N, H, W]` and `labels` `[N]`. Sizes are checked against the files before allocating.
    public static func idx(images imagesPath: String, labels labelsPath: String, classNames: [String]? = nil) throws -> Dataset {
        let imageData = try idxPayload(imagesPath, expectedDimensions: 3)
        let labelData = try idxPayload(labelsPath, expectedDimensions: 1)
        let (count, height, width) = (imageData.dimensions[0], imageData.dimensions[1], imageData.dimensions[2])
        guard labelData.dimensions[0] == count else {
            throw LoupeIOError("\(labelsPath) has \(labelData.dimensions[0]) labels but \(imagesPath) has \(count) images")
        }
        let labels = labelData.bytes.map(Int.init)
        let classCount = (labels.max() ?? 0) + 1
        let values = imageData.bytes.map { Float($0) / 255 }
        return Dataset(
            images: Tensor(shape: [count, 1, height, width], scalars: values), labels: labels,
            classNames: classNames ?? (0..<classCount).map { "class \($0)" })
    }

    static func idxPayload(_ path: String, expectedDimensions: Int) throws -> (dimensions: [Int], bytes: [UInt8]) {
        var data = try readFile(path, what: "IDX file")
        if Gzip.isCompressed(data) { data = try Gzip.decompress(data, limit: 1 << 31, name: path) }
        let bytes = [UInt8](data)
        guard bytes.count >= 4 + 4 * expectedDimensions, bytes[0] == 0, bytes[1] == 0, bytes[2] == 0x08,
            Int(bytes[3]) == expectedDimensions
        else {
            throw LoupeIOError("\(path) is not an IDX file of unsigned bytes with \(expectedDimensions) dimension(s)")
        }
        let dimensions = (0..<expectedDimensions).map { index in
            bytes[(4 + 4 * index)..<(8 + 4 * index)].reduce(0) { $0 << 8 | Int($1) }
        }
        let header = 4 + 4 * expectedDimensions
        guard checkedProduct(dimensions) == bytes.count - header else {
            throw LoupeIOError("\(path) declares \(dimensions) but holds \(bytes.count - header) bytes of data")
        }
        return (dimensions, Array(bytes[header...]))
    }

    /// Reads an image folder: one subfolder per class (sorted by name, like torchvision's
    /// `ImageFolder`), each image resized to `size` and converted to `channels`.
    public static func imageFolder(_ path: String, size: Size2D, channels: Int = 3) throws -> Dataset {
        let manager = FileManager.default
        let classes = try DataSource.classFolders(path)
        var preprocessing = ImagePreprocessing(
            resize: nil, crop: nil, mean: Array(repeating: 0, count: channels),
            std: Array(repeating: 1, count: channels), channels: channels)
        preprocessing.exactSize = size
        var samples: [Tensor] = []
        var labels: [Int] = []
        for (label, name) in classes.enumerated() {
            let files = (try? manager.contentsOfDirectory(atPath: "\(path)/\(name)"))?.sorted() ?? []
            for file in files where DataSource.imageExtensions.contains(URL(fileURLWithPath: file).pathExtension.lowercased()) {
                let image = try Image.read("\(path)/\(name)/\(file)")
                samples.append(preprocessing.apply(to: image))
                labels.append(label)
            }
        }
        guard !samples.isEmpty else { throw LoupeIOError("'\(path)' has class folders but no PNG or JPEG images") }
        return Dataset(images: Tensor.concatenate(samples, along: 0), labels: labels, classNames: classes)
    }
}
