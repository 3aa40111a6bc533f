import Foundation
import LoupeExplain
import Testing

/// The method registry is the only list of methods: the command line's method names and help,
/// the report's `--methods all`, and the tests all read it, and no source or test file keeps a
/// list of its own (which a new method would have to be added to by hand).
@Suite("the method registry is the only list")
struct RegistryIsTheOnlyListTests {
    /// The executable's methods (this process may register more).
    private let names = MethodRegistry.builtIn.map(\.name)

    @Test func theCommandLineListsTheRegistrysMethodsInItsOrder() throws {
        for command in ["explain", "report"] {
            let help = try LoupeProcess.run([command, "--help"], environment: ["COLUMNS": "400"])
            #expect(help.status == 0)
            // The method lines: "  name: summary".
            let listed = help.output.split(separator: "\n").compactMap { line -> String? in
                guard line.hasPrefix("  "), !line.hasPrefix("   "), let colon = line.firstIndex(of: ":") else { return nil }
                let name = line[line.index(line.startIndex, offsetBy: 2)..<colon]
                return name.contains(" ") ? nil : String(name)
            }
            #expect(listed == names, "\(command) --help")
        }
        let unknown = try LoupeProcess.run([
            "explain", "--arch", "squeezenet1_1", "--image", "Samples/fashion/0000-ankle-boot.png", "--method", "nope",
        ])
        #expect(unknown.status != 0 && unknown.error.contains(names.joined(separator: ", ")))
    }

    @Test func reportWithAllRunsEveryMethod() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-all-\(UUID())")
        defer { try? FileManager.default.removeItem(at: folder) }
        let result = try LoupeProcess.run([
            "report", "--model", "Models/fashion-cnn.safetensors", "--images", "Samples/fashion/0000-ankle-boot.png",
            "--methods", "all", "--samples", "2", "--steps", "4", "--window", "14", "--stride", "14", "--out", folder.path,
        ])
        #expect(result.status == 0, "\(result.error)")
        #expect(result.output.contains("(1 images, \(names.count) methods)"))
        let html = try String(contentsOfFile: folder.appendingPathComponent("index.html").path, encoding: .utf8)
        for name in names { #expect(html.contains("alt=\"\(name)\""), "\(name) missing from the report") }
    }

    /// No Swift file keeps its own list of methods: no line names three or more methods as string
    /// literals (a method's own file names it once, in its declaration).
    @Test func noFileKeepsAListOfMethods() throws {
        let quoted = names.map { "\"\($0)\"" }
        var lists: [String] = []
        for folder in ["Sources", "Tests"] {
            let root = LoupeProcess.root.appendingPathComponent(folder)
            let files = try #require(FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil))
            for case let file as URL in files where file.pathExtension == "swift" {
                let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n")
                for (number, line) in lines.enumerated() where quoted.filter({ line.contains($0) }).count >= 3 {
                    lists.append("\(file.lastPathComponent):\(number + 1)")
                }
            }
        }
        #expect(lists.isEmpty, "method lists outside the registry: \(lists)")
    }
}
