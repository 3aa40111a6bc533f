import Foundation
import LoupeIO
import LoupeTensor
import Testing

/// ONNX's own backend node tests (Debian's libonnx-testdata): every test whose operators Loupe
/// supports must match its reference outputs, except the variants listed with a reason in
/// `knownFailures` (the "Conformance" section of docs/onnx.md gives the whole table).
@Suite("ONNX node tests")
struct ONNXNodeTests {
    static let dataDirectory =
        ProcessInfo.processInfo.environment["LOUPE_ONNX_TESTDATA"]
        ?? "/usr/share/libonnx-testdata/data/node"

    /// Variants that fail for a reason Loupe accepts, each explained.
    static let knownFailures: [String: String] = [
        "test_averagepool_3d_default":
            "3-D pooling: Loupe runs 1-D and 2-D windows (image classifiers).",
        "test_batchnorm_epsilon_training_mode":
            "training_mode=1 (batch statistics and running-stat outputs): Loupe runs graphs for inference.",
        "test_batchnorm_example_training_mode":
            "training_mode=1 (batch statistics and running-stat outputs): Loupe runs graphs for inference.",
        "test_cast_BFLOAT16_to_FLOAT":
            "the test data stores bfloat16 bits in a uint16 tensor, so the input reads as integers.",
        "test_cast_FLOAT_to_BFLOAT16":
            "the expected output is bfloat16 bits in a uint16 tensor; Loupe keeps floats as Float32.",
        "test_cast_FLOAT_to_STRING":
            "string tensors are not supported.",
        "test_cast_STRING_to_FLOAT":
            "string tensors are not supported.",
        "test_castlike_BFLOAT16_to_FLOAT_expanded":
            "the test data stores bfloat16 bits in a uint16 tensor, so the input reads as integers.",
        "test_castlike_FLOAT_to_BFLOAT16_expanded":
            "the expected output is bfloat16 bits in a uint16 tensor; Loupe keeps floats as Float32.",
        "test_castlike_FLOAT_to_STRING_expanded":
            "string tensors are not supported.",
        "test_castlike_STRING_to_FLOAT_expanded":
            "string tensors are not supported.",
        "test_identity_opt":
            "optional-typed values are not supported (only tensors).",
        "test_identity_sequence":
            "sequence-typed values are not supported (only tensors).",
        "test_maxpool_3d_default":
            "3-D pooling: Loupe runs 1-D and 2-D windows (image classifiers).",
        "test_maxpool_with_argmax_2d_precomputed_pads":
            "MaxPool's second output (Indices) is not supported; classifiers never read it.",
        "test_maxpool_with_argmax_2d_precomputed_strides":
            "MaxPool's second output (Indices) is not supported; classifiers never read it.",
        "test_resize_downsample_scales_cubic":
            "cubic interpolation is not supported (nearest and linear are).",
        "test_resize_downsample_scales_cubic_A_n0p5_exclude_outside":
            "cubic interpolation is not supported (nearest and linear are).",
        "test_resize_downsample_scales_cubic_align_corners":
            "cubic interpolation is not supported (nearest and linear are).",
        "test_resize_downsample_sizes_cubic":
            "cubic interpolation is not supported (nearest and linear are).",
        "test_resize_tf_crop_and_resize":
            "coordinate_transformation_mode tf_crop_and_resize (with a region of interest) is not supported.",
        "test_resize_upsample_scales_cubic":
            "cubic interpolation is not supported (nearest and linear are).",
        "test_resize_upsample_scales_cubic_A_n0p5_exclude_outside":
            "cubic interpolation is not supported (nearest and linear are).",
        "test_resize_upsample_scales_cubic_align_corners":
            "cubic interpolation is not supported (nearest and linear are).",
        "test_resize_upsample_scales_cubic_asymmetric":
            "cubic interpolation is not supported (nearest and linear are).",
        "test_resize_upsample_sizes_cubic":
            "cubic interpolation is not supported (nearest and linear are).",
        "test_training_dropout":
            "Dropout with training_mode=1 draws random masks; Loupe runs graphs for inference.",
        "test_training_dropout_default":
            "Dropout with training_mode=1 draws random masks; Loupe runs graphs for inference.",
        "test_training_dropout_default_mask":
            "Dropout with training_mode=1 draws random masks; Loupe runs graphs for inference.",
        "test_training_dropout_mask":
            "Dropout with training_mode=1 draws random masks; Loupe runs graphs for inference.",
    ]

    struct Outcome {
        let name: String
        let operations: [String]
        /// nil: passed; otherwise why not.
        let failure: String?
        let supported: Bool
    }

