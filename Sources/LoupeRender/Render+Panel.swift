import LoupeIO

/// A picture with a title, one cell of a panel.
public struct Tile {
    public var title: String
    public var image: Image

    public init(_ title: String, _ image: Image) {
        self.title = title
        self.image = image
    }
}

extension Render {
    /// Pictures side by side with a title above each (cut with "..." to the cell's width),
    /// `columns` to a row, on white, under an optional heading.
    public static func panel(_ tiles: [Tile], columns: Int, heading: String? = nil, gap: Int = 10) -> Image {
        precondition(!tiles.isEmpty && columns > 0, "panel: needs at least one tile and a positive column count")
        let font = BitmapFont.standard
        let cellWidth = Swift.max(tiles.map(\.image.width).max()!, 64)
        let imageHeight = tiles.map(\.image.height).max()!
        let cellHeight = font.height + 4 + imageHeight
        let columnCount = Swift.min(columns, tiles.count), rows = (tiles.count + columnCount - 1) / columnCount
        let top = heading == nil ? gap : gap + font.height + gap
        var canvas = Canvas(width: columnCount * cellWidth + (columnCount + 1) * gap, height: top + rows * (cellHeight + gap))
        if let heading { canvas.text(font.truncated(heading, toWidth: canvas.width - 2 * gap), x: gap, y: gap) }
        for (index, tile) in tiles.enumerated() {
            let left = gap + (index % columnCount) * (cellWidth + gap), y = top + (index / columnCount) * (cellHeight + gap)
            let title = font.truncated(tile.title, toWidth: cellWidth)
            canvas.text(title, x: left + (cellWidth - font.width(of: title)) / 2, y: y)
            canvas.draw(tile.image, x: left + (cellWidth - tile.image.width) / 2, y: y + font.height + 4)
        }
        return canvas.image
    }
}
