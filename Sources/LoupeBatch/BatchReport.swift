import Foundation
import LoupeIO
import LoupeRender

/// HTML pages drawn from a merged batch run, without recomputing anything.
///
/// `index.html` summarizes the run: accuracy per class, the confusion counts, time per step, the
/// least confident and the misclassified images. One page per class follows (`class-<k>.html`,
/// at most `maxImages` images each). Pictures are linked by relative path to the run's
/// `items/` folder, so the pages work offline and stay small whatever the dataset's size.
public enum BatchReport {
    /// Writes the pages of the run in `run` into `directory` (the run folder itself by default).
    /// Returns the pages written.
    @discardableResult
    public static func write(run: String, to directory: String? = nil, maxImages: Int = 24, generator: String) throws -> [String]
    {
        let plan = try BatchPlan.read(from: run)
        let records = try BatchMerge.records(in: run)
        guard records.count == plan.items.count else {
            throw LoupeIOError(
                "\(run)/index.jsonl has \(records.count) records but the plan \(plan.items.count); run loupe merge \(run)")
        }
        let output = directory ?? run
        try createFolder(output)
        let prefix = relativePath(from: output, to: run)
        // Labels are named as the source names them (folder names, an .npz's label_map), predictions
        // as the model does: where the two differ, the pages show it.
        let modelNames = BatchMerge.modelClassNames(in: records)
        let labelNames = plan.classNames ?? modelNames
        let summary = BatchMerge.summarize(records, classNames: labelNames)
        let labelName = { (index: Int) in className(index, in: labelNames) }
        let predictionName = { (index: Int) in className(index, in: modelNames) }
        let hasLabels = records.contains { $0.label != nil }
        let name = hasLabels ? labelName : predictionName
        // Images are grouped by label, or by prediction when the data has no labels.
        let groupBy = { (record: BatchRecord) in record.label ?? record.prediction }
        let groups = Dictionary(grouping: records, by: groupBy)
        let page = { (index: Int) in "class-\(index).html" }

        func figure(_ record: BatchRecord) -> String {
            let pictures = record.files.filter { $0.path.hasSuffix(".png") }.map { file in
                let label = URL(fileURLWithPath: file.path).deletingPathExtension().lastPathComponent
                return "<img loading=\"lazy\" alt=\"\(HTML.escape(label))\" title=\"\(HTML.escape(label))\" "
                    + "style=\"width:112px;image-rendering:pixelated\" src=\"\(HTML.escape(prefix + file.path))\">"
            }
            let truth = record.label.map { "label \(labelName($0)) (\($0)), " } ?? ""
            let mark = record.label.map { $0 == record.prediction ? "" : " ✗" } ?? ""
            let probability = record.top.first.map { String(format: " p=%.3f", $0.probability) } ?? ""
            let shown = record.files.filter { $0.path.hasSuffix(".png") }.map {
                URL(fileURLWithPath: $0.path).deletingPathExtension().lastPathComponent
            }
            let caption =
                "#\(record.index) \(record.source): \(truth)predicted \(predictionName(record.prediction)) (\(record.prediction))\(probability)\(mark)"
                + " [\(shown.joined(separator: ", "))]"
            return
                "<figure><div class=\"row\">\(pictures.joined())</div><figcaption>\(HTML.escape(caption))</figcaption></figure>\n"
        }

        func document(_ title: String, _ body: String) -> String {
            """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>\(HTML.escape(title))</title>
            <style>\(HTML.style)</style></head><body>
            <h1>\(HTML.escape(title))</h1>
            \(body)
            <p class="note">Made by \(HTML.escape(generator)).</p>
            </body></html>

            """
        }

        let methods = plan.arguments["methods"] ?? ""
        let overview = HTML.table([
            ["data", plan.source.path], ["images", String(records.count)], ["methods", methods],
            [
                "accuracy",
                summary.accuracy.map { String(format: "%.4f (%d/%d)", $0, summary.correct, summary.labelled) } ?? "no labels",
            ],
        ])
        let classRows = groups.keys.sorted().map { key -> String in
            let accuracy = summary.classes.first { $0.label == key }
            let cells = [
                "<a href=\"\(page(key))\">\(HTML.escape(name(key)))</a>", String(key), String(groups[key]!.count),
                accuracy.map { String(format: "%.4f", $0.accuracy) } ?? "-",
            ]
            return "<tr>" + cells.map { "<td>\($0)</td>" }.joined() + "</tr>"
        }
        let classTable =
            "<table><thead><tr><th>class</th><th>index</th><th>images</th><th>accuracy</th></tr></thead><tbody>\n"
            + classRows.joined(separator: "\n") + "\n</tbody></table>"
        let errors = summary.confusion.filter { $0.label != $0.prediction }.sorted { $0.count > $1.count }
        let confusion = HTML.table(
            errors.prefix(50).map {
                ["\(labelName($0.label)) (\($0.label))", "\(predictionName($0.prediction)) (\($0.prediction))", String($0.count)]
            },
            header: ["label", "predicted as", "images"])
        let timings = HTML.table(
            summary.timings.map {
                [$0.step, String(format: "%.1f ms", $0.meanSeconds * 1000), String(format: "%.2f s", $0.totalSeconds)]
            },
            header: ["step", "per image", "total"])
        let metricTable =
            summary.metrics.map { means in
                "<h2>Metrics</h2>\n<p class=\"note\">Each method's mean over the images (NaN values left out).</p>\n"
                    + HTML.table(
                        means.map {
                            [$0.method, $0.metric, $0.mean.isNaN ? "nan" : String(format: "%.4g", $0.mean), String($0.images)]
                        },
                        header: ["method", "metric", "mean", "images"])
            } ?? ""
        let leastConfident = records.sorted { ($0.top.first?.probability ?? 0) < ($1.top.first?.probability ?? 0) }
            .prefix(maxImages)
        let misclassified = records.filter { $0.label != nil && $0.label != $0.prediction }.prefix(maxImages)
        let summaryBody = """
            <h2>Run</h2>
            <div class="row">\(overview)\(timings)</div>
            \(metricTable)
            <h2>Classes</h2>
            <div class="row">\(classTable)</div>
            <h2>Confusion matrix</h2>
            \(confusionMatrix(summary.confusion, labelName: labelName, predictionName: predictionName))
            <h2>Confusions</h2>
            <p class="note">The most frequent (label, prediction) pairs that differ, at most 50.</p>
            \(errors.isEmpty ? "<p class=\"note\">None.</p>" : confusion)
            <h2>Least confident</h2>
            <div class="row">\(leastConfident.map(figure).joined())</div>
            <h2>Misclassified</h2>
            <p class="note">\(misclassified.count) shown of \(records.filter { $0.label != nil && $0.label != $0.prediction }.count).</p>
            <div class="row">\(misclassified.map(figure).joined())</div>
            """
        var written = ["\(output)/index.html"]
        try writeFileAtomically(Data(document("Loupe batch run: \(plan.source.path)", summaryBody).utf8), to: written[0])
        for key in groups.keys.sorted() {
            let images = groups[key]!
            let body = """
                <p><a href="index.html">Run summary</a></p>
                <p class="note">\(min(images.count, maxImages)) of \(images.count) images.</p>
                <div class="row">\(images.prefix(maxImages).map(figure).joined())</div>
                """
            let path = "\(output)/\(page(key))"
            try writeFileAtomically(Data(document("\(name(key)) (\(key))", body).utf8), to: path)
            written.append(path)
        }
        return written
    }