    static func runAll(_ directory: String = dataDirectory) throws -> [Outcome] {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("test_") }.sorted()
        return names.map { name in
            let folder = "\(directory)/\(name)"
            let graph: ONNXGraph
            let operations = (try? ONNXGraph.operatorTypes(inModelAt: "\(folder)/model.onnx")) ?? []
            do {
                graph = try ONNXGraph.load("\(folder)/model.onnx")
            } catch {
                let text = "\(error)"
                let unsupported = text.contains("operators Loupe does not support") || text.contains("opset")
                return Outcome(name: name, operations: operations, failure: text, supported: !unsupported)
            }
            // The file's operators: Constant nodes Loupe lifts to initializers still count.
            return Outcome(
                name: name, operations: operations.isEmpty ? graph.operations : operations,
                failure: check(graph, folder: folder), supported: true)
        }
    }

    /// Runs every data set of a test; nil when all outputs match within ONNX's tolerances
    /// (|Δ| ≤ 1e-5 + 1e-3·|expected|; integers exactly).
    static func check(_ graph: ONNXGraph, folder: String) -> String? {
        do {
            let sets = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix("test_data_set_") }
                .sorted()
            for set in sets {
                var feeds: [String: ONNXValue] = [:]
                for (index, input) in graph.inputs.enumerated() {
                    feeds[input.name] = try ONNXValue.read(tensorFile: "\(folder)/\(set)/input_\(index).pb")
                }
                let results = try graph.run(feeds)
                for (index, output) in graph.outputs.enumerated() {
                    let expected = try ONNXValue.read(tensorFile: "\(folder)/\(set)/output_\(index).pb")
                    guard let got = results[output] else { return "output \(output) missing" }
                    guard got.shape == expected.shape else {
                        return "output \(index): shape \(got.shape), expected \(expected.shape)"
                    }
                    if case .integer(let want) = expected {
                        guard case .integer(let have) = got, have.values == want.values else {
                            return "output \(index): integers differ"
                        }
                        continue
                    }
                    let (have, want) = (got.tensor.scalars, expected.tensor.scalars)
                    for (a, b) in zip(have, want) where !(abs(a - b) <= 1e-5 + 1e-3 * abs(b) || (a.isNaN && b.isNaN) || a == b) {
                        return "output \(index): \(a) where \(b) was expected"
                    }
                }
            }
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func supportedOperatorsMatchTheReferenceOutputs() throws {
        guard FileManager.default.fileExists(atPath: Self.dataDirectory) else {
            #if os(Linux)
            Issue.record("ONNX test data missing at \(Self.dataDirectory): install libonnx-testdata (make test does)")
            #endif
            return
        }
        let outcomes = try Self.runAll()
        if let path = ProcessInfo.processInfo.environment["LOUPE_ONNX_REPORT"] {
            try Self.table(outcomes).write(toFile: path, atomically: true, encoding: .utf8)
        }
        let supported = outcomes.filter(\.supported)
        #expect(supported.count > 100, "only \(supported.count) node tests ran")
        for outcome in supported {
            if let reason = Self.knownFailures[outcome.name] {
                #expect(outcome.failure != nil, "\(outcome.name) now passes; remove it from knownFailures (\(reason))")
            } else {
                #expect(
                    outcome.failure == nil,
                    "\(outcome.name) [\(outcome.operations.joined(separator: ","))]: \(outcome.failure ?? "")")
            }
        }
    }

    /// Opset 18-21 forms the Debian suite predates (Tools/fixtures/make_onnx_opset_tests.py,
    /// onnxruntime's outputs in ONNX's test layout): all must pass.
    @Test func newerOperatorSetsMatchOnnxruntime() throws {
        let directory = try #require(Bundle.module.url(forResource: "Fixtures/onnx-node", withExtension: nil)).path
        let outcomes = try Self.runAll(directory)
        #expect(outcomes.count == 14)
        for outcome in outcomes {
            #expect(outcome.supported && outcome.failure == nil, "\(outcome.name): \(outcome.failure ?? "")")
        }
    }

    /// The conformance table: per supported operator, its node tests passed, failed (with the
    /// reason) and not run because they also need an unsupported operator.
    static func table(_ outcomes: [Outcome]) -> String {
        var text = "| operator | passed | failed | not run |\n|---|---|---|---|\n"
        var details = ""
        for operation in ONNXGraph.supportedOperators.sorted() {
            let mine = outcomes.filter { $0.operations.contains(operation) }
            let passed = mine.filter { $0.supported && $0.failure == nil }
            let failed = mine.filter { $0.supported && $0.failure != nil }
            let notRun = mine.filter { !$0.supported }
            text += "| \(operation) | \(passed.count) | \(failed.count) | \(notRun.count) |\n"
            for outcome in failed {
                details += "- `\(outcome.name)` (\(operation)): \(knownFailures[outcome.name] ?? outcome.failure ?? "")\n"
            }
        }
        return text + "\nFailures, variant by variant:\n\n" + details
    }
}
