import LoupeExplain
import LoupeIO
import LoupeNN
import LoupeRender
import LoupeTensor
import Testing

/// Overlays, grids, text, plots and panels, checked pixel by pixel where the answer is known.
@Suite("pictures")
struct PictureTests {
    private func pixel(_ image: Image, _ x: Int, _ y: Int) -> [UInt8] {
        let start = (y * image.width + x) * image.channels
        return Array(image.pixels[start..<start + image.channels])
    }

    @Test func gridPlacesScaledMaps() {
        // Two 1×2 maps, two columns, gap 1: a 7×3 gray image; each map is stretched to 0...255.
        let maps = Tensor(shape: [2, 1, 2], scalars: [0, 1, 5, 3])
        let grid = Render.grid(maps, columns: 2, gap: 1)
        #expect(grid.width == 7 && grid.height == 3 && grid.channels == 1)
        #expect(Array(grid.pixels[7..<14]) == [0, 0, 255, 0, 255, 0, 0])
        let colored = Render.grid(maps, columns: 1, gap: 0, colormap: .viridis)
        #expect(colored.channels == 3 && colored.width == 2 && colored.height == 2)
        #expect(pixel(colored, 0, 0) == [68, 1, 84])  // viridis at 0: (0.267, 0.0049, 0.329)
    }

    @Test func overlayBlendsAndWritesTheRedChannel() {
        // A 1×2 map [0, 1] over a gray photo of 0.2, gray colormap, alpha 0.5:
        // blend: 0.5·0.2 + 0.5·color = 0.1 and 0.1 + 0.5·(255/255) = 0.6.
        let map = Tensor(shape: [1, 2], scalars: [0, 1])
        let photo = Tensor.full([1, 1, 1, 2], value: 0.2)
        let blended = Render.overlay(map, on: photo, colormap: .gray, scaling: .minMax, alpha: 0.5, style: .blend)
        #expect(pixel(blended, 0, 0) == [26, 26, 26] && pixel(blended, 1, 0) == [153, 153, 153])
        // red: red = 0.5·0.2 + 0.5·map, green = blue = 0.5·0.2.
        let red = Render.overlay(map, on: photo, scaling: .minMax, alpha: 0.5, style: .red)
        #expect(pixel(red, 0, 0) == [26, 26, 26] && pixel(red, 1, 0) == [153, 26, 26])
    }

