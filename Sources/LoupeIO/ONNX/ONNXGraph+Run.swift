import LoupeNN
import LoupeTensor

extension ONNXGraph {
    /// Runs the graph.
    ///
    /// - Parameters:
    ///   - feeds: a value for each of ``inputs``.
    ///   - offer: called with each float tensor a node produces (for a node's first output by the
    ///     node's name, then by the tensor's); returns the tensor to continue with (taps).
    ///   - observes: whether `offer` wants the tensor of a name. Conv → (Add →) Relu chains run as
    ///     one fused convolution (see ``ConvolutionFusion``), skipping the tensors inside, unless
    ///     `offer` is given and `observes` is not, or it says one of those tensors is wanted.
    ///   - also: tensors inside the graph to return as well.
    /// - Returns: the values of every graph output, and of the tensors in `also`.
    public func run(
        _ feeds: [String: ONNXValue], offer: ((String, Tensor) -> Tensor)? = nil,
        observes: ((String) -> Bool)? = nil, also: [String] = []
    ) throws -> [String: ONNXValue] {
        var execution = try Execution(graph: self, feeds: feeds, offer: offer, observes: observes)
        for index in nodes.indices { try execution.step(index) }
        if execution.isNewSignature { keepFolded(execution.staticValues, for: execution.signature) }
        var results: [String: ONNXValue] = [:]
        for output in outputs + also { results[output] = execution.values[output] }
        return results
    }

    /// One run of the graph: every value so far by tensor name, and what is folded at this input shape.
    private struct Execution {
        let graph: ONNXGraph
        let offer: ((String, Tensor) -> Tensor)?
        let observes: ((String) -> Bool)?
        var values: [String: ONNXValue] = [:]
        /// The input shapes, which key the folded values.
        let signature: [[Int]]
        /// Values that depend only on constants and shapes, for this input shape.
        var staticValues: [String: ONNXValue]
        /// Whether this run is the first at its input shape, so that it folds instead of reusing.
        let isNewSignature: Bool
        /// The names of the values that depend only on constants and shapes.
        var isStatic: Set<String>
        /// Convolutions whose chain runs fused, at the chain's last node.
        var deferred = Set<Int>()

        /// The constants and the feeds, and the folded values of an earlier run at these shapes.
        init(
            graph: ONNXGraph, feeds: [String: ONNXValue], offer: ((String, Tensor) -> Tensor)?, observes: ((String) -> Bool)?
        ) throws {
            (self.graph, self.offer, self.observes) = (graph, offer, observes)
            for (name, parameter) in graph.parameters { values[name] = .float(parameter.value) }
            for (name, integers) in graph.integerConstants { values[name] = .integer(integers) }
            var signature: [[Int]] = []
            for input in graph.inputs {
                guard let feed = feeds[input.name] else {
                    throw LoupeIOError("no value given for the graph input '\(input.name)'")
                }
                values[input.name] = feed
                signature.append(feed.shape)
            }
            self.signature = signature
            staticValues = graph.foldedValues(for: signature) ?? [:]
            isNewSignature = staticValues.isEmpty
            isStatic = Set(graph.integerConstants.keys)
        }

        /// Runs node `index`: from the folded values, as part of a fused chain, or by itself.
        mutating func step(_ index: Int) throws {
            let node = graph.nodes[index]
            if reuseFolded(node) { return }
            var fusedResult: ONNXValue?
            if let fusion = graph.fusions[index] {
                switch try chainStep(fusion, at: index) {
                case .skip: return
                case .evaluate: break
                case .fused(let result): fusedResult = result
                }
            }
            store(try fusedResult.map { [$0] } ?? evaluated(node), of: node)
        }

        /// Takes a node's outputs from the folded values, when an earlier run at this shape folded them all.
        private mutating func reuseFolded(_ node: ONNXGraph.Node) -> Bool {
            guard !isNewSignature, node.outputs.allSatisfy({ $0.isEmpty || staticValues[$0] != nil }) else { return false }
            for output in node.outputs where !output.isEmpty { values[output] = staticValues[output] }
            return true
        }

        private enum ChainStep {
            /// The node's work happens at the chain's last node.
            case skip
            /// The node runs by itself.
            case evaluate
            /// The chain's last node: the fused convolution's result.
            case fused(ONNXValue)
        }

        /// A node of a Conv → (Add →) Relu chain: the convolution waits when the chain may fuse,
        /// the inner Add is skipped, and the last node runs the fused convolution. An addend that
        /// broadcasts cannot fuse: the chain's nodes then run one by one after all.
        private mutating func chainStep(_ fusion: ConvolutionFusion, at index: Int) throws -> ChainStep {
            if index == fusion.convolution {
                guard mayFuse(fusion) else { return .evaluate }
                deferred.insert(index)
                return .skip
            }
            guard deferred.contains(fusion.convolution) else { return .evaluate }
            guard index == fusion.last else { return .skip }
            let convolution = graph.nodes[fusion.convolution]
            let arguments = ONNXArguments(
                node: convolution, values: convolution.inputs.map { $0.isEmpty ? nil : values[$0] }, opset: graph.opset)
            let addend = fusion.addend.flatMap { values[$0]?.tensor }
            let fused: ONNXValue?
            do {
                fused = try ONNXGraph.convolution(arguments, then: ConvolutionEpilogue(adding: addend, activation: .relu))
            } catch let error as LoupeIOError {
                throw LoupeIOError("node \(convolution.name) (Conv): \(error.description)")
            }
            if let fused { return .fused(fused) }
            for skipped in [fusion.convolution, fusion.add].compactMap({ $0 }) {
                for (output, value) in zip(graph.nodes[skipped].outputs, try evaluated(graph.nodes[skipped])) {
                    values[output] = value
                }
            }
            return .evaluate
        }

        /// Whether a chain may run fused: nobody watches its inner tensors, and its convolution
        /// is a 2-D one over values that vary with the input.
        private func mayFuse(_ fusion: ConvolutionFusion) -> Bool {
            guard offer == nil || observes != nil else { return false }
            let convolution = graph.nodes[fusion.convolution]
            return !convolution.inputs.contains { isStatic.contains($0) } && values[convolution.inputs[0]]?.shape.count == 4
                && !fusion.inner(graph.nodes).contains { observes?($0) == true }
        }

        /// The node's outputs from its operator, with its name in any error.
        private func evaluated(_ node: ONNXGraph.Node) throws -> [ONNXValue] {
            do {
                return try graph.evaluate(node, node.inputs.map { $0.isEmpty ? nil : values[$0] })
            } catch let error as LoupeIOError {
                throw LoupeIOError("node \(node.name) (\(node.operation)): \(error.description)")
            }
        }

        /// Keeps a node's outputs: values of constants and shapes are folded; float tensors are
        /// offered to the taps, by the node's name and then by their own.
        private mutating func store(_ results: [ONNXValue], of node: ONNXGraph.Node) {
            let foldable =
                node.operation == "Shape" || node.operation == "Size"
                || node.inputs.allSatisfy { $0.isEmpty || isStatic.contains($0) }
            for (index, output) in node.outputs.enumerated() where !output.isEmpty && index < results.count {
                var result = results[index]
                if foldable {
                    isStatic.insert(output)
                    staticValues[output] = result
                } else if case .float(var tensor) = result, let offer {
                    // The node's name first, so the tensor's own name is the later (preferred) one.
                    if index == 0 { tensor = offer(node.name, tensor) }
                    result = .float(offer(output, tensor))
                }
                values[output] = result
            }
        }
    }
}
