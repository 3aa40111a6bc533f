import LoupeNN
import LoupeTensor
import Testing

/// Modules run a convolution with the batch norm, residual addition and ReLU after it as one
/// fused convolution; results and taps must be those of the modules called one by one.
@Suite("Fused convolutions in modules")
struct ModuleFusionTests {
    func expectClose(_ actual: Tensor, _ expected: Tensor, _ what: String) {
        #expect(actual.shape == expected.shape, "\(what): shape")
        let scale = expected.abs().max().scalar
        let worst = (actual - expected).abs().max().scalar
        #expect(worst <= 1e-5 * scale, "\(what): max |Δ| \(worst) against max |expected| \(scale)")
    }

    /// Batch norms with statistics and affine parameters away from the identity.
    func randomizeNorms(_ model: Module, generator: inout RandomGenerator) {
        for (_, module) in model.namedModules() {
            guard let norm = module as? BatchNorm2d else { continue }
            let channels = norm.weight.shape[0]
            norm.weight.value = Tensor.uniform([channels], low: 0.5, high: 1.5, generator: &generator)
            norm.bias.value = Tensor.normal([channels], standardDeviation: 0.2, generator: &generator)
            norm.runningMean.value = Tensor.normal([channels], standardDeviation: 0.2, generator: &generator)
            norm.runningVariance.value = Tensor.uniform([channels], low: 0.5, high: 2, generator: &generator)
        }
    }

