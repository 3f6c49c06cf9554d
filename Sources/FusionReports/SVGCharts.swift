import Foundation

/// Small hand-written SVG charts for reports and notebooks: line charts (learning curves), a
/// confusion-matrix heat map and bar charts with error bars. Output is standalone SVG 1.1
/// (`<svg xmlns=…>` root, only `line`, `polyline`, `circle`, `rect`, `text`, `g`), with every
/// piece of text XML-escaped, so it parses as XML and renders in browsers and Jupyter.
public enum SVGCharts {
    /// One named series of a line chart; non-finite values leave a gap.
    public struct Series: Sendable {
        /// Legend label.
        public var name: String
        /// (x, y) points in drawing order.
        public var points: [(x: Double, y: Double)]
        /// A series.
        public init(name: String, points: [(x: Double, y: Double)]) {
            self.name = name
            self.points = points
        }
    }

    /// One bar: its label, height, error half-width and whether it is highlighted (the best).
    public struct Bar: Sendable {
        /// Label under the bar.
        public var label: String
        /// Bar height.
        public var value: Double
        /// Half-length of the error bar (e.g. the standard deviation); 0 draws none.
        public var error: Double
        /// Drawn in the highlight colour.
        public var highlighted: Bool
        /// An interval drawn instead of ±`error` (e.g. a 95 % bootstrap interval), low and high.
        public var interval: (low: Double, high: Double)?
        /// A bar.
        public init(label: String, value: Double, error: Double = 0, highlighted: Bool = false, interval: (low: Double, high: Double)? = nil) {
            self.label = label
            self.value = value
            self.error = error
            self.highlighted = highlighted
            self.interval = interval
        }
        /// The whisker's ends: the interval, or value ± error (nil: no whisker).
        var whisker: (low: Double, high: Double)? {
            if let interval, interval.low.isFinite, interval.high.isFinite { return interval }
            return error.isFinite && error > 0 ? (value - error, value + error) : nil
        }
    }

    /// Colours of successive series (matplotlib's tab10).
    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    // MARK: - Line chart

    /// A line chart with axes, ticks, grid, axis labels, a title and a legend. Points are
    /// marked with dots when a series has at most 40 points. `integerX` keeps x ticks whole
    /// (epochs).
    public static func lineChart(title: String, xLabel: String, yLabel: String, series: [Series],
                                 integerX: Bool = true, width: Double = 560, height: Double = 340) -> String {
        let legend = legendLayout(series.map(\.name), width: width)
        let legendRows = Double(Set(legend.map(\.y)).count)
        var svg = SVGDocument(width: width, height: height)
        let plot = Rect(x: 64, y: 42 + 15 * legendRows, width: width - 84, height: height - 92 - 15 * legendRows)
        svg.text(title, x: width / 2, y: 20, size: 14, anchor: "middle", weight: "bold")
        let finite = series.flatMap { $0.points }.filter { $0.x.isFinite && $0.y.isFinite }
        guard !finite.isEmpty else {
            svg.text("no data", x: width / 2, y: height / 2, size: 12, anchor: "middle")
            return svg.finished()
        }
        let xs = finite.map(\.x), ys = finite.map(\.y)
        var xTicks = niceTicks(low: xs.min() ?? 0, high: xs.max() ?? 1, count: 6)
        if integerX, let step = tickStep(xTicks), step < 1 {
            xTicks = niceTicks(low: (xs.min() ?? 0).rounded(.down), high: (xs.max() ?? 1).rounded(.up), count: 6, minimumStep: 1)
        }
        let yTicks = niceTicks(low: ys.min() ?? 0, high: ys.max() ?? 1, count: 6)
        let scale = AxisScale(plot: plot, xDomain: (xTicks.first ?? 0, xTicks.last ?? 1),
                              yDomain: (yTicks.first ?? 0, yTicks.last ?? 1))
        drawAxes(&svg, plot: plot, scale: scale, xTicks: xTicks, yTicks: yTicks, xLabel: xLabel, yLabel: yLabel)

        for (index, line) in series.enumerated() {
            let colour = palette[index % palette.count]
            var segment: [(Double, Double)] = []
            func closeSegment() {
                if segment.count > 1 { svg.polyline(segment, stroke: colour) }
                segment.removeAll()
            }
            for point in line.points {
                guard point.x.isFinite, point.y.isFinite else { closeSegment(); continue }
                segment.append((scale.x(point.x), scale.y(point.y)))
            }
            closeSegment()
            if line.points.count <= 40 {
                for point in line.points where point.x.isFinite && point.y.isFinite {
                    svg.circle(x: scale.x(point.x), y: scale.y(point.y), r: 2.5, fill: colour)
                }
            }
        }
        // Legend: rows between the title and the plot, clear of the data.
        for (index, (line, position)) in zip(series, legend).enumerated() {
            let colour = palette[index % palette.count]
            svg.line(x1: position.x, y1: position.y - 4, x2: position.x + 20, y2: position.y - 4, stroke: colour, width: 2.5)
            svg.text(line.name, x: position.x + 25, y: position.y, size: 11)
        }
        return svg.finished()
    }

