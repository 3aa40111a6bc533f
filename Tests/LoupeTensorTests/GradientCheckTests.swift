import LoupeTensor
import Testing

/// One differentiable op, its inputs, and the derivative it should have (in `derivative`).
struct GradientCase: Sendable, CustomTestStringConvertible {
    let name: String
    /// The analytic derivative, as the op's pullback implements it.
    let derivative: String
    let inputs: [Tensor]
    let function: @Sendable ([Tensor]) -> Tensor

    var testDescription: String { name }
}

private let x34 = randomNormal([3, 4], seed: 1)
private let y34 = randomNormal([3, 4], seed: 2)
private let row4 = randomNormal([4], seed: 3)
private let column31 = randomNormal([3, 1], seed: 4)
private let positive34 = randomUniform([3, 4], seed: 5, low: 0.5, high: 2)
private let image = randomNormal([2, 3, 5, 6], seed: 6)
private let separated = separatedValues([2, 3, 6, 7], seed: 7)

// Constants of the fused convolution case: not differentiated, so the epilogue is fused.
private let fusedWeight = randomNormal([4, 3, 3, 3], seed: 36)
private let fusedBias = randomNormal([4], seed: 37)
private let fusedScale = randomUniform([4], seed: 38, low: 0.5, high: 2)
private let fusedShift = randomNormal([4], seed: 39)
private let mixing16 = randomNormal([16, 16, 1, 1], seed: 42)
/// Input and addend of the fused case, drawn so that no pre-activation lies within reach of the
/// finite-difference step of ReLU's kink (checked by `fusedCaseStaysClearOfTheKink`).
private let fusedInputs = [randomNormal([1, 3, 5, 4], seed: 48), randomNormal([1, 4, 5, 4], seed: 49)]

/// The fused case's function of its input and addend, with or without the final ReLU.
private func fusedConvolution(_ inputs: [Tensor], activation: ConvolutionActivation?) -> Tensor {
    inputs[0].convolved2D(
        with: fusedWeight, bias: fusedBias, padding: 1,
        then: ConvolutionEpilogue(
            channelAffine: (fusedScale, fusedShift), adding: inputs[1], activation: activation))
}

