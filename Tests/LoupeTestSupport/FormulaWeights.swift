@_spi(Engine) import LoupeNN
import LoupeTensor

// The deterministic weights and input of Tools/fixtures/make_model_fixtures.py, shared by the
// test targets that compare whole models with PyTorch.

/// The formula value of the state_dict tensor `key`: for flat index i,
/// h = ((i·7919 + byte_sum(key)·104729) mod 2003) / 1001 − 1, scaled by the kind of tensor.
public func formulaValue(key: String, shape: [Int]) -> Tensor {
    let count = shape.reduce(1, *)
    let seed = key.utf8.reduce(0) { $0 + Int($1) }
    // value = offset + scale·h, by the kind of tensor (decided once, outside the loop).
    let (offset, scale): (Double, Double)
    if key.hasSuffix("running_var") {
        (offset, scale) = (0.75, 0.25)
    } else if key.hasSuffix("running_mean") || key.hasSuffix(".bias") {
        (offset, scale) = (0, 0.1)
    } else if shape.count >= 2 {
        (offset, scale) = (0, (3.0 / Double(count / shape[0])).squareRoot())
    } else {
        (offset, scale) = (1, 0.1)
    }
    // Written straight into the tensor's storage: the zoo's formula models hold billions of values.
    return Tensor(shape: shape) { values in
        for index in 0..<count {
            let h = Double((index * 7919 + seed * 104_729) % 2003) / 1001.0 - 1.0
            values[index] = Float(offset + scale * h)
        }
    }
}

/// A torchvision architecture with every parameter and buffer set by ``formulaValue(key:shape:)``
/// (`num_batches_tracked`, which the script leaves alone, at torchvision's 0). Built as for
/// loading, without the random initialization that the formula replaces anyway.
public func formulaModel(_ architecture: String) throws -> Module {
    let model = try ModelZoo.makeForLoading(architecture)
    for (key, parameter) in model.namedParameters() {
        parameter.value =
            key.hasSuffix("num_batches_tracked")
            ? Tensor.zeros(parameter.shape) : formulaValue(key: key, shape: parameter.shape)
    }
    return model
}

/// The fixture input [1, 3, side, side]: x_i = ((i·31 + 7) mod 257) / 128 − 1.
public func formulaInput(side: Int = 64) -> Tensor {
    let values: [Float] = (0..<(3 * side * side)).map { index in
        let step = (index * 31 + 7) % 257
        return Float(Double(step) / 128.0 - 1.0)
    }
    return Tensor(shape: [1, 3, side, side], scalars: values)
}
