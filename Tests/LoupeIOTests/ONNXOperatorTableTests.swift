import Foundation
import LoupeIO
import Testing

/// The operator table is the one list: the docs' operator list must be the table's.
@Suite("ONNX operator table")
struct ONNXOperatorTableTests {
    @Test func theDocsListTheTablesOperators() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let docs = try String(contentsOf: root.appendingPathComponent("docs/onnx.md"), encoding: .utf8)
        let section = try #require(docs.components(separatedBy: "## Operators\n").dropFirst().first)
        let list = try #require(section.split(separator: "\n").first { !$0.isEmpty })
        let documented = list.trimmingCharacters(in: CharacterSet(charactersIn: ". ")).components(separatedBy: ", ")
        #expect(documented == ONNXGraph.supportedOperators.sorted(), "docs/onnx.md's list: \(documented)")
    }

    @Test func everyEntryIsConsistent() {
        #expect(ONNXGraph.operators.count == ONNXGraph.supportedOperators.count)
        let rearranging = Set(ONNXGraph.operators.values.filter(\.rearranges).map(\.name))
        #expect(rearranging == ["Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Expand"])
        for (name, entry) in ONNXGraph.operators {
            #expect(entry.name == name && (1...21).contains(entry.firstOpset), "\(name)")
        }
    }
}
