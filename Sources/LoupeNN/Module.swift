import LoupeTensor

/// A layer or a network: a function of one tensor with named parameters and named children.
///
/// Every module knows its torchvision path (`features.0`, `layer4.1.conv2`), set when the
/// root is built, so state_dict keys (`path.name`) and taps use PyTorch's names.
/// Subclasses override ``forward(_:)`` and list what they own in ``children`` and
/// ``localParameters``.
open class Module {
    /// The dotted path from the root module (`""` for the root).
    public internal(set) var path = ""
    /// Training mode (batch statistics, dropout) or evaluation mode (the default).
    public internal(set) var isTraining = false

    public init() {}

    /// The direct sub-modules with their names, in registration order.
    open var children: [(name: String, module: Module)] { [] }

    /// The parameters and buffers this module owns directly, with their names.
    open var localParameters: [(name: String, parameter: Parameter)] { [] }

    /// The module's computation. Call the module itself (`module(x)`), which also feeds taps.
    open func forward(_ input: Tensor) -> Tensor {
        preconditionFailure("\(type(of: self)) must override forward(_:)")
    }

    /// The output shape for an input of `shape`, or a `ShapeError` saying why the module cannot
    /// take it, from the operations' shape rules (`ShapeRules`) and without computing anything:
    /// how a shape that comes from a user (a photo cropped small, an array of another size) is
    /// checked before any work, where ``forward(_:)`` would stop the program on it.
    ///
    /// The default folds ``stages`` when the module is a chain of them; otherwise it runs
    /// ``forward(_:)`` on zeros, which stops on a shape the module cannot take, so a module type
    /// of its own that is not a chain overrides this.
    open func outputShape(forInput shape: [Int]) throws -> [Int] {
        if let stages { return try stages.reduce(shape) { try $1.outputShape(forInput: $0) } }
        return withoutGradients { forward(Tensor.zeros(shape)) }.shape
    }

    /// Runs ``forward(_:)`` and offers the output to an active ``TapSession``.
    public final func callAsFunction(_ input: Tensor) -> Tensor {
        let output = forward(input)
        guard let session = TapSession.current else { return output }
        return session.offer(output, at: path)
    }

    /// A short description of the layer's configuration, as PyTorch prints it.
    open var configuration: String { "" }

    /// Named points inside this module that are not modules themselves (an ONNX graph's
    /// tensors), in execution order: they can be tapped like module paths, and summaries list
    /// them. Such a module offers each to taps with ``Module/offerToTaps(_:named:)``.
    @_spi(Engine) open var innerTaps: [InnerTap] { [] }

    /// How the module reads its input spatially when each output position depends on a window
    /// of input positions only (see ``SpatialFootprint``); `nil` when it is not local that way
    /// (fully connected layers, adaptive pooling, batch statistics in training).
    open var spatialFootprint: SpatialFootprint? { nil }

    /// The classifier block that ends the network (VGG's `classifier`, ResNet's `fc`): what transfer
    /// learning replaces and what training with frozen features leaves trainable; `nil` when the
    /// architecture declares none.
    open var head: Module? { nil }

    /// The layer class activation maps use unless told otherwise, a path below this module:
    /// the activation of the last convolutional block (VGG's last ReLU in `features`, ResNet's
    /// `layer4`), as pytorch-grad-cam's users choose; `nil` when the architecture declares none.
    open var camLayer: String? { nil }

    /// The per-channel constants this module itself adds to a `[N, C, h, w]` tensor in evaluation
    /// mode, each with the tap name of the tensor it ends up in: a convolution's bias, a batch
    /// norm's shift `β − μ·γ/√(σ² + ε)` (an ONNX graph's, by tensor name). See ``channelBiases``.
    open var localChannelBiases: [(tap: String, bias: Tensor)] { [] }

    /// Every per-channel constant the network adds (``localChannelBiases`` of this module and its
    /// descendants, depth first): FullGrad's bias layers, whose bias times gradient is part of
    /// its map.
    public var channelBiases: [(tap: String, bias: Tensor)] { namedModules().flatMap { $0.module.localChannelBiases } }

    /// The modules whose composition is ``forward(_:)``, when the module is such a chain
    /// (a `Sequential`, a torchvision network); `nil` otherwise.
    open var stages: [Module]? { nil }

