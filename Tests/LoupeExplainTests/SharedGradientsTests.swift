import LoupeExplain
import LoupeNN
import LoupeTensor
import Testing

/// Methods run together share one forward and backward pass where they can, with the results
/// each gives alone.
@Suite("Methods sharing a gradient pass", .serialized)
struct SharedGradientsTests {
    let model: Module
    let input: Tensor

    init() throws {
        (model, input) = try smallBatch()
    }

    @Test func everyMethodTogetherEqualsItsOwnRun() throws {
        var options = AttributionMethod.Options()
        (options.samples, options.steps, options.sigmas) = (3, 4, [1, 2])
        (options.window, options.stride, options.layers, options.samplesPerPass) = (16, 16, ["layer3"], 2)
        let methods = MethodRegistry.builtIn
        // Two samples' classes given, the rest their top class.
        let chosen: [Int?] = [4, nil, 7, nil, nil]
        let together = try AttributionMethod.attributeTogether(
            methods, model: model, input: input, targets: chosen, options: options)
        let output = model.predictions(for: input)
        #expect(relativeDifference(together.output, output) < 1e-5)
        let expected = chosen.enumerated().map { $1 ?? output[$0].argmax() }
        #expect(together.targets == expected)
        for (method, result) in zip(methods, together.results) {
            let alone = try method.attribute(model, input: input, target: .classes(expected), options: options)
            #expect(relativeDifference(result.attribution, alone.attribution) < 1e-4, "\(method.name)")
            #expect(result.layers == alone.layers, "\(method.name)")
        }
        #expect(together.seconds["shared"] != nil && methods.allSatisfy { together.seconds[$0.name] != nil })
    }

    @Test func theGradientMethodsAndLayerCAMsShareAndTheOthersDoNot() throws {
        let layer = ["layer4"]
        for method in [AttributionMethod.saliency, .inputXGradient, .gradCAM, .gradCAMPlusPlus, .eigenCAM] {
            #expect(method.sharesGradients(layers: layer, options: .init()), "\(method.name)")
        }
        // Another ReLU rule, noise, perturbations, several passes: each runs on its own.
        for method in [AttributionMethod.guidedBackprop, .smoothgrad, .occlusion, .scoreCAM, .ablationCAM, .fullGrad] {
            #expect(!method.sharesGradients(layers: layer, options: .init()), "\(method.name)")
        }
        var smoothed = AttributionMethod.Options()
        smoothed.augSmooth = true
        #expect(!AttributionMethod.gradCAM.sharesGradients(layers: ["layer4"], options: smoothed))
        #expect(!AttributionMethod.gradCAM.sharesGradients(layers: ["layer3", "layer4"], options: .init()))
        #expect(AttributionMethod.saliency.sharesGradients(layers: ["layer3", "layer4"], options: smoothed))
    }

    @Test func aClassOutsideTheModelIsAnError() throws {
        #expect(throws: ExplanationError.self) {
            try AttributionMethod.attributeTogether(
                [.saliency], model: model, input: input, targets: [10, nil, nil, nil, nil])
        }
        #expect(throws: ExplanationError.self) {
            try AttributionMethod.attributeTogether(
                [.occlusion], model: model, input: input, targets: [nil, 12, nil, nil, nil])
        }
    }
}
