import Foundation
import LoupeIO

/// What a batch run does, fixed before any work: the images in order, how they are cut into
/// passes and shards, and the arguments that shape every output.
///
/// Every shard of a run writes `DIR/plan.json` if it is absent, or checks that its own plan is
/// equal to the one there; a shard whose plan differs (another source, a changed file, other
/// arguments, another shard count) refuses before any work. `loupe merge` reads the plan to name
/// every image no shard finished.
public struct BatchPlan: Codable, Equatable, Sendable {
    /// The plan format's version.
    public var version = 1
    /// The source: its kind and path as given.
    public var source: Source
    /// Every file the source was read from, and the model file, with their sizes and times.
    public var fingerprint: [DataSource.FileStamp]
    /// The images in order; an image's identity is its position here.
    public var items: [DataSource.Item]
    /// Names for the labels, when the source carries them.
    public var classNames: [String]?
    /// How many shards the run is cut into.
    public var shards: Int
    /// Images per pass: passes are formed by global image index (pass k holds images
    /// `k·passSize ..< (k+1)·passSize`), so every sharding and every resumption computes
    /// exactly the same passes.
    public var passSize: Int
    /// The arguments that shape the outputs, by option name.
    public var arguments: [String: String]

    public struct Source: Codable, Equatable, Sendable {
        public var kind: DataSource.Kind
        public var path: String
        public var labels: String?
    }

    public init(
        source: DataSource, labels: String?, model: DataSource.FileStamp, shards: Int, passSize: Int,
        arguments: [String: String]
    ) {
        self.source = Source(kind: source.kind, path: source.path, labels: labels)
        self.fingerprint = source.fingerprint + [model]
        self.items = source.items
        self.classNames = source.classNames
        self.shards = shards
        self.passSize = passSize
        self.arguments = arguments
    }

    /// How many passes the images make.
    public var passCount: Int { (items.count + passSize - 1) / passSize }

    /// The passes shard `index` (0-based) computes: a contiguous run of the passes, the runs of
    /// all shards covering them once.
    public func passes(ofShard index: Int) -> Range<Int> {
        (index * passCount / shards)..<((index + 1) * passCount / shards)
    }

    /// The images of pass `pass`.
    public func images(ofPass pass: Int) -> Range<Int> {
        (pass * passSize)..<Swift.min((pass + 1) * passSize, items.count)
    }

    /// The images shard `index` explains.
    public func images(ofShard index: Int) -> Range<Int> {
        let passes = passes(ofShard: index)
        return passes.isEmpty
            ? 0..<0 : images(ofPass: passes.lowerBound).lowerBound..<images(ofPass: passes.upperBound - 1).upperBound
    }

    /// The shard that explains image `index`.
    public func shard(ofImage index: Int) -> Int {
        (0..<shards).first { images(ofShard: $0).contains(index) } ?? 0
    }

    /// The plan's file in a run folder.
    public static func path(in directory: String) -> String { "\(directory)/plan.json" }

    /// Writes this plan into `directory` when it has none, or checks it against the one there,
    /// throwing one line that says what differs.
    public func establish(in directory: String) throws {
        let path = Self.path(in: directory)
        removeAbandonedPartialFiles(of: path)
        if !FileManager.default.fileExists(atPath: path) {
            do {
                try writeJSON(self, to: path)
                return
            } catch  where FileManager.default.fileExists(atPath: path) {
                // Another shard wrote it first: check against that one.
            }
        }
        let existing = try Self.read(from: directory)
        if let difference = difference(from: existing) {
            throw LoupeIOError(
                "\(path) was planned differently: \(difference); use another --out, or the arguments and data of that run")
        }
    }

    /// Reads the plan of a run folder.
    public static func read(from directory: String) throws -> BatchPlan {
        let path = Self.path(in: directory)
        let data = try readFile(path, what: "batch plan")
        do {
            return try JSONDecoder().decode(BatchPlan.self, from: data)
        } catch {
            throw LoupeIOError("\(path) is not a Loupe batch plan")
        }
    }

    /// The first way `other` differs from this plan, in words; nil when they are equal.
    func difference(from other: BatchPlan) -> String? {
        if version != other.version { return "plan version \(other.version), not \(version)" }
        if source != other.source {
            return "the data was \(other.source.path) (\(other.source.kind.rawValue)), not \(source.path)"
        }
        if shards != other.shards { return "it has \(other.shards) shards, not \(shards)" }
        if passSize != other.passSize { return "its passes are \(other.passSize) images, not \(passSize)" }
        for key in Set(arguments.keys).union(other.arguments.keys).sorted() where arguments[key] != other.arguments[key] {
            return "--\(key) was \(other.arguments[key] ?? "not given"), not \(arguments[key] ?? "not given")"
        }
        if fingerprint != other.fingerprint {
            let before = Dictionary(other.fingerprint.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
            let now = Dictionary(fingerprint.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
            if let added = fingerprint.first(where: { before[$0.path] == nil }) { return "\(added.path) is new" }
            if let removed = other.fingerprint.first(where: { now[$0.path] == nil }) { return "\(removed.path) is gone" }
            if let changed = fingerprint.first(where: { before[$0.path] != $0 }) {
                return "\(changed.path) changed (its size or modification time)"
            }
            return "the files are listed in another order"
        }
        if items != other.items { return "the images or their labels differ" }
        if classNames != other.classNames { return "the class names differ" }
        return nil
    }
}
