import ArgumentParser
import Foundation

/// Comma-separated option values (`--mean 0.485,0.456,0.406`), read strictly: every entry must read
/// as a value, or the option is refused naming the entry and its position. (Dropping entries that
/// did not read took `--input-size 3,a,224,224` as `[3, 224, 224]`.)
enum CommaList {
    /// The entries of `text`, the value of `option`, each made by `read`, which returns `nil` for
    /// one it cannot read; `kind` names what an entry should be ("an integer").
    static func entries<Value>(
        _ text: String, of kind: String, option: String, _ read: (String) -> Value?
    ) throws -> [Value] {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        return try parts.enumerated().map { index, part in
            guard let value = read(part) else {
                throw ValidationError("\(option): entry \(index + 1) of '\(text)', '\(part)', is not \(kind)")
            }
            return value
        }
    }

    /// Positive integers, such as sizes.
    static func positiveIntegers(_ text: String, option: String) throws -> [Int] {
        try entries(text, of: "a positive integer", option: option) { Int($0).flatMap { $0 > 0 ? $0 : nil } }
    }

    /// Finite numbers, such as `0.5,0.5,0.5`.
    static func numbers(_ text: String, option: String) throws -> [Float] {
        try entries(text, of: "a finite number", option: option) { Float($0).flatMap { $0.isFinite ? $0 : nil } }
    }

    /// Non-empty names, such as class names.
    static func names(_ text: String, option: String) throws -> [String] {
        try entries(text, of: "a name", option: option) { $0.isEmpty ? nil : $0 }
    }
}
