import LoupeTensor

/// Reads activations at named points of a model, and prepares them for gradients.
///
/// While a session is active (``withTaps(_:gradients:_:)``), each module whose path is tapped
/// stores its output. With `gradients: true` the stored tensor also takes part in gradient
/// recording even when neither the input nor the weights do, so that the gradient reaching
/// it can be asked for (`gradients(of: score, at: [activation])`), as Grad-CAM needs.
final class TapSession: @unchecked Sendable {
    @TaskLocal static var current: TapSession?

    let paths: Set<String>
    let tracksGradients: Bool
    /// Whether outputs are kept, or only their shapes.
    let keepsOutputs: Bool
    /// Outputs given in place of what the module at a path computes.
    let replacements: [String: Tensor]
    /// The latest output of each tapped module (a module called twice keeps its last output).
    private(set) var activations: [String: Tensor] = [:]
    /// The shape of each tapped module's latest output.
    private(set) var shapes: [String: [Int]] = [:]
    /// Tapped paths in the order their modules finished (repeats kept).
    private(set) var order: [String] = []

    init(paths: Set<String>, tracksGradients: Bool, keepsOutputs: Bool = true, replacements: [String: Tensor] = [:]) {
        self.paths = paths
        self.tracksGradients = tracksGradients
        self.keepsOutputs = keepsOutputs
        self.replacements = replacements
    }

    func offer(_ output: Tensor, at path: String) -> Tensor {
        guard paths.contains(path) else { return output }
        if let replacement = replacements[path] { return replacement }
        let tapped = tracksGradients ? output.tapped() : output
        if keepsOutputs { activations[path] = tapped }
        shapes[path] = output.shape
        order.append(path)
        return tapped
    }
}

extension Tensor {
    /// The same value as a point where gradients can be read: unchanged when already recorded,
    /// a new leaf otherwise.
    func tapped() -> Tensor {
        isTrackingGradients ? self : trackingGradients()
    }
}

/// An unknown tap name, with the nearest valid names.
public struct UnknownLayerError: Error, CustomStringConvertible {
    public let name: String
    public let suggestions: [String]

    public var description: String {
        "no layer named '\(name)'"
            + (suggestions.isEmpty ? "" : "; did you mean \(suggestions.map { "'\($0)'" }.joined(separator: ", "))?")
            + " (`loupe summary` lists every layer)"
    }
}

/// A model whose module paths do not match its tree: built, or changed, without
/// ``Module/assignPaths(_:)`` on its root, so no tap name would reach its modules.
public struct UnassignedPathsError: Error, CustomStringConvertible {
    public let expected: String
    public let found: String

    public var description: String {
        "the module at '\(expected)' has the path '\(found)': the model's paths were never assigned; "
            + "call assignPaths() on its root after building or changing it"
    }
}

extension Module {
    /// The first descendant whose stored path is not the one its place in the tree gives.
    func misplacedPath() -> (expected: String, found: String)? {
        for (name, child) in children {
            let expected = path.isEmpty ? name : "\(path).\(name)"
            if child.path != expected { return (expected, child.path) }
            if let misplaced = child.misplacedPath() { return misplaced }
        }
        return nil
    }

    /// Every name that can be tapped: module paths, then each module's inner taps.
    public var tapNames: [String] {
        namedModules().flatMap { path, module in
            (path.isEmpty ? [] : [path]) + module.innerTaps.flatMap { $0.aliases + [$0.name] }
        }
    }

    /// Offers a tensor computed inside a module to the active tap session under `name`;
    /// returns the tensor to continue with (a gradient point when the session asks for one).
    @_spi(Engine) public static func offerToTaps(_ tensor: Tensor, named name: String) -> Tensor {
        TapSession.current?.offer(tensor, at: name) ?? tensor
    }

    /// Whether the active tap session records `name` (a module path or an inner tap's name).
    @_spi(Engine) public static func isTapped(_ name: String) -> Bool {
        TapSession.current?.paths.contains(name) ?? false
    }

