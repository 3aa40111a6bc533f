/// A request an explanation method cannot carry out with this model or input (a layer without
/// a spatial output, an occlusion window larger than the image, ...): bad user input, not a bug.
public struct ExplanationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
