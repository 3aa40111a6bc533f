import Foundation

/// The images of a dataset, in a fixed order, for explaining a whole dataset (`loupe batch`).
///
/// An image's identity is its position: in the sorted listing of a folder, the row of a
/// manifest, or the index in an IDX or `.npz` array. Opening a source lists its images and
/// their labels and reads nothing else; ``image(at:)`` decodes one image when it is needed.
/// The ``fingerprint`` (paths, sizes and modification times of every file read) lets a later run
/// tell whether the source changed.
public struct DataSource: Sendable {
    /// What kind of source a path is.
    public enum Kind: String, Codable, Sendable {
        /// A folder of class subfolders, as torchvision's `ImageFolder`.
        case folder
        /// A CSV manifest: `path,label,target` rows, paths relative to the manifest.
        case manifest
        /// An IDX file of unsigned-byte images `[N, H, W]` (MNIST's format), labels from another.
        case idx
        /// A NumPy `.npz` with `X` (`[N, H, W]` or `[N, H, W, 1|3]` bytes), and optionally `y` and
        /// `label_map` (a pickled dict from class index to name).
        case npz
    }

    /// One image: where it is and what it should be.
    public struct Item: Codable, Equatable, Sendable {
        /// The image's file, relative to the folder or manifest, or `NAME[index]` inside an array file.
        public var source: String
        /// The true class, when the source gives it.
        public var label: Int?
        /// The class to explain, when a manifest's `target` column gives it.
        public var target: Int?

        public init(source: String, label: Int?, target: Int? = nil) {
            self.source = source
            self.label = label
            self.target = target
        }
    }

    /// A file the source was read from, as it was: a changed size or time means a changed source.
    public struct FileStamp: Codable, Equatable, Sendable {
        public var path: String
        public var size: Int
        /// Seconds since 1970.
        public var modified: Double

        /// The file at `path` as it is now, recorded under `name`.
        public static func of(_ path: String, as name: String) throws -> FileStamp {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                let size = (attributes[.size] as? NSNumber)?.intValue, let date = attributes[.modificationDate] as? Date
            else {
                throw LoupeIOError("cannot read '\(path)'")
            }
            return FileStamp(path: name, size: size, modified: date.timeIntervalSince1970)
        }
    }

    public let kind: Kind
    public let path: String
    public let items: [Item]
    /// Names for the labels when the source carries them (folder names that are not the model's
    /// class names, an `.npz`'s `label_map`); nil when labels are the model's class indices.
    public let classNames: [String]?
    public let fingerprint: [FileStamp]
    private let pixels: Pixels

    /// Where the images' bytes are: image files under a root, or one array of `[N, H, W, C]` bytes.
    private enum Pixels: Sendable {
        case files(root: String)
        case array(bytes: [UInt8], height: Int, width: Int, channels: Int)
    }

    /// The image formats read from folders and manifests.
    public static let imageExtensions: Set<String> = ["png", "jpg", "jpeg"]

