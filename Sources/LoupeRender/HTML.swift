import Foundation
import LoupeIO

/// Small pieces of self-contained HTML: escaped text and inline PNG images.
package enum HTML {
    package static func escape(_ text: String) -> String {
        var result = ""
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&#39;"
            default: result.append(character)
            }
        }
        return result
    }

    /// An `<img>` holding the PNG in a data URI, shown `displayWidth` pixels wide (pixelated when
    /// enlarged, so small inputs stay sharp).
    static func image(_ image: Image, displayWidth: Int? = nil, alt: String) throws -> String {
        let width = displayWidth ?? image.width
        let pixelated = width > image.width ? ";image-rendering:pixelated" : ""
        return "<img alt=\"\(escape(alt))\" style=\"width:\(width)px\(pixelated)\" "
            + "src=\"data:image/png;base64,\(try image.encodePNG().base64EncodedString())\">"
    }

    /// A table of text cells, with a header row when one is given.
    package static func table(_ rows: [[String]], header: [String]? = nil) -> String {
        let head = header.map { "<thead><tr>" + $0.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead>" } ?? ""
        let body = rows.map { "<tr>" + $0.map { "<td>\(escape($0))</td>" }.joined() + "</tr>" }.joined(separator: "\n")
        return "<table>\(head)<tbody>\n\(body)\n</tbody></table>"
    }

    package static let style = """
        body{font-family:system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:24px;color:#222;background:#fafafa}
        h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
        h3{font-size:14px;margin:14px 0 6px;color:#444}
        table{border-collapse:collapse;font-size:13px;margin:6px 0;align-self:flex-start}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
        th{background:#f0f0f0}.row{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}
        figure{margin:0;background:#fff;border:1px solid #e4e4e4;padding:6px;border-radius:4px}
        figcaption{font-size:12px;color:#444;margin-top:4px;max-width:360px}.note{font-size:13px;color:#555}
        details summary{cursor:pointer;font-size:13px;color:#335;margin:6px 0}
        """
}