    /// Where each legend entry goes: left to right from x = 64, wrapping into a new row of
    /// 15 px when the next entry would pass the right edge.
    static func legendLayout(_ names: [String], width: Double) -> [(x: Double, y: Double)] {
        var positions: [(x: Double, y: Double)] = []
        var x = 64.0, y = 40.0
        for name in names {
            let itemWidth = 34 + 6.5 * Double(name.count)
            if x + itemWidth > width - 10, x > 64 {
                x = 64
                y += 15
            }
            positions.append((x, y))
            x += itemWidth
        }
        return positions
    }

    // MARK: - Heat map

    /// A confusion-matrix heat map: rows are true classes, columns predicted classes, each cell
    /// coloured by its share of the row (recall) and labelled with the count.
    public static func confusionMatrix(_ matrix: [[Int]], classNames: [String], title: String = "Confusion matrix") -> String {
        let k = classNames.count
        let cell = max(28, min(64, 420 / Double(max(k, 1))))
        let labelSpace = 12 + 6.5 * Double(min(classNames.map(\.count).max() ?? 1, 24))
        let left = 40 + labelSpace, top = 44.0
        let width = left + cell * Double(k) + 24
        let height = top + cell * Double(k) + labelSpace + 30
        var svg = SVGDocument(width: width, height: height)
        svg.text(title, x: width / 2, y: 20, size: 14, anchor: "middle", weight: "bold")
        for row in 0..<k {
            let rowTotal = matrix.indices.contains(row) ? matrix[row].reduce(0, +) : 0
            for column in 0..<k {
                let count = matrix.indices.contains(row) && matrix[row].indices.contains(column) ? matrix[row][column] : 0
                let share = rowTotal > 0 ? Double(count) / Double(rowTotal) : 0
                let x = left + cell * Double(column), y = top + cell * Double(row)
                svg.rect(x: x, y: y, width: cell, height: cell, fill: blue(share), stroke: "#ffffff")
                svg.text("\(count)", x: x + cell / 2, y: y + cell / 2 + 4, size: 12, anchor: "middle",
                         fill: share > 0.55 ? "#ffffff" : "#222222")
            }
            svg.text(shortened(classNames[row]), x: left - 6, y: top + cell * (Double(row) + 0.5) + 4, size: 11, anchor: "end")
        }
        let bottom = top + cell * Double(k)
        for column in 0..<k {
            let x = left + cell * (Double(column) + 0.5)
            svg.text(shortened(classNames[column]), x: x, y: bottom + 14, size: 11, anchor: "end", rotate: -40)
        }
        svg.text("predicted", x: left + cell * Double(k) / 2, y: height - 8, size: 12, anchor: "middle")
        svg.text("true", x: 14, y: top + cell * Double(k) / 2, size: 12, anchor: "middle", rotate: -90)
        return svg.finished()
    }

    // MARK: - Bar chart

