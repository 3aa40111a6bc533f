import LoupeTensor

/// What loading a state_dict into a module found, key by key.
public struct StateDictReport: Error, CustomStringConvertible, Equatable {
    /// Keys the module has and the file lacks.
    public var missing: [String] = []
    /// Keys the file has and the module lacks.
    public var unexpected: [String] = []
    /// Keys whose shapes differ: (key, the module's shape, the file's shape).
    public var mismatched: [ShapeMismatch] = []

    public struct ShapeMismatch: Equatable, Sendable {
        public let key: String
        public let expected: [Int]
        public let found: [Int]
    }

    /// Whether every key and shape agreed.
    public var isExact: Bool { missing.isEmpty && unexpected.isEmpty && mismatched.isEmpty }

    public var description: String {
        var parts: [String] = []
        if !missing.isEmpty { parts.append("missing \(missing.count) (\(summary(missing)))") }
        if !unexpected.isEmpty { parts.append("unexpected \(unexpected.count) (\(summary(unexpected)))") }
        if !mismatched.isEmpty {
            parts.append(
                "wrong shape \(mismatched.count) ("
                    + mismatched.prefix(4)
                    .map { "\($0.key): model \($0.expected), file \($0.found)" }.joined(separator: "; ")
                    + (mismatched.count > 4 ? "; …" : "") + ")")
        }
        return "weights do not fit the architecture: " + parts.joined(separator: ", ")
            + "; check --arch, or load non-strictly to keep a replaced head"
    }

    private func summary(_ keys: [String]) -> String {
        keys.prefix(4).joined(separator: ", ") + (keys.count > 4 ? ", …" : "")
    }
}

extension Module {
    /// Loads parameters and buffers by state_dict key, checking every key and shape first.
    ///
    /// - Parameters:
    ///   - state: tensors by key (`features.0.weight`, `layer1.0.bn1.running_mean`).
    ///   - strict: when `true`, any missing (other than a ``Parameter/mayBeAbsent`` one),
    ///     unexpected or mis-shaped key throws the full
    ///     ``StateDictReport`` and nothing is loaded. When `false`, every key that fits is
    ///     loaded and the rest (a replaced head, say) keep their values.
    /// - Returns: the report (exact when strict loading succeeded).
    @discardableResult
    public func load(_ state: [String: Tensor], strict: Bool = true) throws -> StateDictReport {
        let parameters = namedParameters()
        let known = Dictionary(parameters.map { ($0.key, $0.parameter) }, uniquingKeysWith: { first, _ in first })
        var report = StateDictReport()
        report.missing = parameters.filter { state[$0.key] == nil && !$0.parameter.mayBeAbsent }.map(\.key)
        report.unexpected = state.keys.filter { known[$0] == nil }.sorted()
        for (key, parameter) in parameters {
            guard let value = state[key], value.shape != parameter.shape else { continue }
            report.mismatched.append(.init(key: key, expected: parameter.shape, found: value.shape))
        }
        if strict && !report.isExact { throw report }
        let skipped = Set(report.mismatched.map(\.key))
        for (key, parameter) in parameters where !skipped.contains(key) {
            if let value = state[key] { parameter.value = value }
        }
        return report
    }

    /// Every parameter and buffer by state_dict key.
    public func stateDict() -> [String: Tensor] {
        Dictionary(namedParameters().map { ($0.key, $0.parameter.value) }, uniquingKeysWith: { first, _ in first })
    }
}
