import Foundation
import LoupeNN
import LoupeTensor
import LoupeIO

/// One line of a plot.
public struct PlotSeries {
    public var name: String
    public var points: [(x: Float, y: Float)]
    public var color: RGB

    public init(_ name: String, points: [(x: Float, y: Float)], color: RGB) {
        self.name = name
        self.points = points
        self.color = color
    }
}

extension Render {
    /// A line plot with axes, ticks, a title and, unless `legend` is false (for more lines than
    /// fit on the title's line), a legend.
    public static func linePlot(
        _ series: [PlotSeries], title: String, xLabel: String, width: Int = 420, height: Int = 260, legend: Bool = true
    ) -> Image {
        let points = series.flatMap(\.points)
        precondition(!points.isEmpty, "linePlot: needs at least one point")
        var frame = PlotFrame(
            width: width, height: height,
            xRange: span(points.map(\.x)), yRange: span(points.map(\.y), padding: 0.05))
        frame.drawAxes(title: title, xLabel: xLabel, integerX: true)
        // The legend sits on the title's line, right-aligned, clear of the data.
        let font = BitmapFont.standard
        var legendX = frame.right - series.reduce(0) { $0 + 24 + font.width(of: $1.name) + 12 } + 12
        for line in series {
            let positions = line.points.map { frame.position($0.x, $0.y) }
            for (start, end) in zip(positions, positions.dropFirst()) {
                frame.canvas.line(from: start, to: end, color: line.color, lineWidth: 2)
            }
            for point in positions { frame.canvas.line(from: point, to: point, color: line.color, lineWidth: 5) }
            guard legend else { continue }
            frame.canvas.line(from: (Float(legendX), 14), to: (Float(legendX + 18), 14), color: line.color, lineWidth: 2)
            legendX += 24 + frame.canvas.text(line.name, x: legendX + 24, y: 6) + 12
        }
        return frame.canvas.image
    }

    /// Loss and accuracy per epoch, training and validation, side by side.
    public static func trainingCurves(_ history: [EpochRecord]) -> Image {
        precondition(!history.isEmpty, "trainingCurves: the history is empty")
        func series(_ name: String, _ value: (EpochRecord) -> Float?, _ color: RGB) -> PlotSeries? {
            let points = history.compactMap { record in value(record).map { (x: Float(record.epoch), y: $0) } }
            return points.isEmpty ? nil : PlotSeries(name, points: points, color: color)
        }
        let loss = linePlot(
            [series("training", \.trainingLoss, RGB.series[0]), series("validation", \.validationLoss, RGB.series[1])].compactMap
            { $0 },
            title: "Loss", xLabel: "epoch")
        let accuracy = linePlot(
            [
                series("training", \.trainingAccuracy, RGB.series[0]),
                series("validation", \.validationAccuracy, RGB.series[1]),
            ].compactMap { $0 },
            title: "Accuracy", xLabel: "epoch")
        var canvas = Canvas(width: loss.width + accuracy.width, height: Swift.max(loss.height, accuracy.height))
        canvas.draw(loss, x: 0, y: 0)
        canvas.draw(accuracy, x: loss.width, y: 0)
        return canvas.image
    }

    /// A bar chart of a ``Histogram`` of `values`.
    public static func histogram(_ values: Tensor, bins: Int = 40, title: String, width: Int = 420, height: Int = 240) -> Image {
        let histogram = Histogram(values, bins: bins)
        let (low, high) = (histogram.low, histogram.high)
        var frame = PlotFrame(
            width: width, height: height, xRange: (low, high),
            yRange: (0, Float(Swift.max(histogram.counts.max()!, 1)) * 1.05))
        frame.drawAxes(
            title: title, xLabel: "value (\(histogram.counts.reduce(0, +)) finite of \(values.count))", integerX: false)
        for (bin, count) in histogram.counts.enumerated() where count > 0 {
            let (x0, y0) = frame.position(histogram.lowerEdge(of: bin), Float(count))
            let (x1, _) = frame.position(histogram.lowerEdge(of: bin + 1), 0)
            frame.canvas.fill(
                x: Int(x0.rounded()) + 1, y: Int(y0.rounded()), width: Swift.max(Int(x1.rounded()) - Int(x0.rounded()) - 1, 1),
                height: frame.bottom - Int(y0.rounded()), color: RGB.series[0])
        }
        return frame.canvas.image
    }

