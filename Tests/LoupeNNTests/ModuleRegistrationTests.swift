@_spi(Engine) import LoupeNN
import LoupeTensor
import Testing

/// A module's children and parameters are listed by hand (`children`, `localParameters`); one
/// stored but not listed would be invisible to paths, state_dict keys, taps, freezing and the
/// optimizer. These tests read every stored property by reflection and check it is listed.
@Suite("Module registration")
struct ModuleRegistrationTests {
    /// The modules and parameters a module stores, directly, in arrays or in optionals.
    static func stored(in module: Module) -> (modules: [Module], parameters: [Parameter]) {
        var modules: [Module] = [], parameters: [Parameter] = []
        func visit(_ value: Any) {
            switch value {
            case let module as Module: modules.append(module)
            case let parameter as Parameter: parameters.append(parameter)
            case let array as [Any]: array.forEach(visit)
            default:
                let mirror = Mirror(reflecting: value)
                if mirror.displayStyle == .optional, let wrapped = mirror.children.first { visit(wrapped.value) }
            }
        }
        var mirror: Mirror? = Mirror(reflecting: module)
        while let current = mirror {
            current.children.forEach { visit($0.value) }
            mirror = current.superclassMirror
        }
        return (modules, parameters)
    }

    static func models() throws -> [(String, Module)] {
        var generator = RandomGenerator(seed: 0)
        let small = LayerStack.smallCNN(classes: 10)
        let stack = try LayerStack(
            features: small.features, classifier: small.classifier, inputShape: [1, 28, 28], generator: &generator)
        return try ModelZoo.architectures.map { ($0, try ModelZoo.makeForLoading($0)) } + [("LayerStack", stack)]
    }

    /// What `module` stores and does not list, described.
    static func unlisted(in module: Module) -> [String] {
        let (modules, parameters) = stored(in: module)
        let children = Set(module.children.map { ObjectIdentifier($0.module) })
        let listed = Set(module.localParameters.map { ObjectIdentifier($0.parameter) })
        return modules.filter { !children.contains(ObjectIdentifier($0)) }.map { "a \(type(of: $0)) not in children" }
            + parameters.filter { !listed.contains(ObjectIdentifier($0)) }.map {
                "a parameter \($0.shape) not in localParameters"
            }
    }

    @Test func everyStoredModuleAndParameterIsListed() throws {
        for (name, model) in try Self.models() {
            for (path, module) in model.namedModules() {
                for problem in Self.unlisted(in: module) {
                    Issue.record("\(name): \(path.isEmpty ? "the model" : path) stores \(problem)")
                }
            }
        }
    }

    /// The reflection sees what a module forgot to list.
    @Test func aForgottenChildOrParameterIsFound() {
        final class Forgetful: Module {
            let listed = ReLU(), forgotten = [ReLU()]
            let scale: Parameter? = Parameter(Tensor.ones([2]))
            override var children: [(name: String, module: Module)] { [("listed", listed)] }
        }
        #expect(Self.unlisted(in: Forgetful()) == ["a ReLU not in children", "a parameter [2] not in localParameters"])
    }

    @Test func tapsOnAModelWhosePathsWereNeverAssignedSaySo() throws {
        var generator = RandomGenerator(seed: 0)
        let model = Sequential([
            Conv2d(inputChannels: 1, outputChannels: 2, kernelSize: 3, generator: &generator), ReLU(),
        ])
        #expect(throws: UnassignedPathsError.self) {
            try model.withTaps(["0"]) { model(Tensor.zeros([1, 1, 5, 5])) }
        }
        model.assignPaths()
        let (_, taps) = try model.withTaps(["0"]) { model(Tensor.zeros([1, 1, 5, 5])) }
        #expect(taps["0"]?.shape == [1, 2, 3, 3])
    }
}