    /// Opens `path`: a folder, a `.csv` manifest, an `.npz`, or an IDX image file (`labels` names
    /// its IDX labels). `modelClassNames` turn class names into indices: a folder's subfolders when
    /// every name is one of them, a manifest's labels and targets.
    public static func open(_ path: String, labels: String? = nil, modelClassNames: [String]) throws -> DataSource {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw LoupeIOError("the data '\(path)' does not exist")
        }
        if labels != nil && (isDirectory.boolValue || !isIDX(path)) {
            throw LoupeIOError("--labels is for an IDX image file's labels; '\(path)' carries its own")
        }
        if isDirectory.boolValue { return try folder(path, modelClassNames: modelClassNames) }
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "csv": return try manifest(path, modelClassNames: modelClassNames)
        case "npz": return try npz(path)
        default:
            guard isIDX(path) else {
                throw LoupeIOError(
                    "'\(path)' is not a dataset: give a folder of class subfolders, a .csv manifest, an IDX image file or an .npz"
                )
            }
            return try idx(path, labels: labels)
        }
    }

    /// The image at `index`, decoded.
    public func image(at index: Int) throws -> Image {
        switch pixels {
        case .files(let root):
            return try Image.read(URL(fileURLWithPath: root).appendingPathComponent(items[index].source).path)
        case .array(let bytes, let height, let width, let channels):
            let size = height * width * channels
            let start = index * size
            return Image(width: width, height: height, channels: channels, pixels: Array(bytes[start..<(start + size)]))
        }
    }

    // MARK: - Folders

    /// The class subfolders of an image folder, sorted by name as torchvision's `ImageFolder`
    /// sorts them; an error when there are none.
    static func classFolders(_ path: String) throws -> [String] {
        let classes = try listing(path).filter { isFolder("\(path)/\($0)") }.sorted()
        guard !classes.isEmpty else {
            throw LoupeIOError("'\(path)' has no class subfolders; put each class's images in a folder of its own (cat/, dog/)")
        }
        return classes
    }

    private static func folder(_ path: String, modelClassNames: [String]) throws -> DataSource {
        let classes = try classFolders(path)
        // The model's own indices when every folder is one of its classes; else ImageFolder's.
        let modelIndex = Dictionary(modelClassNames.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        let byModel = classes.allSatisfy { modelIndex[$0] != nil }
        var items: [Item] = []
        for (position, name) in classes.enumerated() {
            for file in try imageFiles(under: "\(path)/\(name)") {
                items.append(Item(source: "\(name)/\(file)", label: byModel ? modelIndex[name]! : position))
            }
        }
        guard !items.isEmpty else { throw LoupeIOError("'\(path)' has class folders but no PNG or JPEG images") }
        return DataSource(
            kind: .folder, path: path, items: items, classNames: byModel ? nil : classes,
            fingerprint: try items.map { try FileStamp.of("\(path)/\($0.source)", as: $0.source) }, pixels: .files(root: path))
    }

    /// The PNG and JPEG files under `folder`, relative to it, in `os.walk`'s sorted order as
    /// `ImageFolder` lists them: a folder's own files (sorted), then each subfolder's (sorted).
    private static func imageFiles(under folder: String, prefix: String = "") throws -> [String] {
        let entries = try listing(folder).sorted()
        var files: [String] = []
        var folders: [String] = []
        for entry in entries {
            let full = "\(folder)/\(entry)"
            if isFolder(full) {
                folders.append(entry)
            } else if imageExtensions.contains(URL(fileURLWithPath: entry).pathExtension.lowercased()) {
                files.append(prefix + entry)
            }
        }
        for subfolder in folders {
            files += try imageFiles(under: "\(folder)/\(subfolder)", prefix: "\(prefix)\(subfolder)/")
        }
        return files
    }

    // MARK: - Manifests

    private static func manifest(_ path: String, modelClassNames: [String]) throws -> DataSource {
        let text = String(decoding: try readFile(path, what: "manifest"), as: UTF8.self)
        var rows = try CSV.rows(text, name: path)
        if let first = rows.first, first.first?.trimmingCharacters(in: .whitespaces).lowercased() == "path" {
            guard first.count <= 3,
                first.dropFirst().map({ $0.trimmingCharacters(in: .whitespaces).lowercased() })
                    == Array(["label", "target"].prefix(first.count - 1))
            else {
                throw LoupeIOError(
                    "\(path): the header must be path,label,target (or its first one or two columns); got \(first)")
            }
            rows.removeFirst()
        }
        guard !rows.isEmpty else { throw LoupeIOError("\(path) lists no images") }
        let root = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let modelIndex = Dictionary(modelClassNames.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        func classIndex(_ field: String, row: Int, column: String) throws -> Int? {
            let text = field.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { return nil }
            if let index = Int(text), index >= 0 { return index }
            guard let index = modelIndex[text] else {
                throw LoupeIOError(
                    "\(path), row \(row): \(column) '\(text)' is neither a class index nor one of the model's class names")
            }
            return index
        }
        var items: [Item] = []
        for (number, row) in rows.enumerated() {
            let line = number + 1
            guard (1...3).contains(row.count), !row[0].isEmpty else {
                throw LoupeIOError("\(path), row \(line): expected path,label,target; got \(row.count) fields")
            }
            guard !row[0].hasPrefix("/"), !row[0].split(separator: "/").contains("..") else {
                throw LoupeIOError("\(path), row \(line): '\(row[0])' must be a path relative to the manifest, inside its folder")
            }
            let label = row.count > 1 ? try classIndex(row[1], row: line, column: "label") : nil
            let target = row.count > 2 ? try classIndex(row[2], row: line, column: "target") : nil
            items.append(Item(source: row[0], label: label, target: target))
        }
        let name = URL(fileURLWithPath: path).lastPathComponent
        let stamps = try [FileStamp.of(path, as: name)] + items.map { try FileStamp.of("\(root)/\($0.source)", as: $0.source) }
        return DataSource(
            kind: .manifest, path: path, items: items, classNames: nil, fingerprint: stamps, pixels: .files(root: root))
    }

    // MARK: - Array files

    private static func isIDX(_ path: String) -> Bool {
        let name = URL(fileURLWithPath: path).lastPathComponent.lowercased()
        return name.contains("idx") || name.hasSuffix("-ubyte") || name.hasSuffix("-ubyte.gz")
    }

    private static func idx(_ path: String, labels labelsPath: String?) throws -> DataSource {
        let images = try Dataset.idxPayload(path, expectedDimensions: 3)
        let (count, height, width) = (images.dimensions[0], images.dimensions[1], images.dimensions[2])
        try Image.checkSize(width: width, height: height, name: path)
        var labels: [Int?] = Array(repeating: nil, count: count)
        var stamps = [try FileStamp.of(path, as: URL(fileURLWithPath: path).lastPathComponent)]
        if let labelsPath {
            let payload = try Dataset.idxPayload(labelsPath, expectedDimensions: 1)
            guard payload.dimensions[0] == count else {
                throw LoupeIOError("\(labelsPath) has \(payload.dimensions[0]) labels but \(path) has \(count) images")
            }
            labels = payload.bytes.map { Int($0) }
            stamps.append(try FileStamp.of(labelsPath, as: URL(fileURLWithPath: labelsPath).lastPathComponent))
        }
        let name = URL(fileURLWithPath: path).lastPathComponent
        return DataSource(
            kind: .idx, path: path, items: (0..<count).map { Item(source: "\(name)[\($0)]", label: labels[$0]) },
            classNames: nil, fingerprint: stamps,
            pixels: .array(bytes: images.bytes, height: height, width: width, channels: 1))
    }

    /// The most bytes read from one `.npz` entry.
    static let npzEntryLimit = 1 << 34

    private static func npz(_ path: String) throws -> DataSource {
        let archive = try ZipArchive(try readFile(path, what: ".npz file"), name: path)
        var arrays: [String: NPY.Array] = [:]
        for key in ["X", "y", "label_map"] {
            guard let entry = archive.entries.first(where: { $0.path == "\(key).npy" }) else { continue }
            arrays[key] = try NPY.decodeArray(archive.contents(of: entry, limit: npzEntryLimit), name: "\(path): \(key)")
        }
        guard let x = arrays["X"], case .byte(let bytes) = x.values, (3...4).contains(x.shape.count),
            x.shape.count == 3 || [1, 3].contains(x.shape[3])
        else {
            throw LoupeIOError(
                "\(path): expected an array X of uint8 images [N, H, W] or [N, H, W, 1 or 3], as np.savez(path, X=images, y=labels) writes; it holds \(archive.entries.map(\.path))"
            )
        }
        let (count, height, width) = (x.shape[0], x.shape[1], x.shape[2])
        let channels = x.shape.count == 4 ? x.shape[3] : 1
        try Image.checkSize(width: width, height: height, name: path)
        var labels: [Int?] = Array(repeating: nil, count: count)
        if let y = arrays["y"] {
            guard case .integer(let values) = y.values, y.shape == [count], values.allSatisfy({ $0 >= 0 }) else {
                throw LoupeIOError(
                    "\(path): y must hold \(count) non-negative integer labels, one per image; it is \(y.descriptor) \(y.shape)")
            }
            labels = values
        }
        let classNames = try arrays["label_map"].map { try labelMap($0, name: path) }
        let name = URL(fileURLWithPath: path).lastPathComponent
        return DataSource(
            kind: .npz, path: path, items: (0..<count).map { Item(source: "X[\($0)]", label: labels[$0]) },
            classNames: classNames, fingerprint: [try FileStamp.of(path, as: name)],
            pixels: .array(bytes: bytes, height: height, width: width, channels: channels))
    }

    /// An `.npz`'s `label_map`: a 0-d object array holding a dict from class index to name, as a
    /// list of names by index (a missing index is named by its number).
    private static func labelMap(_ array: NPY.Array, name: String) throws -> [String] {
        guard case .objects(let objects) = array.values, objects.count == 1, case .dict(let dict) = objects[0] else {
            throw LoupeIOError("\(name): label_map must be a dict from class index to name")
        }
        var names: [Int: String] = [:]
        for (key, value) in dict.entries {
            guard case .int(let index) = key, (0..<1_000_000).contains(index), case .string(let text) = value else {
                throw LoupeIOError("\(name): label_map must map class indices (int) to names (str)")
            }
            names[index] = text
        }
        let count = (names.keys.max() ?? -1) + 1
        return (0..<count).map { names[$0] ?? String($0) }
    }

    // MARK: - Files

    private static func listing(_ folder: String) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: folder).filter { !$0.hasPrefix(".") }
        } catch {
            throw LoupeIOError("cannot list '\(folder)': \(error.localizedDescription)")
        }
    }

    private static func isFolder(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

}

/// RFC 4180 comma-separated values.
enum CSV {
    /// The rows of `text`: fields split at commas, quoted fields (`"a, ""b"""`) taken whole, CRLF
    /// or LF line ends, empty lines skipped.
    static func rows(_ text: String, name: String) throws -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var fieldStarted = false
        var characters = text.makeIterator()
        var pending: Character? = nil
        func next() -> Character? {
            if let character = pending {
                pending = nil
                return character
            }
            return characters.next()
        }
        func endRow() {
            if fieldStarted || !field.isEmpty || !row.isEmpty { rows.append(row + [field]) }
            (row, field, fieldStarted) = ([], "", false)
        }
        while let character = next() {
            if quoted {
                if character == "\"" {
                    if let following = next() {
                        if following == "\"" { field.append("\"") } else { quoted = false; pending = following }
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(character)
                }
                continue
            }
            switch character {
            case "\"" where field.isEmpty: (quoted, fieldStarted) = (true, true)
            case ",": row.append(field); (field, fieldStarted) = ("", true)
            case "\n", "\r\n", "\r": endRow()
            default: field.append(character)
            }
        }
        guard !quoted else { throw LoupeIOError("\(name): a quoted field is never closed") }
        endRow()
        return rows
    }
}