    /// The smallest and largest value, widened by `padding` of the range (a single value by ±0.5).
    static func span(_ values: [Float], padding: Float = 0) -> (Float, Float) {
        let (low, high) = (values.min()!, values.max()!)
        guard high > low else { return (low - 0.5, high + 0.5) }
        return (low - (high - low) * padding, high + (high - low) * padding)
    }
}

/// The axes of a plot: data coordinates to pixels, ticks and labels.
struct PlotFrame {
    var canvas: Canvas
    let left = 56, top = 30
    let right: Int, bottom: Int
    let xRange: (Float, Float), yRange: (Float, Float)

    init(width: Int, height: Int, xRange: (Float, Float), yRange: (Float, Float)) {
        canvas = Canvas(width: width, height: height)
        right = width - 16
        bottom = height - 40
        self.xRange = xRange
        self.yRange = yRange
    }

    func position(_ x: Float, _ y: Float) -> (x: Float, y: Float) {
        (
            Float(left) + (x - xRange.0) / (xRange.1 - xRange.0) * Float(right - left),
            Float(bottom) - (y - yRange.0) / (yRange.1 - yRange.0) * Float(bottom - top)
        )
    }

    mutating func drawAxes(title: String, xLabel: String, integerX: Bool) {
        let font = BitmapFont.standard
        canvas.text(font.truncated(title, toWidth: canvas.width - left), x: left, y: 6)
        for tick in PlotFrame.ticks(yRange) {
            let y = position(xRange.0, tick).y
            canvas.line(from: (Float(left), y), to: (Float(right), y), color: .grid)
            let label = PlotFrame.label(tick)
            canvas.text(label, x: left - 6 - font.width(of: label), y: Int(y) - font.height / 2)
        }
        let xTicks = PlotFrame.ticks(xRange).filter { !integerX || $0 == $0.rounded() }
        for tick in xTicks {
            let x = position(tick, yRange.0).x
            canvas.line(from: (x, Float(bottom)), to: (x, Float(bottom + 4)), color: .axis)
            let label = PlotFrame.label(tick)
            canvas.text(label, x: Int(x) - font.width(of: label) / 2, y: bottom + 6)
        }
        canvas.line(from: (Float(left), Float(top)), to: (Float(left), Float(bottom)), color: .axis)
        canvas.line(from: (Float(left), Float(bottom)), to: (Float(right), Float(bottom)), color: .axis)
        canvas.text(xLabel, x: (left + right - font.width(of: xLabel)) / 2, y: bottom + 8 + font.height)
    }

    /// Round tick values (1, 2 or 5 times a power of ten apart), about five across the range.
    static func ticks(_ range: (Float, Float)) -> [Float] {
        let raw = (range.1 - range.0) / 5
        guard raw > 0, raw.isFinite else { return [range.0] }
        let power = Float(pow(10, floor(log10(Double(raw)))))
        let step = [1, 2, 5, 10].map { Float($0) * power }.first { $0 >= raw }!
        let first = (range.0 / step).rounded(.up)
        return stride(from: first, through: (range.1 / step).rounded(.down), by: 1).map { $0 * step }
    }

    static func label(_ value: Float) -> String {
        if value == value.rounded() && Swift.abs(value) < 1e6 { return String(Int(value)) }
        return String(format: "%.3g", Double(value))
    }
}

/// Counts of values in equal bins from the smallest finite value to the largest (the largest
/// falls in the last bin; NaN and infinities are left out; a constant tensor spans ±0.5).
public struct Histogram: Equatable, Sendable {
    public let low: Float
    public let high: Float
    public let counts: [Int]

    public init(_ values: Tensor, bins: Int) {
        precondition(bins > 0, "Histogram: bins must be positive; got \(bins)")
        let finite = values.scalars.filter(\.isFinite)
        var (low, high) = (finite.min() ?? 0, finite.max() ?? 1)
        if high <= low { (low, high) = (low - 0.5, high + 0.5) }
        var counts = [Int](repeating: 0, count: bins)
        for value in finite { counts[Swift.min(Int((value - low) / (high - low) * Float(bins)), bins - 1)] += 1 }
        (self.low, self.high, self.counts) = (low, high, counts)
    }

    /// Where bin `bin` starts (`counts.count` gives the upper end).
    public func lowerEdge(of bin: Int) -> Float { low + (high - low) * Float(bin) / Float(counts.count) }
}
