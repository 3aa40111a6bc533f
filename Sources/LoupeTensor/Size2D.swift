/// A pair of (height, width) extents, for kernel sizes, strides, padding and dilation.
///
/// An integer literal means the same value for both: `stride: 2` is `Size2D(2, 2)`.
public struct Size2D: Hashable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public var height: Int
    public var width: Int

    public init(_ height: Int, _ width: Int) {
        self.height = height
        self.width = width
    }

    public init(integerLiteral value: Int) {
        self.init(value, value)
    }

    var array: [Int] { [height, width] }

    public var description: String { "(\(height), \(width))" }
}
