import Foundation
import LoupeRender
import LoupeTensor
import Testing

/// Colormaps and scalings against matplotlib's and Captum's own numbers
/// (Tools/render/make_render_data.py writes the fixtures).
@Suite("colormaps and scaling")
struct ColormapTests {
    private func fixture(_ name: String) throws -> [String: Any] {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: "json"))
        return try #require(JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
    }

    @Test func everyColormapMatchesMatplotlibAtFivePoints() throws {
        let data = try fixture("colormaps")
        let points = try #require(data["points"] as? [Double])
        let maps = try #require(data["maps"] as? [String: [[Double]]])
        #expect(
            Set(maps.keys) == Set(["viridis", "magma", "inferno", "plasma", "hot", "jet", "gray", "gistEarth", "blueWhiteRed"]))
        #expect(Colormap.allCases.count == maps.count)
        for colormap in Colormap.allCases {
            let key = colormap == .gistEarth ? "gistEarth" : colormap == .blueWhiteRed ? "blueWhiteRed" : colormap.rawValue
            let expected = try #require(maps[key])
            for (point, color) in zip(points, expected) {
                let got = colormap.color(at: Float(point))
                #expect(
                    abs(Double(got.red) - color[0]) < 1e-6 && abs(Double(got.green) - color[1]) < 1e-6
                        && abs(Double(got.blue) - color[2]) < 1e-6, "\(colormap) at \(point): \(got) vs \(color)")
            }
        }
    }

    @Test func colorizeLaysColorsOutAsChannels() {
        // bwr: 0 is blue, 0.5 is (nearly) white, 1 is red; out-of-range values clamp, NaN is the lowest.
        let colors = Colormap.blueWhiteRed.colorize(Tensor(shape: [1, 5], scalars: [0, 0.5, 1, 7, .nan]))
        #expect(colors.shape == [3, 1, 5])
        #expect(colors.scalars[0..<5] == [0, 1, 1, 1, 0])  // red
        #expect(colors.scalars[10..<15] == [1, Float(254) / 255, 0, 0, 1])  // blue
    }

    @Test func percentileScalingMatchesCaptum() throws {
        let data = try fixture("scaling")
        let shape = try #require(data["shape"] as? [Int])
        let map = Tensor(shape: shape, scalars: try #require(data["map"] as? [Double]).map(Float.init))
        for (sign, outlier) in [("all", 2), ("all", 10), ("absolute_value", 2), ("absolute_value", 10)] {
            let expected = try #require(data["\(sign)-\(outlier)"] as? [Double]).map(Float.init)
            let input = sign == "all" ? map : map.abs()
            let got = MapScaling.percentile(outlierPercent: Float(outlier)).scaled(input).scalars
            let worst = zip(got, expected).map { abs($0 - $1) }.max()!
            #expect(worst < 1e-6, "\(sign), \(outlier)%: max |Δ| \(worst)")
            #expect(expected.contains { abs($0) == 1 } && expected.allSatisfy { abs($0) <= 1 })  // the fixture clips something
        }
    }

    @Test func minMaxAndSymmetricScalingByHand() {
        let map = Tensor(shape: [2, 2], scalars: [-2, 0, 1, 2])
        #expect(MapScaling.minMax.scaled(map).scalars == [0, 0.5, 0.75, 1])
        #expect(MapScaling.symmetric.scaled(map).scalars == [-1, 0, 0.5, 1])
        // On a diverging map a signed scaling puts zero in the middle; on a sequential one it clips negatives.
        #expect(MapScaling.symmetric.positions(map, for: .blueWhiteRed).scalars == [0, 0.5, 0.75, 1])
        #expect(MapScaling.symmetric.positions(map, for: .viridis).scalars == [0, 0, 0.5, 1])
        #expect(MapScaling.minMax.scaled(Tensor.full([2, 2], value: 3)).scalars == [0, 0, 0, 0])
    }
}
