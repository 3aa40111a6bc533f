import LoupeExplain
import LoupeNN
import LoupeTensor
import Testing

/// What each registered method declares about itself holds: its output's shape, the settings it
/// reads (and only those), and that a gradient-free method runs without gradients. Loops over
/// the registry, so a new method is checked without a line here.
@Suite("The method registry")
struct MethodRegistryTests {
    let model: Module
    let input: Tensor
    let target = ExplanationTarget.classes([1, 2])
    let options: AttributionMethod.Options

    init() throws {
        var generator = RandomGenerator(seed: 5)
        model = try LayerStack(
            features: [
                LayerSpec("conv2d", outputs: 4, kernel: 3, padding: 1), LayerSpec("relu"),
                LayerSpec("conv2d", outputs: 4, kernel: 3, padding: 1), LayerSpec("relu"),
                LayerSpec("adaptiveavgpool2d", outputs: 1),
            ],
            classifier: [LayerSpec("linear", outputs: 3)], inputShape: [3, 12, 12], generator: &generator)
        input = Tensor.normal([2, 3, 12, 12], generator: &generator)
        var options = AttributionMethod.Options()
        (options.samples, options.steps, options.sigmas) = (3, 4, [1, 2])
        (options.window, options.stride, options.layers) = (4, 4, ["features.3"])
        self.options = options
    }

    /// `options` with `setting` moved to another value that any method reading it responds to.
    func changing(_ setting: AttributionMethod.Setting, in options: AttributionMethod.Options) -> AttributionMethod.Options {
        var changed = options
        switch setting {
        case .samples: changed.samples = 5
        case .noise: changed.noise = 0.4
        case .seed: changed.seed = 9
        case .sigmas: changed.sigmas = [1, 3]
        case .steps: changed.steps = 7
        case .rule: changed.rule = .riemannTrapezoid
        case .window: changed.window = 6
        case .stride: changed.stride = 2
        case .baseline: changed.baseline = .value(0.7)
        case .layer: changed.layers = ["features.1"]
        case .eigenSmooth: changed.eigenSmooth = true
        case .augSmooth: changed.augSmooth = true
        }
        return changed
    }

    @Test func namesAreUniqueAndTypable() {
        let names = MethodRegistry.all.map(\.name)
        #expect(Set(names).count == names.count)
        #expect(names.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isLowercase || $0.isNumber || "-+".contains($0) } })
        #expect(MethodRegistry.all.allSatisfy { !$0.summary.isEmpty && !$0.summary.contains("\n") })
        #expect(names.allSatisfy { MethodRegistry.method(named: $0)?.name == $0 } && MethodRegistry.method(named: "nope") == nil)
    }

    @Test func eachMethodReadsTheSettingsItDeclaresAndNoOthers() throws {
        for method in MethodRegistry.all {
            let base = try method.attribute(model, input: input, target: target, options: options).attribution
            #expect(base.shape == (method.attributesToLayer ? [2, 12, 12] : input.shape), "\(method.name)")
            #expect(base.abs().max().scalar > 0, "\(method.name): an all-zero attribution says nothing")
            for setting in AttributionMethod.Setting.allCases {
                let changed = try method.attribute(
                    model, input: input, target: target, options: changing(setting, in: options)
                ).attribution
                let differs = changed.shape != base.shape || zip(changed.scalars, base.scalars).contains { $0 != $1 }
                #expect(
                    differs == method.settings.contains(setting),
                    "\(method.name) \(differs ? "reads" : "ignores") \(setting) but declares \(method.settings)")
            }
        }
    }

    @Test func gradientFreeMethodsRunWithoutGradients() throws {
        for method in MethodRegistry.all where !method.needsGradients {
            let normal = try method.attribute(model, input: input, target: target, options: options).attribution
            let without = try withoutGradients { try method.attribute(model, input: input, target: target, options: options) }
            #expect(without.attribution.scalars == normal.scalars, "\(method.name)")
        }
    }

    @Test func registeringAddsAMethodAndRefusesClashesAndBadNames() throws {
        let name = "test-negated-saliency"
        let negated = AttributionMethod(name: name, summary: "minus the gradient") { context in
            let saliency = try AttributionMethod.saliency.attribute(context.model, input: context.input, target: context.target)
            return AttributionMethod.Result(attribution: saliency.attribution * -1)
        }
        if MethodRegistry.method(named: name) == nil { try MethodRegistry.register(negated) }
        #expect(MethodRegistry.all.last { $0.name == name } != nil)
        #expect(MethodRegistry.all.prefix(MethodRegistry.builtIn.count).elementsEqual(MethodRegistry.builtIn))
        let attribution = try #require(MethodRegistry.method(named: name)).attribute(model, input: input, target: target)
        let saliency = try AttributionMethod.saliency.attribute(model, input: input, target: target)
        #expect(attribution.attribution.scalars == saliency.attribution.scalars.map { -$0 })
        #expect(throws: ExplanationError.self) { try MethodRegistry.register(negated) }
        #expect(throws: ExplanationError.self) { try MethodRegistry.register(.saliency) }
        for bad in ["", "Grad CAM", "-x", "a,b"] {
            let method = AttributionMethod(name: bad, summary: "bad") { _ in throw ExplanationError("never run") }
            #expect(throws: ExplanationError.self) { try MethodRegistry.register(method) }
        }
    }
}
