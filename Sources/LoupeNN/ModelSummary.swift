import LoupeTensor

/// A torchinfo-style description of a model: every module's output shape for an input size,
/// its parameters, and the multiply-adds of one forward pass.
public struct ModelSummary {
    public struct Row {
        public let path: String
        public let type: String
        public let depth: Int
        /// The module's output shape, or `nil` when the forward pass did not call it.
        public let outputShape: [Int]?
        /// Parameters owned directly by the module (buffers excluded).
        public let parameters: Int
        public let trainable: Bool
        /// Multiply-adds of the module's own computation (convolutions and linear layers).
        public let multiplyAdds: Int
    }

    public let rows: [Row]
    public let inputShape: [Int]

    public var totalParameters: Int { rows.map(\.parameters).reduce(0, +) }
    public var trainableParameters: Int { rows.filter(\.trainable).map(\.parameters).reduce(0, +) }
    public var totalMultiplyAdds: Int { rows.map(\.multiplyAdds).reduce(0, +) }

    /// Runs `model` once on zeros of `inputShape` (with batch dimension) to find output shapes.
    public init(model: Module, inputShape: [Int]) throws {
        let modules = model.namedModules().filter { !$0.path.isEmpty }
        let (_, shapes, _) = try model.withTapShapesInOrder(model.tapNames) {
            withoutGradients { model(Tensor.zeros(inputShape)) }
        }
        self.inputShape = inputShape
        let inner = model.namedModules().flatMap(\.module.innerTaps).map { tap in
            Row(
                path: tap.name, type: tap.type, depth: 1, outputShape: shapes[tap.name], parameters: tap.parameters,
                trainable: tap.parameters > 0, multiplyAdds: shapes[tap.name].map(tap.multiplyAdds) ?? 0)
        }
        rows =
            inner
            + modules.map { path, module in
                let own = module.localParameters.filter { !$0.parameter.isBuffer }
                let count = own.map { $0.parameter.value.count }.reduce(0, +)
                let shape = shapes[path]
                var multiplyAdds = 0
                if let conv = module as? Conv2d, let shape {
                    multiplyAdds = shape.reduce(1, *) * conv.weight.value.count / conv.weight.shape[0]
                } else if let linear = module as? Linear, let shape {
                    multiplyAdds = shape.dropLast().reduce(1, *) * linear.weight.value.count
                }
                return Row(
                    path: path, type: String(describing: type(of: module)), depth: path.split(separator: ".").count,
                    outputShape: shape, parameters: count,
                    trainable: own.contains { $0.parameter.isTrainable }, multiplyAdds: multiplyAdds)
            }
    }

    /// The table as text, one module per line, then the totals.
    public func rendered() -> String {
        func grouped(_ value: Int) -> String {
            let digits = Array(String(value))
            return String(
                digits.enumerated().flatMap { index, digit in
                    (index > 0 && (digits.count - index) % 3 == 0 ? [","] : []) + [digit]
                })
        }
        let header = ["Layer (path)", "Type", "Output Shape", "Param #", "Trainable"]
        let body = rows.map { row in
            [
                String(repeating: "  ", count: row.depth - 1) + row.path, row.type,
                row.outputShape.map { "[" + $0.map(String.init).joined(separator: ", ") + "]" } ?? "--",
                row.parameters > 0 ? grouped(row.parameters) : "--",
                row.parameters > 0 ? (row.trainable ? "True" : "False") : "--",
            ]
        }
        let widths = header.indices.map { column in ([header] + body).map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { $0.element + String(repeating: " ", count: widths[$0.offset] - $0.element.count) }
                .joined(separator: "  ").trimmingTrailingSpaces()
        }
        let rule = String(repeating: "=", count: widths.reduce(0, +) + 2 * (widths.count - 1))
        let total = totalParameters, trainable = trainableParameters
        return
            ([rule, line(header), rule] + body.map(line) + [
                rule,
                "Input shape: [" + inputShape.map(String.init).joined(separator: ", ") + "]",
                "Total params: \(grouped(total))",
                "Trainable params: \(grouped(trainable))",
                "Non-trainable params: \(grouped(total - trainable))",
                "Total mult-adds: \(grouped(totalMultiplyAdds))",
                rule,
            ]).joined(separator: "\n")
    }
}

private extension String {
    func trimmingTrailingSpaces() -> String {
        var result = self
        while result.last == " " { result.removeLast() }
        return result
    }
}