    /// Bars with ± error whiskers and value labels; highlighted bars are drawn in orange.
    public static func barChart(title: String, yLabel: String, bars: [Bar], width: Double? = nil, height: Double = 340) -> String {
        let labelSpace = 12 + 6.5 * Double(min(bars.map(\.label.count).max() ?? 1, 28))
        let width = width ?? max(360, 90 + 70 * Double(bars.count))
        var svg = SVGDocument(width: width, height: height + labelSpace)
        let plot = Rect(x: 64, y: 34, width: width - 84, height: height - 60)
        svg.text(title, x: width / 2, y: 20, size: 14, anchor: "middle", weight: "bold")
        let finite = bars.filter { $0.value.isFinite }
        let tops = finite.map { max($0.value, $0.whisker?.high ?? $0.value) }
        let bottoms = finite.map { min($0.value, $0.whisker?.low ?? $0.value) }
        let yTicks = niceTicks(low: min(0, bottoms.min() ?? 0), high: max(tops.max() ?? 1, 1e-12), count: 6)
        let scale = AxisScale(plot: plot, xDomain: (0, Double(max(bars.count, 1))),
                              yDomain: (yTicks.first ?? 0, yTicks.last ?? 1))
        drawAxes(&svg, plot: plot, scale: scale, xTicks: [], yTicks: yTicks, xLabel: nil, yLabel: yLabel)
        let slot = plot.width / Double(max(bars.count, 1))
        for (index, bar) in bars.enumerated() {
            let centre = plot.x + slot * (Double(index) + 0.5)
            let barWidth = min(56, slot * 0.6)
            if bar.value.isFinite {
                let y0 = scale.y(0), y1 = scale.y(bar.value)
                svg.rect(x: centre - barWidth / 2, y: min(y0, y1), width: barWidth, height: abs(y1 - y0),
                         fill: bar.highlighted ? "#ff7f0e" : "#1f77b4", stroke: "none")
                if let whisker = bar.whisker {
                    let high = scale.y(whisker.high), low = scale.y(whisker.low)
                    svg.line(x1: centre, y1: high, x2: centre, y2: low, stroke: "#222222", width: 1.2)
                    svg.line(x1: centre - 6, y1: high, x2: centre + 6, y2: high, stroke: "#222222", width: 1.2)
                    svg.line(x1: centre - 6, y1: low, x2: centre + 6, y2: low, stroke: "#222222", width: 1.2)
                }
                let labelY = scale.y(max(bar.value, bar.whisker?.high ?? bar.value)) - 5
                svg.text(formatNumber(bar.value), x: centre, y: labelY, size: 10, anchor: "middle")
            } else {
                svg.text("n/a", x: centre, y: scale.y(0) - 5, size: 10, anchor: "middle", fill: "#888888")
            }
            svg.text(shortened(bar.label), x: centre, y: plot.y + plot.height + 14, size: 11, anchor: "end", rotate: -35,
                     weight: bar.highlighted ? "bold" : nil)
        }
        return svg.finished()
    }

    // MARK: - Reliability diagram

    /// Accuracy against mean confidence per confidence bin (dots sized by count), with the
    /// diagonal of perfect calibration.
    public static func reliabilityDiagram(_ bins: [(confidence: Double, accuracy: Double, count: Int)], title: String) -> String {
        let size = 340.0
        var svg = SVGDocument(width: size + 40, height: size + 30)
        let plot = Rect(x: 64, y: 34, width: size - 60, height: size - 60)
        svg.text(title, x: (size + 40) / 2, y: 20, size: 14, anchor: "middle", weight: "bold")
        let ticks = [0, 0.2, 0.4, 0.6, 0.8, 1.0]
        let scale = AxisScale(plot: plot, xDomain: (0, 1), yDomain: (0, 1))
        drawAxes(&svg, plot: plot, scale: scale, xTicks: ticks, yTicks: ticks, xLabel: "confidence (top class)", yLabel: "accuracy")
        svg.line(x1: scale.x(0), y1: scale.y(0), x2: scale.x(1), y2: scale.y(1), stroke: "#888888", width: 1)
        let total = Double(max(bins.reduce(0) { $0 + $1.count }, 1))
        for b in bins where b.confidence.isFinite && b.accuracy.isFinite {
            svg.line(x1: scale.x(b.confidence), y1: scale.y(b.confidence), x2: scale.x(b.confidence), y2: scale.y(b.accuracy),
                     stroke: "#d62728", width: 1)
            svg.circle(x: scale.x(b.confidence), y: scale.y(b.accuracy), r: 2.5 + 8 * (Double(b.count) / total).squareRoot(), fill: "#1f77b4")
        }
        return svg.finished()
    }

    // MARK: - Shared pieces

