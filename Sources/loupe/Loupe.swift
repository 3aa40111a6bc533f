import ArgumentParser
import Foundation

@main
struct LoupeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loupe",
        abstract: "See inside a convolutional image classifier.",
        discussion: "Layer activations, saliency, Grad-CAM and more, on a Swift tensor engine running oneDNN.",
        version: loupeVersion,
        subcommands: [
            Predict.self, Explain.self, Activations.self, Filters.self, Summary.self, Train.self,
            Evaluate.self, ReportCommand.self, MetricsCommand.self, BatchCommand.self, MergeCommand.self, Demo.self, Bench.self,
        ]
    )

    /// Runs the command; a failure prints one line on stderr and exits with 2 for a usage error
    /// (bad or missing options) or 1 for bad data (unreadable files, wrong shapes).
    static func main() {
        do {
            // `--letterbox` alone means `--letterbox=center` (ArgumentParser has no options with
            // an optional value).
            let arguments = CommandLine.arguments.dropFirst().map { $0 == "--letterbox" ? "--letterbox=center" : $0 }
            var command = try parseAsRoot(Array(arguments))
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .success {  // --help and --version
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            let isUsageError = code == .validationFailure
            let text = isUsageError ? message(for: error) : "\(error)"
            let hint = isUsageError ? " (see loupe --help)" : ""
            FileHandle.standardError.write(Data("error: \(oneLine(text))\(hint)\n".utf8))
            Foundation.exit(isUsageError ? 2 : 1)
        }
    }

    /// `text`'s first line, with a list ArgumentParser prints one item per line (`- 'jet'`, the
    /// values an option takes) joined onto it.
    static func oneLine(_ text: String) -> String {
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let items = lines.dropFirst().prefix { $0.hasPrefix("- ") }.map { $0.dropFirst(2) }
        return (lines.first ?? "") + (items.isEmpty ? "" : " " + items.joined(separator: ", "))
    }
}

let loupeVersion = "0.1.0"
