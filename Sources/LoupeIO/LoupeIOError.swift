/// A file Loupe could not read or write, with a message that says what to do.
public struct LoupeIOError: Error, CustomStringConvertible, Equatable {
    /// One line for the user: what is wrong and, where it helps, how to fix it.
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}
