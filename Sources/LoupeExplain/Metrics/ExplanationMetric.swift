import LoupeNN
import LoupeTensor

/// A measure of how good an explanation is, declared once as ``AttributionMethod`` is: its
/// command-line name, a one-line description, its parameters with their defaults, and whether a
/// higher or a lower value is better. Loupe's own metrics are static members declared beside their
/// definitions (``deletion``, ``sparseness``, ...), and ``MetricRegistry`` lists them.
///
/// A metric judges one image's attribution as it stands ("what a metric sees", see
/// ``metricMap(_:of:inputShape:)``): a pixel method's map `[C, H, W]`, or a CAM map resized to the
/// input's `[H, W]`.
public struct ExplanationMetric: Sendable, Hashable {
    /// Which way is better.
    public enum Direction: String, Sendable {
        case higherIsBetter = "higher"
        case lowerIsBetter = "lower"
    }

    /// A setting of the metric, given on the command line as `--metric-option NAME.KEY=VALUE`.
    public struct Parameter: Sendable {
        public let key: String
        public let defaultValue: Double
        /// What it is, and why its default differs from the reference's where it does.
        public let summary: String
        /// Whether the value must be a whole number of at least 1 (a step, a sample count).
        public let isCount: Bool

        public init(_ key: String, default defaultValue: Double, count isCount: Bool = false, _ summary: String) {
            self.key = key
            self.defaultValue = defaultValue
            self.isCount = isCount
            self.summary = summary
        }
    }

    /// Makes a map again as the method that made the scored one does, for a metric that explains
    /// other inputs, models or classes (sensitivity, MPRT, random logit): `(model, input
    /// [1, C, H, W], target)` to what a metric sees (``metricMap(_:of:inputShape:)``).
    public typealias Explainer = (Module, Tensor, Int) throws -> Tensor

    /// `method` with `options` as a metric's ``Explainer``: its attribution of the target for
    /// the input, as a metric sees it.
    public static func explainer(for method: AttributionMethod, options: AttributionMethod.Options) -> Explainer {
        { model, input, target in
            metricMap(
                try method.attribute(model, input: input, target: .classes([target]), options: options).attribution,
                of: method, inputShape: input.shape)
        }
    }

    /// What a metric needs besides the model, the input and the map.
    public enum Requirement: String, Sendable {
        /// The method that made the map (an ``Explainer``).
        case explainer
        /// Where the object is: a region `[H, W]`, 1 inside and 0 outside (boxes or a mask).
        case region
    }

    /// What a metric is run on: one image.
    public struct Context {
        public var model: Module
        /// `[1, C, H, W]`, in the model's input space.
        public var input: Tensor
        /// The class the attribution explains.
        public var target: Int
        /// What the metric sees: `[C, H, W]` for a pixel map, `[H, W]` for a resized CAM map.
        public var map: Tensor
        /// Every declared parameter, the given value or its default.
        public var parameters: [String: Double]
        /// The most perturbed copies run through the model together.
        public var copiesPerPass: Int
        /// Told the model passes done and in all.
        public var progress: (Int, Int) -> Void
        /// The method that made the map, where the metric requires it.
        public var explain: Explainer?
        /// Where the object is, `[H, W]`, where the metric requires it.
        public var region: Tensor?
        /// Every random draw the metric makes.
        public var draws: any MetricDraws

        /// The map's values for every input value, `[C·H·W]`: a layer map repeated for each
        /// channel (as Quantus broadcasts a map to the input's shape).
        public var broadcastMap: [Float] {
            let values = map.scalars
            return map.rank == 3 ? values : (0..<input.shape[1]).flatMap { _ in values }
        }

        /// A count parameter's value.
        public func count(_ key: String) -> Int { Int(parameters[key]!) }

        /// The map of `target` for `input` under `model`, as the method that made ``map`` makes it.
        public func explained(_ model: Module, _ input: Tensor, _ target: Int) throws -> Tensor {
            let made = try withGradients { try explain!(model, input, target) }
            guard made.shape == map.shape else {
                throw ExplanationError("the method's map is \(made.shape), the scored map \(map.shape)")
            }
            return made
        }
    }

    /// A metric's outcome on one image.
    public struct Result: Sendable {
        /// The metric's scalar.
        public var value: Float
        /// The curve the scalar summarizes, where there is one (a deletion curve's probabilities).
        public var curve: [Float]?

        public init(value: Float, curve: [Float]? = nil) {
            self.value = value
            self.curve = curve
        }
    }

    /// The name on the command line (`--metrics`).
    public let name: String
    public let summary: String
    public let direction: Direction
    public let parameters: [Parameter]
    /// What it needs besides the model, the input and the map.
    public let requirements: Set<Requirement>
    private let run: @Sendable (Context) throws -> Result

    public init(
        name: String, summary: String, direction: Direction, parameters: [Parameter] = [],
        requirements: Set<Requirement> = [], run: @escaping @Sendable (Context) throws -> Result
    ) {
        self.name = name
        self.summary = summary
        self.direction = direction
        self.parameters = parameters
        self.requirements = requirements
        self.run = run
    }

    public static func == (left: ExplanationMetric, right: ExplanationMetric) -> Bool { left.name == right.name }
    public func hash(into hasher: inout Hasher) { hasher.combine(name) }

