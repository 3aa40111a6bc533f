/// Reverse-mode differentiation over the recorded operations.
///
/// Computes the gradient of `output` with respect to each tensor in `points`.
///
/// Each point must be a tracked tensor: a leaf made by ``Tensor/trackingGradients()`` or any
/// intermediate result computed from one (the activation at a layer, for Grad-CAM). A point that
/// `output` does not depend on gets zeros. Gradients from every use of a tensor are summed, so
/// skip connections and reused weights are handled.
///
/// - Parameters:
///   - output: the value to differentiate; any shape.
///   - points: the tensors to differentiate with respect to.
///   - seed: the gradient flowing into `output` (`∂L/∂output`); defaults to ones, which for a
///     scalar `output` gives its plain gradient.
/// - Returns: one gradient per point, each with that point's shape.
public func gradients(of output: Tensor, at points: [Tensor], seed: Tensor? = nil) -> [Tensor] {
    let seedValue = seed ?? Tensor.ones(output.shape)
    precondition(
        seedValue.shape == output.shape,
        "gradients(of:at:seed:): seed shape \(seedValue.shape) must equal output shape \(output.shape)")
    for point in points {
        precondition(
            point.gradientNode != nil,
            "gradients(of:at:): every point must track gradients; call trackingGradients() on the input before computing with it")
    }
    guard let root = output.gradientNode else {
        return points.map { Tensor.zeros($0.shape) }
    }
    let order = reverseTopologicalOrder(from: root)
    let wanted = Set(points.compactMap { $0.gradientNode.map(ObjectIdentifier.init) })
    // Only nodes that lead to a wanted point need their pullbacks run.
    let relevant = nodesReaching(wanted, in: order)

    var accumulated: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seedValue.detached()]
    var results: [ObjectIdentifier: Tensor] = [:]
    withoutGradients {
        for node in order {
            let id = ObjectIdentifier(node)
            guard let gradient = accumulated.removeValue(forKey: id) else { continue }
            if wanted.contains(id) { results[id] = gradient }
            guard let pullback = node.pullback else { continue }
            let needed = node.inputs.map { input in input.map { relevant.contains(ObjectIdentifier($0)) } ?? false }
            guard needed.contains(true) else { continue }
            let inputGradients = pullback(gradient, needed)
            for (index, input) in node.inputs.enumerated() where needed[index] {
                guard let input, let inputGradient = inputGradients[index] else { continue }
                precondition(
                    inputGradient.shape == input.shape,
                    "Internal error: a pullback returned shape \(inputGradient.shape) for an input of shape \(input.shape)")
                let key = ObjectIdentifier(input)
                if let existing = accumulated[key] {
                    accumulated[key] = existing + inputGradient
                } else {
                    accumulated[key] = inputGradient
                }
            }
        }
    }
    return points.map { point in
        results[ObjectIdentifier(point.gradientNode!)] ?? Tensor.zeros(point.shape)
    }
}

/// Evaluates `function` at `inputs` and returns its value and its gradient with respect to
/// each input.
///
/// ```swift
/// let (loss, grads) = valueWithGradient(at: [x, w]) { t in (t[0] * t[1]).sum() }
/// ```
/// - Parameters:
///   - inputs: the points of differentiation.
///   - function: computes a tensor (usually a scalar) from tracked copies of `inputs`.
/// - Returns: the value (not tracked) and one gradient per input.
public func valueWithGradient(
    at inputs: [Tensor], of function: ([Tensor]) throws -> Tensor
) rethrows -> (value: Tensor, gradients: [Tensor]) {
    let tracked = inputs.map { $0.trackingGradients() }
    let value = try GradientRecording.$isEnabled.withValue(true) { try function(tracked) }
    return (value.detached(), gradients(of: value, at: tracked))
}

/// Evaluates `function` at `input` and returns its value and gradient.
public func valueWithGradient(
    at input: Tensor, of function: (Tensor) throws -> Tensor
) rethrows -> (value: Tensor, gradient: Tensor) {
    let (value, gradients) = try valueWithGradient(at: [input]) { try function($0[0]) }
    return (value, gradients[0])
}

/// The gradient of `function` at `input`.
public func gradient(at input: Tensor, of function: (Tensor) throws -> Tensor) rethrows -> Tensor {
    try valueWithGradient(at: input, of: function).gradient
}

/// Nodes reachable from `root`, each after every node that uses it (outputs before inputs).
private func reverseTopologicalOrder(from root: GradientNode) -> [GradientNode] {
    var visited = Set<ObjectIdentifier>()
    var postOrder: [GradientNode] = []
    // Iterative depth-first search: deep networks would overflow a recursive one.
    var stack: [(node: GradientNode, nextInput: Int)] = [(root, 0)]
    visited.insert(ObjectIdentifier(root))
    while !stack.isEmpty {
        let (node, next) = stack[stack.count - 1]
        if next < node.inputs.count {
            stack[stack.count - 1].nextInput += 1
            if let input = node.inputs[next], visited.insert(ObjectIdentifier(input)).inserted {
                stack.append((input, 0))
            }
        } else {
            postOrder.append(node)
            stack.removeLast()
        }
    }
    return postOrder.reversed()
}

/// The nodes in `order` from which some node in `targets` can be reached (targets included).
private func nodesReaching(_ targets: Set<ObjectIdentifier>, in order: [GradientNode]) -> Set<ObjectIdentifier> {
    var reaching = targets
    // `order` lists users before inputs, so walking it backwards sees inputs first.
    for node in order.reversed()
    where node.inputs.contains(where: { $0.map { reaching.contains(ObjectIdentifier($0)) } ?? false }) {
        reaching.insert(ObjectIdentifier(node))
    }
    return reaching
}
