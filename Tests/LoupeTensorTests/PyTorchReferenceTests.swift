import LoupeTensor
import LoupeTestSupport
import Testing

/// Forward values (and convolution gradients) against PyTorch, from Tools/fixtures/make_fixtures.py.
@Suite("PyTorch reference values")
struct PyTorchReferenceTests {
    @Test(arguments: ["conv2d_basic", "conv2d_stride2", "conv2d_dilation", "conv2d_groups", "conv2d_depthwise", "conv2d_large"])
    func convolution(_ name: String) throws {
        let fixture = try Fixture(name)
        let input = try fixture.array("input"), weight = try fixture.array("weight")
        let bias = fixture.bool("bias") ? try fixture.array("bias") : nil
        let points = [input, weight] + (bias.map { [$0] } ?? [])
        let (output, gradients) = valueWithGradient(at: points) { tracked in
            tracked[0].convolved2D(
                with: tracked[1], bias: tracked.count > 2 ? tracked[2] : nil,
                stride: Size2D(integerLiteral: fixture.int("stride")),
                padding: Size2D(integerLiteral: fixture.int("padding")),
                dilation: Size2D(integerLiteral: fixture.int("dilation")),
                groups: fixture.int("groups"))
        }
        expectClose(output, try fixture.array("output"), "forward")
        InstructionSetRecording.record("\(name)-output", output)
        // valueWithGradient seeds with ones; PyTorch's seed was random, so redo with that seed.
        let seed = try fixture.array("seed")
        let tracked = points.map { $0.trackingGradients() }
        let recomputed = tracked[0].convolved2D(
            with: tracked[1], bias: bias == nil ? nil : tracked[2],
            stride: Size2D(integerLiteral: fixture.int("stride")), padding: Size2D(integerLiteral: fixture.int("padding")),
            dilation: Size2D(integerLiteral: fixture.int("dilation")), groups: fixture.int("groups"))
        let seeded = LoupeTensor.gradients(of: recomputed, at: tracked, seed: seed)
        expectClose(seeded[0], try fixture.array("input_grad"), "backward-data")
        expectClose(seeded[1], try fixture.array("weight_grad"), "backward-weights")
        if bias != nil { expectClose(seeded[2], try fixture.array("bias_grad"), "bias gradient") }
        for (index, gradient) in seeded.enumerated() { InstructionSetRecording.record("\(name)-gradient\(index)", gradient) }
        #expect(gradients.count == points.count)
    }

    @Test(arguments: [
        "maxpool_basic", "maxpool_ceil", "maxpool_padding_dilation",
        "avgpool_ceil_include_pad", "avgpool_ceil_exclude_pad",
    ])
    func pooling(_ name: String) throws {
        let fixture = try Fixture(name)
        let input = try fixture.array("input")
        let kernel = Size2D(integerLiteral: fixture.int("kernel_size"))
        let stride = Size2D(integerLiteral: fixture.int("stride"))
        let padding = Size2D(integerLiteral: fixture.int("padding", default: 0))
        let output =
            fixture.parameters["kind"] as? String == "max"
            ? input.maxPooled2D(
                kernelSize: kernel, stride: stride, padding: padding,
                dilation: Size2D(integerLiteral: fixture.int("dilation", default: 1)),
                ceilMode: fixture.bool("ceil_mode"))
            : input.averagePooled2D(
                kernelSize: kernel, stride: stride, padding: padding,
                ceilMode: fixture.bool("ceil_mode"),
                countIncludePad: fixture.bool("count_include_pad"))
        expectClose(output, try fixture.array("output"))
        InstructionSetRecording.record("\(name)-output", output)
    }

    @Test func adaptiveAveragePooling() throws {
        let fixture = try Fixture("adaptive_avgpool")
        let output = try fixture.array("input").adaptiveAveragePooled2D(
            outputSize: Size2D(fixture.int("output_height"), fixture.int("output_width")))
        expectClose(output, try fixture.array("output"))
    }

