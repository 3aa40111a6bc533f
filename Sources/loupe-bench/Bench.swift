import ArgumentParser
import Dispatch
import Foundation
import LoupeTensor

@main
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loupe-bench",
        abstract: "Measure Loupe's kernels (build with -c release).",
        subcommands: [Ops.self, ONNXBench.self])
}

/// Op throughput: convolutions through oneDNN, sgemm, and an elementwise op.
struct Ops: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "GFLOP/s of convolutions and sgemm, GB/s of elementwise ops.")

    @Option(help: "Timed repetitions per measurement (the median is reported).")
    var repeats = 10

    @Flag(help: "Print one JSON object per measurement instead of a Markdown table.")
    var json = false

    func run() {
        if !json {
            print("| op | shape | median ms | throughput |")
            print("|---|---|---:|---:|")
        }
        var generator = RandomGenerator(seed: 1)
        for (channels, size) in [(64, 224), (256, 56), (512, 14)] {
            let input = Tensor.normal([1, channels, size, size], generator: &generator)
            let weight = Tensor.normal([channels, channels, 3, 3], standardDeviation: 0.05, generator: &generator)
            let flops = 2.0 * Double(channels * channels * 9 * size * size)
            let label = "3×3 \(channels)→\(channels) @\(size), batch 1"
            report("conv2d forward", label, flops, unit: "GFLOP/s") {
                _ = input.convolved2D(with: weight, padding: 1)
            }
            let output = input.convolved2D(with: weight, padding: 1)
            let seed = Tensor.ones(output.shape)
            let trackedInput = input.trackingGradients()
            let inputOnly = trackedInput.convolved2D(with: weight, padding: 1)
            report("conv2d backward-data", label, flops, unit: "GFLOP/s") {
                _ = gradients(of: inputOnly, at: [trackedInput], seed: seed)
            }
            let trackedWeight = weight.trackingGradients()
            let weightOnly = input.convolved2D(with: trackedWeight, padding: 1)
            report("conv2d backward-weights", label, flops, unit: "GFLOP/s") {
                _ = gradients(of: weightOnly, at: [trackedWeight], seed: seed)
            }
        }
        let matrixA = Tensor.normal([2048, 2048], generator: &generator)
        let matrixB = Tensor.normal([2048, 2048], generator: &generator)
        report("sgemm", "2048³", 2.0 * 2048 * 2048 * 2048, unit: "GFLOP/s") { _ = matrixA.matmul(matrixB) }
        let large = Tensor.normal([64, 64, 112, 112], generator: &generator)
        let bytes = Double(large.count * 4 * 3)  // two reads, one write
        report("add (same shape)", "[64, 64, 112, 112]", bytes, unit: "GB/s") { _ = large + large }
        report("relu", "[64, 64, 112, 112]", Double(large.count * 8), unit: "GB/s") { _ = large.relu() }
    }

    /// Times `body` (after one warm-up call) and prints a table row.
    private func report(_ name: String, _ shape: String, _ work: Double, unit: String, _ body: () -> Void) {
        body()
        var times: [Double] = []
        for _ in 0..<repeats {
            let start = DispatchTime.now().uptimeNanoseconds
            body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        let median = times.sorted()[times.count / 2]
        if json {
            print(
                "{\"op\": \"\(name)\", \"shape\": \"\(shape)\", \"median_s\": \(median), \"work\": \(work), \"unit\": \"\(unit)\"}"
            )
            return
        }
        print(
            "| \(name) | \(shape) | \(String(format: "%.2f", median * 1000)) | \(String(format: "%.0f", work / median / 1e9)) \(unit) |"
        )
    }
}
