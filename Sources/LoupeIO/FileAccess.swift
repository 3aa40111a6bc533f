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

/// Writes `data` to `path` atomically: to a temporary file beside it, then renamed, so a failed
/// run never leaves a partial file.
public func writeFileAtomically(_ data: Data, to path: String) throws {
    let url = URL(fileURLWithPath: path)
    do {
        try data.write(to: url, options: .atomic)
    } catch {
        throw LoupeIOError("cannot write '\(path)': \(error.localizedDescription)")
    }
}
