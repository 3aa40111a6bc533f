/// A bitmap font for titles and axis labels: printable ASCII rasterized once from DejaVu Sans
/// (Tools/render/make_font.py), so text needs no font library and looks the same everywhere.
/// Characters outside printable ASCII draw as `?`.
public struct BitmapFont: Sendable {
    struct Glyph: Sendable {
        let advance: Int
        let width: Int
        let coverage: [UInt8]

        init(advance: Int, width: Int, coverage hex: String) {
            self.advance = advance
            self.width = width
            let digits = Array(hex.utf8).map { $0 <= 57 ? $0 - 48 : $0 - 87 }
            coverage = stride(from: 0, to: digits.count, by: 2).map { digits[$0] << 4 | digits[$0 + 1] }
        }
    }

    /// Line height in pixels.
    public let height: Int
    /// Pixels from the top of a line to the baseline.
    public let baseline: Int
    let glyphs: [Glyph]

    /// The font Loupe draws with: DejaVu Sans, 12 px.
    public static let standard = dejaVuSans12

    func glyph(_ character: Character) -> Glyph {
        guard let ascii = character.asciiValue, (32...126).contains(ascii) else {
            return glyphs[Int(Character("?").asciiValue!) - 32]
        }
        return glyphs[Int(ascii) - 32]
    }

    /// The width of `text` in pixels.
    public func width(of text: String) -> Int { text.reduce(0) { $0 + glyph($1).advance } }

    /// `text` cut to at most `width` pixels, ending in "..." when cut.
    public func truncated(_ text: String, toWidth width: Int) -> String {
        guard self.width(of: text) > width else { return text }
        var kept = ""
        for character in text {
            if self.width(of: kept + String(character) + "...") > width { break }
            kept.append(character)
        }
        return kept + "..."
    }
}
