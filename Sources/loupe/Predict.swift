import ArgumentParser
import Foundation
import Loupe

struct Predict: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Classify an image and print the top classes.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var input: InputOptions

    @Option(help: "How many classes to print.")
    var top = 5

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Option(help: "Write the model's raw output vector (float32 .npy).")
    var raw: String?

    func validate() throws {
        guard top >= 1 else { throw ValidationError("--top must be at least 1; got \(top)") }
    }

    func run() throws {
        let loaded = try model.load()
        let x = try input.read(for: loaded)
        let logits = withoutGradients { loaded.module(x) }
        guard logits.rank == 2, logits.shape[0] == 1 else {
            throw ValidationError("the model returned shape \(logits.shape), not [1, classes]")
        }
        // The graph's own output, and the probabilities as it gives them: where Loupe scores the
        // logits before a Softmax (or LogSoftmax), that head applied to them; kept, the output itself.
        let head = loaded.onnxModule?.probabilityHead
        let given = loaded.onnxModule?.returnsProbabilities == true
        let output =
            given || head == nil ? logits : head == .softmax ? logits.softmax(along: 1) : logits.logSoftmax(along: 1)
        if let raw { try NPY.write(output[0], to: raw) }
        let probabilities = loaded.probabilities(fromScores: logits)[0].scalars
        let scores = logits[0].scalars
        let ranked = probabilities.indices.sorted { probabilities[$0] > probabilities[$1] }.prefix(top)
        if json {
            let rows = ranked.map {
                [
                    "index": $0, "label": loaded.className($0), "probability": Double(probabilities[$0]),
                    "logit": Double(scores[$0]),
                ] as [String: Any]
            }
            let data = try JSONSerialization.data(withJSONObject: ["top": rows], options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        for (rank, index) in ranked.enumerated() {
            print(
                String(
                    format: "%d. %@ (%d)  p=%.4f  logit=%.4f", rank + 1, loaded.className(index), index,
                    probabilities[index], scores[index]))
        }
    }
}