/// Every differentiable op of LoupeTensor, checked against central finite differences.
let gradientCases: [GradientCase] = [
    // Shape ops move values, so their derivative moves gradients back.
    GradientCase(name: "reshaped", derivative: "g reshaped back", inputs: [x34]) { $0[0].reshaped([2, 6]) },
    GradientCase(name: "permuted", derivative: "g with the inverse permutation", inputs: [image]) {
        $0[0].permuted([2, 0, 3, 1])
    },
    GradientCase(name: "transposed", derivative: "gᵀ", inputs: [x34]) { $0[0].transposed() },
    GradientCase(name: "slice step 2", derivative: "g scattered into zeros", inputs: [image]) {
        $0[0].slice(along: 3, from: 1, to: 6, step: 2)
    },
    GradientCase(name: "subscript", derivative: "g placed at the index", inputs: [x34]) { $0[0][1] },
    GradientCase(name: "gathered", derivative: "g added back at each index (repeats add)", inputs: [x34]) {
        $0[0].gathered([2, 0, 2])
    },
    GradientCase(name: "gathered along 1", derivative: "g added back at each index of axis 1 (repeats add)", inputs: [x34]) {
        $0[0].gathered([3, 0, 3, 1], along: 1)
    },
    GradientCase(name: "rolled", derivative: "g rolled back", inputs: [image]) {
        $0[0].rolled(by: -2, along: 3).rolled(by: 1, along: 2)
    },
    GradientCase(name: "broadcast", derivative: "g summed over the repeated axes", inputs: [column31]) {
        $0[0].broadcast(to: [2, 3, 4])
    },
    GradientCase(name: "concatenate", derivative: "g split by extent", inputs: [x34, column31]) {
        Tensor.concatenate([$0[0], $0[1]], along: 1)
    },
    GradientCase(name: "stack", derivative: "g unstacked", inputs: [x34, y34]) { Tensor.stack([$0[0], $0[1]], along: 1) },
    GradientCase(name: "pad constant", derivative: "g cropped", inputs: [image]) {
        $0[0].padded([(1, 2), (2, 1)], mode: .constant(3))
    },
    GradientCase(name: "pad reflect", derivative: "g of mirrored places added to their sources", inputs: [image]) {
        $0[0].padded([(2, 1), (1, 3)], mode: .reflect)
    },
    GradientCase(name: "pad replicate", derivative: "g of the border added to the edge", inputs: [image]) {
        $0[0].padded([(2, 2), (3, 1)], mode: .replicate)
    },
    // Arithmetic with broadcasting.
    GradientCase(name: "add broadcast", derivative: "d(a+b) = g, g summed to each shape", inputs: [x34, row4]) { $0[0] + $0[1] },
    GradientCase(name: "subtract broadcast", derivative: "g, −g", inputs: [x34, column31]) { $0[0] - $0[1] },
    GradientCase(name: "multiply broadcast", derivative: "g·b, g·a", inputs: [x34, row4]) { $0[0] * $0[1] },
    GradientCase(name: "divide broadcast", derivative: "g/b, −g·a/b²", inputs: [x34, positive34]) { $0[0] / $0[1] },
    GradientCase(name: "scalar forms", derivative: "d(3 − 2x/4 + x·5) = −0.5 + 5", inputs: [x34]) {
        3 - 2 * $0[0] / 4 + $0[0] * 5
    },
    GradientCase(name: "scalar over tensor", derivative: "d(2/x) = −2/x²", inputs: [positive34]) { 2 / $0[0] },
    GradientCase(name: "negate", derivative: "−g", inputs: [x34]) { -$0[0] },
    // Elementwise math.
    GradientCase(name: "exp", derivative: "eˣ", inputs: [x34]) { $0[0].exp() },
    GradientCase(name: "erf", derivative: "2/√π · e^(−x²)", inputs: [x34]) { $0[0].erf() },
    GradientCase(name: "log", derivative: "1/x", inputs: [positive34]) { $0[0].log() },
    GradientCase(name: "sqrt", derivative: "1/(2√x)", inputs: [positive34]) { $0[0].sqrt() },
    GradientCase(name: "pow scalar", derivative: "p·xᵖ⁻¹", inputs: [positive34]) { $0[0].pow(2.5) },
    GradientCase(name: "pow tensor", derivative: "y·xʸ⁻¹ and xʸ·ln x", inputs: [positive34, x34]) { $0[0].pow($0[1]) },
    GradientCase(name: "abs", derivative: "sign(x)", inputs: [separatedValues([3, 4], seed: 8)]) { $0[0].abs() },
    GradientCase(name: "sign", derivative: "0", inputs: [separatedValues([3, 4], seed: 9)]) { $0[0].sign() },
    GradientCase(name: "clamped", derivative: "1 inside [min, max], else 0", inputs: [separatedValues([3, 4], seed: 10)]) {
        $0[0].clamped(min: -0.3, max: 0.2)
    },
    GradientCase(
        name: "maximum", derivative: "g to the larger operand",
        inputs: [separatedValues([3, 4], seed: 11), separatedValues([4], seed: 12, offset: 0.05)]
    ) { Tensor.maximum($0[0], $0[1]) },
    GradientCase(
        name: "minimum", derivative: "g to the smaller operand",
        inputs: [separatedValues([3, 4], seed: 13), separatedValues([3, 1], seed: 14, offset: 0.05)]
    ) { Tensor.minimum($0[0], $0[1]) },
    GradientCase(name: "where", derivative: "g where chosen, 0 elsewhere", inputs: [x34, row4]) { inputs in
        Tensor.where(inputs[0] .> 0, inputs[0] * 2, inputs[1])
    },
    // Reductions.
    GradientCase(name: "sum all", derivative: "1 everywhere", inputs: [image]) { $0[0].sum() },
    GradientCase(name: "sum axes", derivative: "g broadcast back", inputs: [image]) { $0[0].sum(alongAxes: [0, 2]) },
    GradientCase(name: "mean keepdims", derivative: "g/n broadcast back", inputs: [image]) {
        $0[0].mean(alongAxes: [1, 3], keepingDimensions: true)
    },
    GradientCase(name: "variance", derivative: "2(x − μ)/(n − 1)", inputs: [image]) { $0[0].variance(alongAxes: [0, 2, 3]) },
    GradientCase(name: "max axis", derivative: "g to the argmax", inputs: [separated]) { $0[0].max(along: 2) },
    GradientCase(name: "min axes", derivative: "g to the argmin", inputs: [separated]) {
        $0[0].min(alongAxes: [1, 3], keepingDimensions: true)
    },
    // Products.
    GradientCase(
        name: "matmul batched broadcast", derivative: "G·Bᵀ, Aᵀ·G",
        inputs: [randomNormal([2, 3, 4], seed: 15), randomNormal([4, 5], seed: 16)]
    ) { $0[0].matmul($0[1]) },
    GradientCase(
        name: "linear", derivative: "G·W, Gᵀ·x, Σ G",
        inputs: [randomNormal([2, 3, 4], seed: 17), randomNormal([5, 4], seed: 18), randomNormal([5], seed: 19)]
    ) {
        $0[0].linear(weight: $0[1], bias: $0[2])
    },
    // Activations.
    GradientCase(name: "relu", derivative: "[x > 0]", inputs: [separatedValues([3, 4], seed: 20)]) { $0[0].relu() },
    GradientCase(name: "leaky relu", derivative: "1 or slope", inputs: [separatedValues([3, 4], seed: 21)]) {
        $0[0].leakyRelu(negativeSlope: 0.2)
    },
    GradientCase(name: "sigmoid", derivative: "σ(1 − σ)", inputs: [x34]) { $0[0].sigmoid() },
    GradientCase(name: "tanh", derivative: "1 − tanh²", inputs: [x34]) { $0[0].tanh() },
    GradientCase(name: "gelu", derivative: "Φ(x) + x·φ(x)", inputs: [x34 * 2]) { $0[0].gelu() },
    GradientCase(name: "hardswish", derivative: "0, (2x + 3)/6, 1", inputs: [separatedValues([3, 4], seed: 22) * 10 + 0.03]) {
        $0[0].hardswish()
    },
    GradientCase(name: "hardsigmoid", derivative: "1/6 inside (−3, 3)", inputs: [separatedValues([3, 4], seed: 23) * 10 + 0.03]) {
        $0[0].hardsigmoid()
    },
    GradientCase(name: "softmax", derivative: "y ⊙ (g − Σ g·y)", inputs: [x34]) { $0[0].softmax(along: 1) },
    GradientCase(name: "log softmax", derivative: "g − softmax ⊙ Σ g", inputs: [x34]) { $0[0].logSoftmax(along: 0) },
    // Convolution: input, weight and bias.
    GradientCase(
        name: "conv2d", derivative: "backward-data, backward-weights, Σ g",
        inputs: [randomNormal([2, 3, 6, 5], seed: 24), randomNormal([4, 3, 3, 3], seed: 25), randomNormal([4], seed: 26)]
    ) {
        $0[0].convolved2D(with: $0[1], bias: $0[2], padding: 1)
    },
    GradientCase(
        name: "conv2d stride dilation", derivative: "as conv2d",
        inputs: [randomNormal([1, 2, 9, 8], seed: 27), randomNormal([3, 2, 3, 2], seed: 28)]
    ) {
        $0[0].convolved2D(with: $0[1], stride: Size2D(2, 1), padding: Size2D(2, 1), dilation: 2)
    },
    GradientCase(
        name: "conv2d groups", derivative: "as conv2d, per group",
        inputs: [randomNormal([1, 4, 5, 5], seed: 29), randomNormal([6, 2, 3, 3], seed: 30), randomNormal([6], seed: 31)]
    ) {
        $0[0].convolved2D(with: $0[1], bias: $0[2], stride: 2, padding: 1, groups: 2)
    },
    GradientCase(
        name: "conv2d depthwise", derivative: "as conv2d, per channel",
        inputs: [randomNormal([1, 3, 6, 6], seed: 32), randomNormal([3, 1, 3, 3], seed: 33)]
    ) {
        $0[0].convolved2D(with: $0[1], padding: 1, groups: 3)
    },
    GradientCase(
        name: "conv2d image input, channel-blocked gradient", derivative: "Wᵀ·g by GEMM per 16-channel block, then col2im",
        inputs: [randomNormal([2, 3, 7, 6], seed: 40), randomNormal([16, 3, 3, 3], seed: 41)]
    ) {
        $0[0].convolved2D(with: $0[1], stride: Size2D(2, 1), padding: Size2D(1, 2), dilation: Size2D(1, 2)).convolved2D(
            with: mixing16)
    },
    GradientCase(
        name: "conv2d fused epilogue", derivative: "ReLU mask, then g to the addend and backward-data with the folded weight",
        inputs: fusedInputs
    ) { fusedConvolution($0, activation: .relu) },
    // Pooling.
    GradientCase(name: "max pool ceil padding", derivative: "g to each window's maximum", inputs: [separated]) {
        $0[0].maxPooled2D(kernelSize: 3, stride: 2, padding: 1, ceilMode: true)
    },
    GradientCase(name: "max pool dilation", derivative: "g to each window's maximum", inputs: [separated]) {
        $0[0].maxPooled2D(kernelSize: 2, stride: 1, dilation: 2)
    },
    GradientCase(name: "avg pool ceil include pad", derivative: "g / divisor over the window", inputs: [image]) {
        $0[0].averagePooled2D(kernelSize: 3, stride: 2, padding: 1, ceilMode: true)
    },
    GradientCase(name: "avg pool exclude pad", derivative: "g / covered count", inputs: [image]) {
        $0[0].averagePooled2D(kernelSize: 2, stride: 2, padding: 1, countIncludePad: false)
    },
    GradientCase(name: "adaptive avg pool", derivative: "g / cell size over each cell", inputs: [image]) {
        $0[0].adaptiveAveragePooled2D(outputSize: Size2D(3, 4))
    },
    GradientCase(name: "global avg pool", derivative: "g / (H·W)", inputs: [image]) { $0[0].globalAveragePooled2D() },
    // Normalization, dropout, resize, blur.
    GradientCase(
        name: "batch norm training", derivative: "through batch mean and variance",
        inputs: [randomNormal([3, 2, 3, 2], seed: 34), randomNormal([2], seed: 35), randomNormal([2], seed: 36)]
    ) { inputs in
        var runningMean = Tensor.zeros([2]), runningVariance = Tensor.ones([2])
        return inputs[0].batchNormalized(
            scale: inputs[1], offset: inputs[2], runningMean: &runningMean,
            runningVariance: &runningVariance, training: true)
    },
    GradientCase(
        name: "batch norm inference", derivative: "γ/√(σ² + ε), (x − μ)/√(σ² + ε), 1",
        inputs: [image, randomNormal([3], seed: 37), randomNormal([3], seed: 38)]
    ) { inputs in
        var runningMean = Tensor(shape: [3], scalars: [0.1, -0.2, 0.3])
        var runningVariance = Tensor(shape: [3], scalars: [0.5, 1.5, 2])
        return inputs[0].batchNormalized(
            scale: inputs[1], offset: inputs[2], runningMean: &runningMean,
            runningVariance: &runningVariance, training: false)
    },
    GradientCase(
        name: "channel affine", derivative: "scale, Σ g·x, Σ g",
        inputs: [image, randomNormal([3], seed: 39), randomNormal([3], seed: 40)]
    ) {
        $0[0].channelAffine(scale: $0[1], shift: $0[2])
    },
    GradientCase(name: "dropout", derivative: "mask / (1 − p)", inputs: [x34]) { inputs in
        var generator = RandomGenerator(seed: 5)
        return inputs[0].dropout(probability: 0.4, generator: &generator)
    },
    GradientCase(name: "resize bilinear up", derivative: "g spread back with the interpolation weights", inputs: [image]) {
        $0[0].resizedBilinear(to: Size2D(9, 13))
    },
    GradientCase(name: "resize bilinear down", derivative: "g spread back with the interpolation weights", inputs: [image]) {
        $0[0].resizedBilinear(to: Size2D(3, 2))
    },
    GradientCase(
        name: "resize bilinear, corners aligned", derivative: "g spread back with the interpolation weights", inputs: [image]
    ) {
        $0[0].resizedBilinear(to: Size2D(9, 5), alignCorners: true)
    },
    GradientCase(name: "resize nearest", derivative: "g added to the copied pixel", inputs: [image]) {
        $0[0].resizedNearest(to: Size2D(7, 4))
    },
    GradientCase(name: "gaussian blur", derivative: "reflect pad and depthwise conv, transposed", inputs: [image]) {
        $0[0].gaussianBlurred(sigma: 0.8, kernelSize: 3)
    },
]

@Test func fusedCaseStaysClearOfTheKink() {
    // A step of 1e-2 on one input moves a pre-activation by at most 1e-2 · max(1, |w|·scale).
    let preActivation = fusedConvolution(fusedInputs, activation: nil)
    let reach = 1e-2 * Swift.max(1, fusedWeight.abs().max().scalar * fusedScale.max().scalar)
    #expect(preActivation.abs().min().scalar > 2 * reach)
}

@Test("Autodiff gradients equal central finite differences", arguments: gradientCases)
func gradientMatchesFiniteDifferences(_ testCase: GradientCase) {
    expectGradientsMatchFiniteDifferences(testCase.inputs, testCase.function)
}