    /// The layers a model-randomization test (MPRT) resets one by one: every module that owns
    /// parameters, in the order the forward pass meets them (PyTorch's `named_modules()` order,
    /// which Quantus walks backwards), each with its own parameters. An ONNX graph lists its
    /// nodes that read weights instead.
    open var randomizableLayers: [RandomizableLayer] {
        namedModules().compactMap { path, module in
            let local = module.localParameters
            guard !local.isEmpty else { return nil }
            return RandomizableLayer(
                name: path, parameters: local.map { (path.isEmpty ? $0.name : "\(path).\($0.name)", $0.parameter) })
        }
    }

    /// This module and every descendant, depth first, with their paths.
    public func namedModules() -> [(path: String, module: Module)] {
        [(path, self)] + children.flatMap { $0.module.namedModules() }
    }

    /// Every parameter and buffer below this module, keyed as in a PyTorch state_dict.
    public func namedParameters() -> [(key: String, parameter: Parameter)] {
        namedModules().flatMap { path, module in
            module.localParameters.map { (path.isEmpty ? $0.name : "\(path).\($0.name)", $0.parameter) }
        }
    }

    /// Sets each descendant's path from this module's (call on the root after building it).
    public func assignPaths(_ prefix: String = "") {
        path = prefix
        for (name, child) in children {
            child.assignPaths(prefix.isEmpty ? name : "\(prefix).\(name)")
        }
    }

    /// Switches this module and its descendants to training or evaluation mode.
    public func setTraining(_ training: Bool) {
        for (_, module) in namedModules() { module.isTraining = training }
    }

    /// Freezes (or unfreezes) the learnable parameters under this module.
    public func setTrainable(_ trainable: Bool) {
        for (_, parameter) in namedParameters() where !parameter.isBuffer {
            parameter.isTrainable = trainable
        }
    }

    /// The module at a dotted path below this one, or `nil`.
    public func module(at path: String) -> Module? {
        namedModules().first { $0.path == path }?.module
    }
}

/// A tappable point inside a module (see ``Module/innerTaps``).
@_spi(Engine) public struct InnerTap {
    public let name: String
    /// Other names for the same point (an ONNX node's name for its first output).
    public let aliases: [String]
    /// What computes it (an ONNX operator type).
    public let type: String
    /// Parameters first used there.
    public let parameters: Int
    /// Multiply-adds of the computation, from its output shape.
    public let multiplyAdds: ([Int]) -> Int
    /// Whether it only rearranges another tensor (a transpose or reshape), so its axes need not
    /// be `[N, C, h, w]` even at rank 4 (Grad-CAM's default layer skips it). The module that
    /// offers the tap says so (an ONNX graph, from its operator table).
    public let rearranges: Bool

    public init(
        name: String, aliases: [String] = [], type: String, parameters: Int = 0, rearranges: Bool = false,
        multiplyAdds: @escaping ([Int]) -> Int = { _ in 0 }
    ) {
        self.name = name
        self.aliases = aliases
        self.type = type
        self.parameters = parameters
        self.rearranges = rearranges
        self.multiplyAdds = multiplyAdds
    }
}

/// Modules applied one after another; children are named "0", "1", ... as in `nn.Sequential`.
public final class Sequential: Module {
    public let layers: [Module]

    public init(_ layers: [Module]) {
        self.layers = layers
    }

    public override var children: [(name: String, module: Module)] {
        layers.enumerated().map { (String($0.offset), $0.element) }
    }

    /// The layers in turn; a convolution with the batch norm and ReLU right after it runs as one
    /// fused oneDNN convolution when nothing taps the points in between.
    public override func forward(_ input: Tensor) -> Tensor {
        forwardFusingConvolutions(input)
    }

    public override var stages: [Module]? { layers }

    public override var spatialFootprint: SpatialFootprint? { .chain(layers) }
}

extension Module {
    /// The outputs for `input` `[N, ...]`, without gradients, computed at most `samplesPerPass`
    /// samples at a time. In evaluation mode samples do not interact, so this is one pass over
    /// the batch, with the peak memory of a pass of `samplesPerPass`, at about the same speed per
    /// image. In training mode
    /// (batch statistics) the batch runs in one pass.
    public func predictions(for input: Tensor, samplesPerPass: Int = 4) -> Tensor {
        let count = input.shape.first ?? 0, perPass = Swift.max(1, samplesPerPass)
        return withoutGradients {
            guard count > perPass, !isTraining else { return self(input) }
            return Tensor.concatenate(
                stride(from: 0, to: count, by: perPass).map {
                    self(input.slice(along: 0, from: $0, to: Swift.min($0 + perPass, count)))
                }, along: 0)
        }
    }
}
