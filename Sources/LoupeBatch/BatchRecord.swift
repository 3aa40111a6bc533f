import Foundation
import LoupeIO

/// What a batch run wrote for one image: one line of a shard's `shards/<i>-of-<N>.jsonl`, and of
/// the merged `index.jsonl`.
///
/// A record is appended only after every file it names exists, so a record present with files of
/// the recorded size and SHA-256 means the image is finished.
public struct BatchRecord: Codable, Equatable, Sendable {
    /// The image's position in the plan.
    public var index: Int
    /// Where the image came from (``LoupeIO/DataSource/Item/source``).
    public var source: String
    /// The true class, when the source gives it.
    public var label: Int?
    /// The class explained.
    public var target: Int
    /// The top class.
    public var prediction: Int
    /// The top classes, most probable first.
    public var top: [Ranked]
    /// Every output file, relative to the run folder.
    public var files: [OutputFile]
    /// Each method's metric values, by method then metric (`nan` written as a string).
    public var metrics: [String: [String: Float]]?
    /// Seconds spent on this image, by step (`decode`, `predict`, each method, `metrics`): its
    /// share of the pass it ran in. The only fields that differ between runs.
    public var seconds: [String: Double]

    public struct Ranked: Codable, Equatable, Sendable {
        public var `class`: Int
        public var name: String
        public var probability: Float
    }

    public struct OutputFile: Codable, Equatable, Sendable {
        public var path: String
        public var size: Int
        public var sha256: String
    }

    /// The record without its times, for comparing runs.
    public var withoutTimes: BatchRecord {
        var copy = self
        copy.seconds = [:]
        return copy
    }

    /// Whether every file the record names is in `directory` with its recorded size and digest.
    public func filesAreIntact(in directory: String) -> Bool {
        files.allSatisfy { file in
            let path = "\(directory)/\(file.path)"
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                (attributes[.size] as? NSNumber)?.intValue == file.size,
                let data = FileManager.default.contents(atPath: path)
            else { return false }
            return SHA256.hex(data) == file.sha256
        }
    }

    /// One JSON line, keys sorted, ending in a newline.
    func line() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try encoder.encode(self) + Data("\n".utf8)
    }

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }()
}

/// A file of records, one JSON line each, appended to as images finish.
enum RecordFile {
    /// The records of the file at `path` (none when it does not exist). A last line without its
    /// newline is what a killed run leaves mid-append: it is discarded, and with `repair` cut
    /// from the file. Any other line that is not a record is an error naming the file and line.
    static func read(_ path: String, repair: Bool = false) throws -> [BatchRecord] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let data = try readFile(path, what: "record file")
        var complete = data
        if let last = data.last, last != UInt8(ascii: "\n") {
            let end = data.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? data.startIndex
            complete = data[data.startIndex..<end]
            if repair { try truncate(path, to: end - data.startIndex) }
        }
        var records: [BatchRecord] = []
        for (number, line) in complete.split(separator: UInt8(ascii: "\n")).enumerated() {
            do {
                records.append(try BatchRecord.decoder.decode(BatchRecord.self, from: Data(line)))
            } catch {
                throw LoupeIOError("\(path), line \(number + 1), is not a batch record; the file is damaged")
            }
        }
        return records
    }

    /// Appends `record` as one line, in one write.
    static func append(_ record: BatchRecord, to path: String) throws {
        let line = try record.line()
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard descriptor >= 0 else { throw LoupeIOError("cannot open '\(path)': \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        let written = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == line.count else { throw LoupeIOError("cannot append to '\(path)': \(String(cString: strerror(errno)))") }
    }

    private static func truncate(_ path: String, to length: Int) throws {
        guard Foundation.truncate(path, off_t(length)) == 0 else {
            throw LoupeIOError("cannot repair '\(path)': \(String(cString: strerror(errno)))")
        }
    }
}