    /// Runs `body` with the outputs of the modules at `paths` recorded.
    ///
    /// - Parameters:
    ///   - paths: module paths such as `features.29` or `layer4`.
    ///   - gradients: make each tapped activation a point of differentiation.
    ///   - body: runs the model; its result is returned with the activations by path.
    /// - Throws: ``UnknownLayerError`` naming the nearest valid paths when a path is unknown.
    public func withTaps<Result>(
        _ paths: [String], gradients: Bool = false,
        _ body: () throws -> Result
    ) throws -> (result: Result, activations: [String: Tensor]) {
        let (result, activations, _) = try withTapsInOrder(paths, gradients: gradients, body)
        return (result, activations)
    }

    /// ``withTaps(_:gradients:_:)`` that also returns the paths in the order their modules finished.
    func withTapsInOrder<Result>(
        _ paths: [String], gradients: Bool = false, _ body: () throws -> Result
    ) throws
        -> (result: Result, activations: [String: Tensor], order: [String])
    {
        let session = try tapSession(paths, gradients: gradients, keepsOutputs: true, body)
        return (session.result, session.tapped.activations, session.tapped.order)
    }

    /// Runs `body` recording only the shapes of the outputs at `paths` and the order their
    /// modules finished: what a model's layers produce without holding every activation at once
    /// (held at once, they would raise a one-shot Grad-CAM's peak memory).
    @_spi(Engine) public func withTapShapesInOrder<Result>(
        _ paths: [String], _ body: () throws -> Result
    ) throws
        -> (result: Result, shapes: [String: [Int]], order: [String])
    {
        let session = try tapSession(paths, gradients: false, keepsOutputs: false, body)
        return (session.result, session.tapped.shapes, session.tapped.order)
    }

    /// Runs `body` with the module (or inner tap) at `path` giving `replacement` instead of what
    /// it computes, so that the rest of the model runs on it: how a method changes a layer's
    /// activations (Ablation-CAM's ablated channels) in a model that is not a chain of stages.
    @_spi(Engine) public func withOutput<Result>(
        at path: String, replacedBy replacement: Tensor, _ body: () throws -> Result
    ) throws -> Result {
        try tapSession([path], gradients: false, keepsOutputs: false, replacements: [path: replacement], body).result
    }

    private func tapSession<Result>(
        _ paths: [String], gradients: Bool, keepsOutputs: Bool, replacements: [String: Tensor] = [:],
        _ body: () throws -> Result
    ) throws
        -> (result: Result, tapped: TapSession)
    {
        if let (expected, found) = misplacedPath() { throw UnassignedPathsError(expected: expected, found: found) }
        let known = Set(tapNames)
        for path in paths where !known.contains(path) {
            throw UnknownLayerError(name: path, suggestions: nearest(path, among: tapNames))
        }
        let session = TapSession(
            paths: Set(paths), tracksGradients: gradients, keepsOutputs: keepsOutputs, replacements: replacements)
        let result = try TapSession.$current.withValue(session) { try body() }
        return (result, session)
    }
}

/// Up to three names closest to `name` by edit distance.
func nearest(_ name: String, among candidates: [String]) -> [String] {
    let target = Array(name)
    func distance(_ other: String) -> Int {
        let source = Array(other)
        var previous = Array(0...target.count)
        for (i, character) in source.enumerated() {
            var current = [i + 1] + Array(repeating: 0, count: target.count)
            for j in 0..<target.count {
                current[j + 1] = Swift.min(
                    previous[j + 1] + 1, current[j] + 1,
                    previous[j] + (character == target[j] ? 0 : 1))
            }
            previous = current
        }
        return previous[target.count]
    }
    let scored: [(name: String, distance: Int)] = candidates.map { ($0, distance($0)) }
    let ranked = scored.sorted { left, right in
        left.distance != right.distance ? left.distance < right.distance : left.name < right.name
    }
    return ranked.prefix(3).map(\.name)
}