    @Test func resNetBlocksEqualTheirModulesInTurnAndTapsInsideSeeTheirPoints() throws {
        var generator = RandomGenerator(seed: 41)
        let model = ResNet(depth: 18, classes: 10, generator: &generator)
        model.assignPaths()
        randomizeNorms(model, generator: &generator)
        let block = try #require(model.layers[1].layers[0] as? BasicBlock)  // with a downsampling shortcut
        let input = Tensor.normal([1, 64, 8, 8], generator: &generator)
        let shortcut = try #require(block.downsample)
        let inner = withoutGradients { block.bn1(block.conv1(input)) }
        let expected = withoutGradients {
            (block.bn2(block.conv2(inner.relu())) + shortcut.layers[1](shortcut.layers[0](input))).relu()
        }
        expectClose(withoutGradients { block(input) }, expected, "fused block")
        let (tapped, activations) = try block.withTaps([block.bn1.path, block.path]) { withoutGradients { block(input) } }
        expectClose(tapped, expected, "block with a tap inside")
        expectClose(try #require(activations[block.bn1.path]), inner, "tapped bn1")
        expectClose(try #require(activations[block.path]), expected, "tapped block")
    }

    /// The residual sums of MobileNetV2, EfficientNet and RegNet blocks run inside their last
    /// convolution; the block's output, its branch's (before the sum) when tapped, and the input
    /// gradient are those of the modules in turn.
    @Test(arguments: ["mobilenet_v2", "efficientnet_b0", "regnet_y_400mf"])
    func residualSumsRunInTheLastConvolution(_ name: String) throws {
        var generator = RandomGenerator(seed: 43)
        let model = try ModelZoo.make(name, classes: 10)
        randomizeNorms(model, generator: &generator)
        // A block that adds its input back (the second of its stage), and its branch.
        let block: Module, branch: Module
        if let mobileNet = model as? MobileNetV2, let residual = mobileNet.features.layers[3] as? InvertedResidual {
            (block, branch) = (residual, residual.conv)
        } else if let efficientNet = model as? EfficientNet, let stage = efficientNet.features.layers[2] as? Sequential,
            let residual = stage.layers[1] as? EfficientNetBlock
        {
            (block, branch) = (residual, residual.block)
        } else if let regNet = model as? RegNet, let stage = regNet.trunkOutput.layers[1].module as? NamedSequential,
            let residual = stage.layers[1].module as? RegNetBlock
        {
            (block, branch) = (residual, residual.f)
        } else {
            Issue.record("no residual block found in \(name)")
            return
        }
        let channels = try #require(block.namedModules().compactMap { $0.module as? Conv2d }.first).weight.shape[1]
        let input = Tensor.normal([1, channels, 9, 9], generator: &generator)
        let fused = withoutGradients { block(input) }
        // The same block with its branch tapped runs the operations in turn.
        let (tapped, activations) = try block.withTaps([branch.path]) { withoutGradients { block(input) } }
        expectClose(fused, tapped, "\(name): fused sum")
        let branchOutput = try #require(activations[branch.path])
        let sum = branchOutput + input
        // RegNet's block ends in ReLU after the sum.
        expectClose(fused, block is RegNetBlock ? sum.relu() : sum, "\(name): block = branch + input")
        let seed = Tensor.normal(fused.shape, generator: &generator)
        let x = input.trackingGradients()
        let fusedGradient = gradients(of: block(x), at: [x], seed: seed)[0]
        let unfusedGradient = try block.withTaps([branch.path]) { gradients(of: block(x), at: [x], seed: seed)[0] }.0
        expectClose(fusedGradient, unfusedGradient, "\(name): input gradient")
    }

    @Test func sequentialFusesConvolutionNormAndReLURuns() throws {
        var generator = RandomGenerator(seed: 42)
        let layers: [Module] = [
            Conv2d(inputChannels: 3, outputChannels: 16, kernelSize: 3, padding: 1, generator: &generator),
            BatchNorm2d(channels: 16), ReLU(),
            MaxPool2d(kernelSize: 2),
            Conv2d(inputChannels: 16, outputChannels: 32, kernelSize: 3, padding: 1, generator: &generator), ReLU(),
            Conv2d(inputChannels: 32, outputChannels: 32, kernelSize: 1, bias: false, generator: &generator),
            BatchNorm2d(channels: 32),
        ]
        let model = Sequential(layers)
        model.assignPaths()
        randomizeNorms(model, generator: &generator)
        let input = Tensor.normal([2, 3, 12, 12], generator: &generator)
        let expected = withoutGradients { layers.reduce(input) { $1.forward($0) } }
        expectClose(withoutGradients { model(input) }, expected, "fused sequence")
        // Gradients with respect to the input, through the fused convolutions.
        let seed = Tensor.normal(expected.shape, generator: &generator)
        let x = input.trackingGradients()
        let fusedGradient = gradients(of: model(x), at: [x], seed: seed)[0]
        let unfusedGradient = gradients(of: layers.reduce(x) { $1.forward($0) }, at: [x], seed: seed)[0]
        expectClose(fusedGradient, unfusedGradient, "input gradient")
        // Training mode: the norms use batch statistics, so they run on their own.
        model.setTraining(true)
        expectClose(
            withoutGradients { model(input) }, withoutGradients { layers.reduce(input) { $1.forward($0) } },
            "training mode")
    }

    /// The folded weight and bias a convolution keeps for its batch norm follow every change of
    /// the six parameters: a value replaced (as an optimizer step or a load does), one written
    /// in place, and parameters that track gradients (then the fold is recorded, not kept).
    @Test func theKeptFoldFollowsParameterChanges() throws {
        var generator = RandomGenerator(seed: 43)
        let layers: [Module] = [
            Conv2d(inputChannels: 8, outputChannels: 16, kernelSize: 3, padding: 1, generator: &generator),
            BatchNorm2d(channels: 16), ReLU(),
        ]
        let model = Sequential(layers)
        model.assignPaths()
        randomizeNorms(model, generator: &generator)
        let (convolution, norm) = (layers[0] as! Conv2d, layers[1] as! BatchNorm2d)
        let input = Tensor.normal([1, 8, 10, 10], generator: &generator)
        func expectUnfused(_ what: String) {
            let expected = withoutGradients { layers.reduce(input) { $1.forward($0) } }
            // Twice: the first call may make the fold, the second uses the kept one.
            for run in 1...2 { expectClose(withoutGradients { model(input) }, expected, "\(what), run \(run)") }
        }
        expectUnfused("as built")
        norm.runningVariance.value = Tensor.uniform([16], low: 0.2, high: 3, generator: &generator)
        expectUnfused("running variance replaced")
        norm.runningMean.value.withUnsafeMutableBufferPointer { values in
            for index in values.indices { values[index] += 0.5 }
        }
        expectUnfused("running mean written in place")
        convolution.weight.value.withUnsafeMutableBufferPointer { values in
            for index in values.indices { values[index] *= -2 }
        }
        expectUnfused("convolution weight written in place")
        convolution.bias!.value = Tensor.normal([16], generator: &generator)
        expectUnfused("convolution bias replaced")
        // The norm's scale tracking gradients: its gradient flows through the fused forward.
        let scale = norm.weight.value.trackingGradients()
        norm.weight.value = scale
        let seed = Tensor.normal([1, 16, 10, 10], generator: &generator)
        let fusedGradient = gradients(of: model(input), at: [scale], seed: seed)[0]
        let unfusedGradient = gradients(of: layers.reduce(input) { $1.forward($0) }, at: [scale], seed: seed)[0]
        expectClose(fusedGradient, unfusedGradient, "norm scale gradient")
    }
}
