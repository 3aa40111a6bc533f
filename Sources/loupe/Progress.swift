import Foundation

/// A progress line on stderr that rewrites itself; silent when stderr is not a terminal, so
/// logs get the results, not hundreds of progress steps.
enum Progress {
    nonisolated(unsafe) private static var width = 0
    private static let isTerminal = isatty(STDERR_FILENO) != 0

    static func line(_ text: String) {
        guard isTerminal else { return }
        let padding = String(repeating: " ", count: max(0, width - text.count))
        width = text.count
        FileHandle.standardError.write(Data("\r\(text)\(padding)".utf8))
    }

    static func finish() {
        if width > 0 { FileHandle.standardError.write(Data("\n".utf8)) }
        width = 0
    }
}