    @Test func batchNormalization() throws {
        let fixture = try Fixture("batchnorm")
        let input = try fixture.array("input"), scale = try fixture.array("scale"), offset = try fixture.array("offset")
        var runningMean = try fixture.array("running_mean"), runningVariance = try fixture.array("running_var")
        let inference = input.batchNormalized(
            scale: scale, offset: offset, runningMean: &runningMean,
            runningVariance: &runningVariance, training: false)
        expectClose(inference, try fixture.array("inference"), "inference")
        expectClose(runningMean, try fixture.array("running_mean"), "inference leaves the running mean")
        let training = input.batchNormalized(
            scale: scale, offset: offset, runningMean: &runningMean,
            runningVariance: &runningVariance, training: true, momentum: 0.1)
        expectClose(training, try fixture.array("training"), "training")
        expectClose(runningMean, try fixture.array("updated_mean"), "updated running mean")
        expectClose(runningVariance, try fixture.array("updated_var"), "updated running variance (unbiased)")
    }

    @Test func bilinearResize() throws {
        let fixture = try Fixture("resize_bilinear")
        let input = try fixture.array("input")
        expectClose(input.resizedBilinear(to: Size2D(15, 20)), try fixture.array("up"), "up")
        expectClose(input.resizedBilinear(to: Size2D(4, 5)), try fixture.array("down"), "down")
        expectClose(input.resizedBilinear(to: Size2D(3, 17)), try fixture.array("mixed"), "mixed")
        for (name, size) in [("aligned_up", Size2D(15, 20)), ("aligned_down", Size2D(4, 5)), ("aligned_mixed", Size2D(1, 17))] {
            expectClose(input.resizedBilinear(to: size, alignCorners: true), try fixture.array(name), Comment(rawValue: name))
        }
        expectClose(input.resizedNearest(to: Size2D(15, 20)), try fixture.array("nearest_up"), "nearest up")
        expectClose(input.resizedNearest(to: Size2D(4, 5)), try fixture.array("nearest_down"), "nearest down")
    }

    @Test func softmaxAndLogSoftmax() throws {
        let fixture = try Fixture("softmax")
        let input = try fixture.array("input")
        expectClose(input.softmax(along: -1), try fixture.array("softmax_last"))
        expectClose(input.softmax(along: 1), try fixture.array("softmax_1"))
        expectClose(input.logSoftmax(along: -1), try fixture.array("log_softmax_last"))
        expectClose(input.logSoftmax(along: 0), try fixture.array("log_softmax_0"))
    }

    @Test func gaussianBlur() throws {
        let fixture = try Fixture("gaussian_blur")
        let input = try fixture.array("input")
        expectClose(input.gaussianBlurred(sigma: 1, kernelSize: 7), try fixture.array("sigma1"))
        expectClose(input.gaussianBlurred(sigma: 2, kernelSize: 5), try fixture.array("sigma2_k5"))
    }

    @Test func activations() throws {
        let fixture = try Fixture("activations")
        let input = try fixture.array("input")
        expectClose(input.gelu(), try fixture.array("gelu"), "gelu")
        expectClose(input.hardswish(), try fixture.array("hardswish"), "hardswish")
        expectClose(input.hardsigmoid(), try fixture.array("hardsigmoid"), "hardsigmoid")
        expectClose(input.sigmoid(), try fixture.array("sigmoid"), "sigmoid")
        expectClose(input.tanh(), try fixture.array("tanh"), "tanh")
        expectClose(input.leakyRelu(negativeSlope: 0.1), try fixture.array("leaky_relu"), "leaky relu")
    }

    @Test func matrixProducts() throws {
        let fixture = try Fixture("matmul")
        expectClose(try fixture.array("a").matmul(try fixture.array("b")), try fixture.array("product"), "matmul")
        expectClose(
            try fixture.array("x").linear(weight: try fixture.array("weight"), bias: try fixture.array("bias")),
            try fixture.array("linear"), "linear")
    }
}
