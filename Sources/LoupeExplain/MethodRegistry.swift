import Foundation

/// Every attribution method Loupe can run, by name: its own, in the order the help and the
/// report list them, then those a library user registers.
public enum MethodRegistry {
    /// Loupe's own methods. A new built-in method is declared in its own file and named here.
    public static let builtIn: [AttributionMethod] = [
        .saliency, .inputXGradient, .guidedBackprop, .deconvnet, .smoothgrad, .smoothgradSquared, .vargrad, .blurSaliency,
        .integratedGradients, .occlusion, .gradCAM, .gradCAMPlusPlus, .hiResCAM, .xGradCAM, .layerCAM, .gradCAMElementWise,
        .eigenCAM, .eigenGradCAM, .scoreCAM, .ablationCAM, .fullGrad, .guidedGradCAM,
    ]

    /// The built-in methods, then the registered ones.
    public static var all: [AttributionMethod] { builtIn + registered.methods }

    /// The methods a report shows unless told otherwise.
    public static var defaultReport: [AttributionMethod] { all.filter(\.isInDefaultReport) }

    /// The method called `name`, if any.
    public static func method(named name: String) -> AttributionMethod? { all.first { $0.name == name } }

    /// Adds a method of the library user's own, after the built-in ones.
    ///
    /// - Throws: ``ExplanationError`` when the name is taken or is not lowercase words joined by
    ///   hyphens (letters, digits, `+`), so that it can be typed on a command line and in a list.
    public static func register(_ method: AttributionMethod) throws {
        let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789-+")
        guard !method.name.isEmpty, method.name.allSatisfy(allowed.contains), method.name.first != "-" else {
            throw ExplanationError("method name '\(method.name)' must be lowercase letters, digits, '+' and inner hyphens")
        }
        guard registered.add(method, unlessTakenIn: builtIn) else {
            throw ExplanationError("a method called '\(method.name)' is already registered")
        }
    }

    private static let registered = Registered()

    /// The user-registered methods, behind a lock: registration may come from any thread.
    private final class Registered: @unchecked Sendable {
        private let lock = NSLock()
        private var list: [AttributionMethod] = []

        var methods: [AttributionMethod] { lock.withLock { list } }

        func add(_ method: AttributionMethod, unlessTakenIn builtIn: [AttributionMethod]) -> Bool {
            lock.withLock {
                guard !(builtIn + list).contains(method) else { return false }
                list.append(method)
                return true
            }
        }
    }
}
