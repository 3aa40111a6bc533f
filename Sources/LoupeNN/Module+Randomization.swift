/// A layer whose parameters a model-randomization test (MPRT, Adebayo et al., 2018) resets: a
/// module that owns parameters (a convolution, a batch norm, a linear layer), or an ONNX node
/// that reads weight tensors.
public struct RandomizableLayer {
    /// The module path, or the ONNX node's name.
    public var name: String
    /// Its parameters, keyed as in a state_dict or by initializer name.
    public var parameters: [(key: String, parameter: Parameter)]
    /// The keys a reset sets to 1 in a layer without a weight of two or more dimensions, where
    /// the names do not say it (an ONNX BatchNormalization's scale and variance).
    public var ones: Set<String>

    public init(name: String, parameters: [(key: String, parameter: Parameter)], ones: Set<String> = []) {
        self.name = name
        self.parameters = parameters
        self.ones = ones
    }
}
