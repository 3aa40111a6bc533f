import Foundation
import LoupeExplain
import Testing

/// `loupe --help` and every subcommand's help, pinned word for word in `Help/<command>.txt`
/// (unwrapped: `COLUMNS` is set wide). The method list is not spelled out there: the pinned text
/// holds `{methods}` (one line per method), `{method names}` and `{default report methods}`, filled
/// in from the registry, so a
/// new method changes no file here. `LOUPE_RECORD_HELP=1` rewrites the files from the current
/// executable, for a deliberate change of the help; review their diff.
@Suite("help text")
struct HelpTests {
    static let commands = [
        "loupe", "predict", "explain", "activations", "filters", "summary", "train", "evaluate", "report", "metrics", "batch",
        "merge", "demo",
        "bench",
    ]
    private let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Help")

    /// The registry's part of the help, as the CLI writes it.
    private var placeholders: [(key: String, text: String)] {
        let methods = MethodRegistry.builtIn  // the executable's; this process may register more
        let lines = methods.map { method in
            let reads = method.settings.map { "--\($0.rawValue)" }.joined(separator: ", ")
            return "  \(method.name): \(method.summary)" + (reads.isEmpty ? "" : "; reads \(reads)")
        }
        return [
            ("{methods}", lines.joined(separator: "\n")), ("{method names}", methods.map(\.name).joined(separator: ", ")),
            ("{default report methods}", methods.filter(\.isInDefaultReport).map(\.name).joined(separator: ",")),
            ("{metrics}", metricLines.joined(separator: "\n")),
            ("{metric names}", MetricRegistry.all.map(\.name).joined(separator: ", ")),
        ]
    }

    /// The metric list as `loupe metrics --help` writes it: each metric, then its options.
    private var metricLines: [String] {
        MetricRegistry.all.map { metric in
            "  \(metric.name): \(metric.summary); \(metric.direction.rawValue) is better"
                + metric.parameters.map {
                    let value =
                        $0.defaultValue == $0.defaultValue.rounded() ? String(Int($0.defaultValue)) : String($0.defaultValue)
                    return "\n    \(metric.name).\($0.key) (default \(value)): \($0.summary)"
                }.joined()
        }
    }

    @Test(arguments: commands) func helpIsPinned(command: String) throws {
        let arguments = command == "loupe" ? ["--help"] : [command, "--help"]
        let result = try LoupeProcess.run(arguments, environment: ["COLUMNS": "1000"])
        #expect(result.status == 0 && result.error.isEmpty, "\(result.error)")
        let file = folder.appendingPathComponent("\(command).txt")
        if ProcessInfo.processInfo.environment["LOUPE_RECORD_HELP"] != nil {
            let pinned = placeholders.reduce(result.output) { $0.replacingOccurrences(of: $1.text, with: $1.key) }
            try pinned.write(to: file, atomically: true, encoding: .utf8)
        }
        let expected = placeholders.reduce(try String(contentsOf: file, encoding: .utf8)) {
            $0.replacingOccurrences(of: $1.key, with: $1.text)
        }
        #expect(result.output == expected, "loupe \(arguments.joined(separator: " ")) differs from Help/\(command).txt")
    }
}