    /// The most classes whose confusion matrix is drawn in full; past it a page lists the pairs.
    static let largestMatrix = 30

    /// The confusion counts as a matrix, labels down and predictions across, the diagonal shaded:
    /// every class that is a label or a prediction, up to ``largestMatrix`` of them.
    static func confusionMatrix(
        _ confusion: [BatchMerge.Confusion], labelName: (Int) -> String, predictionName: (Int) -> String
    ) -> String {
        let classes = Set(confusion.flatMap { [$0.label, $0.prediction] }).sorted()
        guard !classes.isEmpty else { return "<p class=\"note\">No labels.</p>" }
        guard classes.count <= largestMatrix else {
            return
                "<p class=\"note\">\(classes.count) classes: too many to draw; the pairs are listed below and in summary.json.</p>"
        }
        var counts: [Int: [Int: Int]] = [:]
        for entry in confusion { counts[entry.label, default: [:]][entry.prediction] = entry.count }
        let head =
            "<tr><th>label \\ predicted</th>"
            + classes.map { "<th title=\"\(HTML.escape(predictionName($0)))\">\($0)</th>" }.joined() + "</tr>"
        let rows = classes.map { label in
            "<tr><th>\(HTML.escape(labelName(label))) (\(label))</th>"
                + classes.map { prediction in
                    let count = counts[label]?[prediction] ?? 0
                    let shade =
                        label == prediction ? " style=\"background:#e4f2e4\"" : count > 0 ? " style=\"background:#f6e0e0\"" : ""
                    return "<td\(shade)>\(count == 0 ? "" : String(count))</td>"
                }.joined() + "</tr>"
        }
        return "<table><thead>\(head)</thead><tbody>\n\(rows.joined(separator: "\n"))\n</tbody></table>"
    }

    /// The path from folder `base` to `target`, ending in `/` (empty when they are the same).
    static func relativePath(from base: String, to target: String) -> String {
        let from = URL(fileURLWithPath: base).standardizedFileURL.resolvingSymlinksInPath().pathComponents
        let to = URL(fileURLWithPath: target).standardizedFileURL.resolvingSymlinksInPath().pathComponents
        let common = zip(from, to).prefix { $0 == $1 }.count
        let parts = Array(repeating: "..", count: from.count - common) + to.dropFirst(common)
        return parts.map { $0 + "/" }.joined()
    }
}
