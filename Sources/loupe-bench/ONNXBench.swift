import ArgumentParser
import Dispatch
import Foundation
import LoupeIO
import LoupeTensor

/// One ONNX model: load time, the median forward time, and the output for comparison.
struct ONNXBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "onnx", abstract: "Load an ONNX model, run it on an input, time the forward pass (JSON out).")

    @Option(help: "The .onnx file.")
    var model: String

    @Option(help: "The input (.npy), in the model's own layout, with its batch dimension.")
    var input: String

    @Option(help: "Where to write the first output (.npy).")
    var output: String

    @Option(help: "Timed forward passes (the median is reported).")
    var repeats = 5

    func run() throws {
        let loadStart = DispatchTime.now().uptimeNanoseconds
        let loaded = try LoadedModel.load(model, architecture: nil)
        let loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - loadStart) / 1e9
        let x = try loaded.input(image: nil, array: input)
        var result = Tensor.zeros([1])
        var times: [Double] = []
        for _ in 0...repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            result = withoutGradients { loaded.module(x) }
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        try NPY.write(result, to: output)
        let median = times.dropFirst().sorted()[repeats / 2]
        print("{\"load_s\": \(loadSeconds), \"forward_s\": \(median)}")
    }
}