    static func drawAxes(_ svg: inout SVGDocument, plot: Rect, scale: AxisScale, xTicks: [Double], yTicks: [Double],
                         xLabel: String?, yLabel: String) {
        for tick in yTicks {
            let y = scale.y(tick)
            svg.line(x1: plot.x, y1: y, x2: plot.x + plot.width, y2: y, stroke: "#e6e6e6", width: 1)
            svg.line(x1: plot.x - 4, y1: y, x2: plot.x, y2: y, stroke: "#333333", width: 1)
            svg.text(formatNumber(tick), x: plot.x - 7, y: y + 4, size: 10, anchor: "end")
        }
        for tick in xTicks {
            let x = scale.x(tick)
            svg.line(x1: x, y1: plot.y, x2: x, y2: plot.y + plot.height, stroke: "#f0f0f0", width: 1)
            svg.line(x1: x, y1: plot.y + plot.height, x2: x, y2: plot.y + plot.height + 4, stroke: "#333333", width: 1)
            svg.text(formatNumber(tick), x: x, y: plot.y + plot.height + 16, size: 10, anchor: "middle")
        }
        svg.line(x1: plot.x, y1: plot.y, x2: plot.x, y2: plot.y + plot.height, stroke: "#333333", width: 1)
        svg.line(x1: plot.x, y1: plot.y + plot.height, x2: plot.x + plot.width, y2: plot.y + plot.height, stroke: "#333333", width: 1)
        if let xLabel {
            svg.text(xLabel, x: plot.x + plot.width / 2, y: plot.y + plot.height + 36, size: 12, anchor: "middle")
        }
        svg.text(yLabel, x: 16, y: plot.y + plot.height / 2, size: 12, anchor: "middle", rotate: -90)
    }

    /// White → dark blue as `share` goes 0 → 1.
    static func blue(_ share: Double) -> String {
        let t = min(max(share, 0), 1)
        let r = Int((247 - 239 * t).rounded()), g = Int((251 - 203 * t).rounded()), b = Int((255 - 148 * t).rounded())
        return String(format: "#%02x%02x%02x", r, g, b)
    }

    static func shortened(_ text: String) -> String {
        text.count > 24 ? String(text.prefix(23)) + "…" : text
    }
}

/// Evenly spaced "nice" tick values (steps of 1, 2 or 5 × 10ⁿ) covering [low, high].
func niceTicks(low: Double, high: Double, count: Int, minimumStep: Double = 0) -> [Double] {
    var low = low, high = high
    if high - low < 1e-12 {
        let pad = max(abs(low) * 0.1, 0.5)
        low -= pad
        high += pad
    }
    let rough = (high - low) / Double(max(count - 1, 1))
    let magnitude = pow(10, (log10(rough)).rounded(.down))
    let step = max([1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude, minimumStep)
    let first = (low / step).rounded(.down) * step
    let last = (high / step).rounded(.up) * step
    let n = Int(((last - first) / step).rounded())
    return (0...max(n, 1)).map { first + Double($0) * step }.map { abs($0) < step * 1e-9 ? 0 : $0 }
}

func tickStep(_ ticks: [Double]) -> Double? {
    ticks.count > 1 ? ticks[1] - ticks[0] : nil
}

/// A number short enough for a tick or a bar label: up to 4 significant decimals, no trailing zeros.
func formatNumber(_ value: Double) -> String {
    guard value.isFinite else { return "\(value)" }
    if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
    var text = String(format: abs(value) >= 100 ? "%.1f" : "%.4g", value)
    if text.contains("."), !text.contains("e") {
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
    }
    return text
}

/// A plot area in SVG coordinates (y grows downwards).
struct Rect {
    var x: Double, y: Double, width: Double, height: Double
}

/// Maps data coordinates into a plot rectangle.
struct AxisScale {
    let plot: Rect
    let xDomain: (Double, Double)
    let yDomain: (Double, Double)

    func x(_ value: Double) -> Double {
        let span = xDomain.1 - xDomain.0
        return plot.x + (span == 0 ? 0.5 : (value - xDomain.0) / span) * plot.width
    }

    func y(_ value: Double) -> Double {
        let span = yDomain.1 - yDomain.0
        return plot.y + plot.height - (span == 0 ? 0.5 : (value - yDomain.0) / span) * plot.height
    }
}

/// Robustness curves and their summary table, for a notebook (from robustness.json).
public struct RobustnessFigures: Sendable {
    /// One chart per corrupted modality: accuracy vs noise level, a series per variant.
    public var curves: [(modality: String, series: [SVGCharts.Series])] = []
    /// The summary table's header and rows (relative and effective robustness per modality).
    public var header: [String] = [], rows: [[String]] = []
    /// No figures yet.
    public init() {}
}
