import Foundation

/// Reads a whole file, turning failures into one clear ``LoupeIOError``.
public func readFile(_ path: String, what: String) throws -> Data {
    guard FileManager.default.fileExists(atPath: path) else {
        throw LoupeIOError("\(what) '\(path)' does not exist")
    }
    do {
        return try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
    } catch {
        throw LoupeIOError("cannot read \(what) '\(path)': \(error.localizedDescription)")
    }
}

/// Writes `data` to `path` atomically: to a temporary file beside it (``partialFileSuffix``),
/// then renamed, so a failed or killed run never leaves a partial file under the final name.
public func writeFileAtomically(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    let temporary = url.deletingLastPathComponent().appendingPathComponent(
        ".\(url.lastPathComponent).\(getpid())\(partialFileSuffix)")
    do {
        try data.write(to: temporary)
    } catch {
        try? FileManager.default.removeItem(at: temporary)
        throw LoupeIOError("cannot write '\(path)': \(error.localizedDescription)")
    }
    guard rename(temporary.path, url.path) == 0 else {
        let reason = String(cString: strerror(errno))
        try? FileManager.default.removeItem(at: temporary)
        throw LoupeIOError("cannot write '\(path)': \(reason)")
    }
}

/// How the temporary files of ``writeFileAtomically(_:to:)`` end: what a killed run can leave
/// behind, and a resumed one removes.
public let partialFileSuffix = ".partial"

/// Removes the temporary files that killed writers of `path` left beside it
/// (``writeFileAtomically(_:to:)``'s `.<name>.<pid>.partial`), those whose process is gone;
/// a writer still running on this machine keeps its own.
public func removeAbandonedPartialFiles(of path: String) {
    let url = URL(fileURLWithPath: path)
    let folder = url.deletingLastPathComponent().path
    let prefix = ".\(url.lastPathComponent)."
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
    for entry in entries where entry.hasPrefix(prefix) && entry.hasSuffix(partialFileSuffix) {
        let pid = entry.dropFirst(prefix.count).dropLast(partialFileSuffix.count)
        guard let number = Int32(pid), kill(number, 0) != 0, errno == ESRCH else { continue }
        try? FileManager.default.removeItem(atPath: "\(folder)/\(entry)")
    }
}

/// Writes `value` as JSON (pretty-printed, keys sorted, so the files diff well), atomically.
public func writeJSON<Value: Encodable>(_ value: Value, to path: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    // A diverged training's losses are NaN or infinite; JSON has no such numbers.
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    try writeFileAtomically(try encoder.encode(value), to: path)
}

/// Reads a JSON file Loupe writes (`what` says which, for the error).
func readJSON<Value: Decodable>(_ type: Value.Type, from path: String, what: String) throws -> Value {
    do {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try decoder.decode(type, from: try readFile(path, what: what))
    } catch let error as LoupeIOError {
        throw error
    } catch {
        throw LoupeIOError("\(path): not valid \(what) (\(error))")
    }
}

/// The product of sizes read from a file, or `nil` when it overflows `Int` (a hostile header).
func checkedProduct(_ values: [Int]) -> Int? {
    var product = 1
    for value in values {
        guard value >= 0 else { return nil }
        let (next, overflow) = product.multipliedReportingOverflow(by: value)
        if overflow { return nil }
        product = next
    }
    return product
}

/// The unsigned integer that `bytes` (at most 8) spell, least significant first: the byte order of
/// every binary header Loupe reads (safetensors, NPY, zip, pickles, torch.save's legacy storages).
func littleEndian<Bytes: Collection>(_ bytes: Bytes) -> UInt64 where Bytes.Element == UInt8 {
    bytes.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
}
