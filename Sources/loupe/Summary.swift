import ArgumentParser
import Loupe

struct Summary: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print every layer's path, type, output shape and parameters, like torchinfo.")

    @OptionGroup var model: ModelOptions

    @Option(help: "Input size as C,H,W (default: the model's).")
    var inputSize: String?

    func run() throws {
        let loaded = try model.load(allowUntrained: true)
        var shape = loaded.metadata.inputShape
        if let inputSize {
            shape = try CommaList.positiveIntegers(inputSize, option: "--input-size")
            guard shape.count == 3 else {
                throw ValidationError("--input-size needs C,H,W; got '\(inputSize)'")
            }
        }
        do {
            _ = try loaded.module.outputShape(forInput: [1] + shape)
        } catch {
            throw ValidationError("--input-size \(shape.map(String.init).joined(separator: ",")): \(error)")
        }
        print(try ModelSummary(model: loaded.module, inputShape: [1] + shape).rendered())
        if let onnx = loaded.onnxModule {
            // Every graph output, the classified one marked (shapes for one image at the loaded size).
            print("Outputs:")
            for output in onnx.outputs {
                let role =
                    output.name == onnx.outputName
                    ? "  (classified"
                        + (onnx.probabilityHead.map { head in
                            onnx.returnsProbabilities
                                ? ", from \(head.rawValue)" : "; Loupe scores the logits before its \(head.rawValue)"
                        } ?? "") + ")" : ""
                print("  \(output.name)  [\(output.shape.map(String.init).joined(separator: ", "))]\(role)")
            }
        }
    }
}