    /// Scores `map` (see ``metricMap(_:of:inputShape:)``), an attribution of `target` for `input`.
    ///
    /// - Parameters:
    ///   - input: `[1, C, H, W]`.
    ///   - settings: values for some of ``parameters``, by key; the rest keep their defaults.
    ///   - explain: the method that made `map`, for a metric that requires it.
    ///   - region: where the object is, `[H, W]` (1 inside, 0 outside), for a metric that
    ///     requires it.
    ///   - draws: the metric's random draws (by default seeded with 0, so a run repeats).
    /// - Throws: ``ExplanationError`` for an unknown or invalid setting, a map of the wrong shape
    ///   or with values that are not finite, or a requirement not given.
    public func evaluate(
        _ model: Module, input: Tensor, target: Int, map: Tensor, settings: [String: Double] = [:],
        explain: Explainer? = nil, region: Tensor? = nil, draws: (any MetricDraws)? = nil,
        copiesPerPass: Int = 16, progress: ((Int, Int) -> Void)? = nil
    ) throws -> Result {
        guard input.rank == 4, input.shape[0] == 1 else {
            throw ExplanationError("\(name): the input must be one image [1, C, H, W]; got \(input.shape)")
        }
        let (channels, height, width) = (input.shape[1], input.shape[2], input.shape[3])
        guard map.shape == [channels, height, width] || map.shape == [height, width] else {
            throw ExplanationError(
                "\(name): the map must be [\(channels), \(height), \(width)] or [\(height), \(width)]; got \(map.shape)")
        }
        guard map.scalars.allSatisfy(\.isFinite) else {
            throw ExplanationError("\(name): the map has values that are not finite")
        }
        if requirements.contains(.explainer) && explain == nil {
            throw ExplanationError("\(name) explains again, and needs the method that made the map")
        }
        if requirements.contains(.region) {
            guard let region else { throw ExplanationError("\(name) needs where the object is (boxes or a mask)") }
            guard region.shape == [height, width] else {
                throw ExplanationError("\(name): the region must be [\(height), \(width)]; got \(region.shape)")
            }
        }
        let values = try resolvedParameters(settings)
        return try withoutGradients {
            try run(
                Context(
                    model: model, input: input, target: target, map: map, parameters: values,
                    copiesPerPass: Swift.max(1, copiesPerPass), progress: progress ?? { _, _ in }, explain: explain,
                    region: region, draws: draws ?? SeededMetricDraws(seed: 0)))
        }
    }

    /// Every declared parameter's value: the one in `settings`, else its default.
    ///
    /// - Throws: ``ExplanationError`` for a key the metric does not declare, a value that is not
    ///   finite, or a count that is not a whole number ≥ 1.
    public func resolvedParameters(_ settings: [String: Double]) throws -> [String: Double] {
        var values: [String: Double] = [:]
        for parameter in parameters { values[parameter.key] = parameter.defaultValue }
        for (key, value) in settings {
            guard let parameter = parameters.first(where: { $0.key == key }) else {
                let known = parameters.map(\.key).joined(separator: ", ")
                throw ExplanationError(
                    "\(name) has no option '\(key)'" + (known.isEmpty ? " (it has none)" : " (it has \(known))"))
            }
            guard value.isFinite, !parameter.isCount || (value >= 1 && value == value.rounded() && value < 1e9) else {
                throw ExplanationError(
                    "\(name).\(key) must be \(parameter.isCount ? "a whole number ≥ 1" : "a number"); got \(value)")
            }
            values[key] = value
        }
        return values
    }

    /// What a metric sees of one sample's attribution: a pixel method's `[C, H, W]` as it is; a
    /// layer map `[h, w]` resized bilinearly (`align_corners=False`) to the input's `[H, W]`
    /// without rescaling its values.
    ///
    /// - Parameters:
    ///   - attribution: the method's result for one sample: `[1, C, H, W]` or `[C, H, W]` for a
    ///     pixel method, `[1, h, w]` or `[h, w]` for a layer method.
    ///   - inputShape: `[1, C, H, W]`.
    public static func metricMap(_ attribution: Tensor, of method: AttributionMethod, inputShape: [Int]) -> Tensor {
        let (height, width) = (inputShape[2], inputShape[3])
        guard method.attributesToLayer else {
            return attribution.reshaped(Array(inputShape.dropFirst()))
        }
        let plane = attribution.reshaped([1, 1] + attribution.shape.suffix(2))
        let resized =
            plane.shape[2] == height && plane.shape[3] == width ? plane : plane.resizedBilinear(to: Size2D(height, width))
        return resized.reshaped([height, width])
    }
}

/// Every explanation metric Loupe has, by name, in the order the help lists them.
public enum MetricRegistry {
    public static let all: [ExplanationMetric] = [
        .deletion, .insertion, .pixelFlipping, .regionPerturbation, .roadMostRelevantFirst, .roadLeastRelevantFirst,
        .faithfulnessCorrelation, .averageDrop, .averageIncrease, .maxSensitivity, .avgSensitivity, .mprt, .randomLogit,
        .sparseness, .complexity, .pointingGame, .attributionLocalisation,
    ]

    /// The metric called `name`, if any.
    public static func metric(named name: String) -> ExplanationMetric? { all.first { $0.name == name } }
}
