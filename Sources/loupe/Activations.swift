import ArgumentParser
import Foundation
import Loupe

struct Activations: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the feature maps of a layer for an input, with per-channel statistics.")

    @OptionGroup var model: ModelOptions
    @OptionGroup var input: InputOptions

    @Option(help: "The layer (module path, e.g. features.1 or layer4).")
    var layer: String

    @Option(help: "Channels to show, e.g. 0,3,5-9 (default: all).")
    var channels: String?

    @OptionGroup var grid: GridOptions

    @Option(help: "Grid PNG of the feature maps, each scaled to its own min...max.")
    var out: String?

    @Option(help: "Colormap for --out.")
    var colormap: Colormap = .viridis

    @OptionGroup var enlarging: EnlargeOptions

    @Option(help: "The tapped tensor without its batch dimension (float32 .npy).")
    var raw: String?

    func run() throws {
        let loaded = try model.load()
        let x = try input.read(for: loaded)
        let (_, taps) = try loaded.module.withTaps([layer]) { withoutGradients { loaded.module(x) } }
        guard let activation = taps[layer]?[0] else {
            throw ValidationError("layer '\(layer)' was not reached by the forward pass")
        }
        guard activation.rank == 3 else {
            if out != nil {
                throw ValidationError(
                    "--out draws feature maps, and '\(layer)' gives \(activation.shape) with no spatial axes; use --raw for its values"
                )
            }
            if let raw { try NPY.write(activation, to: raw) }
            print("\(layer): shape \(activation.shape) (not a feature map; --raw holds the values)")
            return
        }
        let selected =
            try channels.map { try parseIndexList($0, option: "--channels", count: activation.shape[0]) }
            ?? Array(0..<activation.shape[0])
        let maps = activation.gathered(selected)
        if let raw { try NPY.write(activation, to: raw) }
        print("\(layer): \(activation.shape[0]) channels of \(activation.shape[1])×\(activation.shape[2])")
        print("channel       mean        max   fraction > 0")
        for (index, channel) in selected.enumerated() {
            let map = maps[index]
            let positive = Float(map.scalars.filter { $0 > 0 }.count) / Float(map.count)
            print(String(format: "%7d %10.4f %10.4f %14.3f", channel, map.mean().scalar, map.max().scalar, positive))
        }
        if let out {
            try Render.grid(maps, columns: grid.columns, colormap: colormap).enlarged(by: enlarging.enlarge).writePNG(
                to: out)
        }
    }
}
