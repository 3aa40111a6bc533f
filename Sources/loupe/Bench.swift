import ArgumentParser
import Foundation
import Loupe

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `loupe bench`: times one workload on a loaded model, for comparison with PyTorch, Captum and
/// onnxruntime (Tools/bench/compare.py runs both sides).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time a workload (predict or an attribution method) and print one JSON line.",
        discussion: """
            Loads the model and input once, runs the workload --warmup times untimed, then --repeat times
            timed, and prints {"median_s", "min_s", "peak_rss_mb", ...}. Model loading is not timed; the
            peak resident memory is the whole process's. The target of every sample is its top class.
            A batch runs as Loupe runs one: predictions and attributions at most 4 samples per pass.
            Build with -c release: debug builds are many times slower.
            """)

    @OptionGroup var model: ModelOptions
    @OptionGroup var sizes: MethodSizeOptions

    @Option(help: "A float32 .npy array that is the model input, [C, H, W] or [1, C, H, W].")
    var input: String

    @Option(help: "predict, or an attribution method (\(methodNames)).")
    var method = "predict"

    @Option(help: "Copies of the input in the batch.")
    var batch = 1

    @Option(help: "Timed runs.")
    var `repeat` = 5

    @Option(help: "Untimed runs before the timed ones.")
    var warmup = 1

    @Option(
        help:
            "Layer for CAM methods, or several, comma-separated (default: the architecture's CAM layer, else the last spatial activation)."
    )
    var layer: String?

    @OptionGroup var cam: CAMOptions

    func validate() throws {
        if method != "predict" { _ = try attributionMethod(named: method) }
        guard (1...4096).contains(batch) else { throw ValidationError("--batch is 1...4096; got \(batch)") }
        guard (1...10_000).contains(`repeat`) else { throw ValidationError("--repeat is 1...10000; got \(`repeat`)") }
        guard (0...100).contains(warmup) else { throw ValidationError("--warmup is 0...100; got \(warmup)") }
    }

    func run() throws {
        let loaded = try model.load()
        let single = try loaded.input(image: nil, array: input)
        let x = Tensor.concatenate(Array(repeating: single, count: batch), along: 0)
        let network = loaded.module
        let scores = network.predictions(for: x)
        let target = ExplanationTarget.classes((0..<batch).map { scores[$0].argmax() })

        var options = AttributionMethod.Options()
        sizes.apply(to: &options)
        try cam.apply(to: &options, layers: layer, option: "--layer")
        let attribution = method == "predict" ? nil : try attributionMethod(named: method)
        let workload = {
            if let attribution {
                _ = try attribution.attribute(network, input: x, target: target, options: options)
            } else {
                _ = network.predictions(for: x)
            }
        }
        for _ in 0..<warmup { try workload() }
        var seconds: [Double] = []
        for _ in 0..<`repeat` {
            let start = DispatchTime.now().uptimeNanoseconds
            try workload()
            seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        seconds.sort()
        let median =
            seconds.count % 2 == 1
            ? seconds[seconds.count / 2]
            : (seconds[seconds.count / 2 - 1] + seconds[seconds.count / 2]) / 2
        print(
            "{\"median_s\": \(median), \"min_s\": \(seconds[0]), \"peak_rss_mb\": \(peakResidentMegabytes()), "
                + "\"method\": \"\(method)\", \"batch\": \(batch), \"repeat\": \(`repeat`)}")
    }
}

/// The most memory the process has held resident so far, in MB: Linux's VmHWM (getrusage's
/// figure survives exec, so it would count the parent's peak), macOS's ru_maxrss.
func peakResidentMegabytes() -> Double {
    #if canImport(Darwin)
    var usage = rusage()
    getrusage(RUSAGE_SELF, &usage)
    return Double(usage.ru_maxrss) / 1_048_576  // bytes
    #else
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
    let kilobytes = line.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0
    return kilobytes / 1024
    #endif
}