    @Test func oneRuleDrawsEveryAttribution() throws {
        // A signed one-channel pixel map stays signed: bwr, scaled by max |x|, white at zero.
        let signed = Tensor(shape: [1, 1, 3], scalars: [-2, 0, 1])
        let map = try Render.attributionMap(signed, attributesToLayer: false)
        #expect(map.shape == [1, 3] && map.scalars == [-2, 0, 1])
        let coloring = Render.defaultColoring(for: map, attributesToLayer: false)
        #expect(coloring.colormap == .blueWhiteRed && coloring.scaling == .symmetric)
        let photo = Tensor.full([1, 3, 1, 3], value: 0)
        let picture = try Render.attributionPicture(signed, attributesToLayer: false, on: photo, alpha: 1)
        #expect(pixel(picture, 0, 0) == [0, 0, 255])  // −2 = −max|x|: the blue end
        #expect(pixel(picture, 1, 0).allSatisfy { $0 >= 254 })  // 0: white
        // Several channels reduce by absmax, unsigned: inferno with Captum's percentile rule.
        let colorChannels = Tensor(shape: [3, 1, 2], scalars: [-3, 0, 1, 2, 0, -1])
        let reduced = try Render.attributionMap(colorChannels, attributesToLayer: false)
        #expect(reduced.scalars == [3, 2])
        let unsigned = Render.defaultColoring(for: reduced, attributesToLayer: false)
        #expect(unsigned.colormap == .inferno && unsigned.scaling == .percentile(outlierPercent: 2))
        // A named reduction applies to one channel too; none on several channels is refused.
        #expect(try Render.attributionMap(signed, attributesToLayer: false, reduction: .abs).scalars == [2, 0, 1])
        #expect(throws: RenderError.self) {
            try Render.attributionMap(colorChannels, attributesToLayer: false, reduction: ChannelReduction.none)
        }
        // Layer maps are drawn as they are: jet, min–max.
        let cam = Tensor(shape: [1, 2, 2], scalars: [0, 1, 2, 3])
        #expect(try Render.attributionMap(cam, attributesToLayer: true).shape == [2, 2])
        let layer = Render.defaultColoring(for: cam, attributesToLayer: true)
        #expect(layer.colormap == .jet && layer.scaling == .minMax)
    }

    @Test func textAndLinesLandWhereAsked() {
        var canvas = Canvas(width: 60, height: 20)
        let width = canvas.text("Hi", x: 2, y: 2, color: .black)
        #expect(width == BitmapFont.standard.width(of: "Hi") && width > 8)
        canvas.line(from: (2, 18), to: (50, 18), color: RGB(1, 0, 0), lineWidth: 1)
        let image = canvas.image
        let inked = (0..<20).flatMap { y in (0..<60).map { (x: $0, y: y) } }.filter { pixel(image, $0.x, $0.y)[1] < 128 }
        // The text's ink stays inside its box; the line is solid red on row 18 and nowhere else.
        #expect(
            inked.filter { $0.y < 18 }.allSatisfy {
                $0.x >= 2 && $0.x < 2 + width && $0.y >= 2 && $0.y < 2 + BitmapFont.standard.height
            })
        #expect(inked.filter { $0.y < 18 }.count > 10)
        #expect((2...50).allSatisfy { pixel(image, $0, 18) == [255, 0, 0] } && pixel(image, 52, 18) == [255, 255, 255])
        #expect(BitmapFont.standard.truncated("a long title indeed", toWidth: 40).hasSuffix("..."))
        #expect(BitmapFont.standard.width(of: BitmapFont.standard.truncated("a long title indeed", toWidth: 40)) <= 40)
    }

    @Test func histogramCountsEveryFiniteValueOnce() {
        let values = Tensor(shape: [7], scalars: [0, 1, 1, 2, 4, .nan, .infinity])
        let histogram = Histogram(values, bins: 4)
        #expect(histogram.low == 0 && histogram.high == 4)
        #expect(histogram.counts == [1, 2, 1, 1])  // bins [0,1) [1,2) [2,3) [3,4]
        #expect(Histogram(Tensor.full([3], value: 2), bins: 2).counts == [0, 3])
        let picture = Render.histogram(values, bins: 4, title: "values")
        #expect(picture.width == 420 && picture.pixels.contains(31))  // tab:blue bars (31, 119, 180)
    }

    @Test func trainingCurvesDrawBothSeries() {
        let history = (1...4).map { (epoch: Int) -> EpochRecord in
            let x = Float(epoch)
            return EpochRecord(
                epoch: epoch, trainingLoss: 1 / x, trainingAccuracy: 0.5 + x / 10, validationLoss: 1.2 / x,
                validationAccuracy: 0.45 + x / 10)
        }
        let image = Render.trainingCurves(history)
        #expect(image.width == 840 && image.height == 260)
        let colors = Set(
            stride(from: 0, to: image.pixels.count, by: 3).map { (start: Int) -> [UInt8] in Array(image.pixels[start..<start + 3])
            })
        #expect(colors.contains([31, 119, 180]) && colors.contains([255, 127, 14]))  // training and validation lines
    }

    @Test func panelPutsTitlesAboveCenteredTiles() {
        let red = Image(width: 20, height: 10, channels: 3, pixels: Array(repeating: [255, 0, 0], count: 200).flatMap { $0 })
        let panel = Render.panel([Tile("one", red), Tile("two", red), Tile("three", red)], columns: 2, heading: "Heading")
        // Cells are 64 wide (the minimum), two per row, two rows, 10-pixel gaps.
        #expect(panel.width == 2 * 64 + 3 * 10)
        let font = BitmapFont.standard
        let tileTop = 10 + font.height + 10 + font.height + 4
        #expect(pixel(panel, 10 + 22, tileTop) == [255, 0, 0] && pixel(panel, 10 + 21, tileTop) == [255, 255, 255])
        #expect(panel.height == tileTop - font.height - 4 + 2 * (font.height + 4 + 10 + 10))
    }

    @Test func enlargingRepeatsPixels() {
        let image = Image(width: 2, height: 1, channels: 1, pixels: [10, 20]).enlarged(by: 2)
        #expect(image.width == 4 && image.height == 2 && image.pixels == [10, 10, 20, 20, 10, 10, 20, 20])
    }
}
