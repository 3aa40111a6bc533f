import LoupeTensor

/// Updates parameters from their gradients.
public protocol Optimizer {
    /// Applies one update to each parameter, given the gradient of the loss with respect to it.
    mutating func step(_ parameters: [Parameter], gradients: [Tensor])
}

/// Stochastic gradient descent with momentum and weight decay, as `torch.optim.SGD`:
/// `g ← g + λ·p; b ← μ·b + g (b = g at the first step); p ← p − η·b`.
public struct SGD: Optimizer {
    public var learningRate: Float
    public var momentum: Float
    public var weightDecay: Float
    private var velocity: [ObjectIdentifier: Tensor] = [:]

    public init(learningRate: Float, momentum: Float = 0, weightDecay: Float = 0) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    public mutating func step(_ parameters: [Parameter], gradients: [Tensor]) {
        withoutGradients {
            for (parameter, gradient) in zip(parameters, gradients) {
                var direction = gradient
                if weightDecay != 0 { direction = direction + parameter.value.detached() * weightDecay }
                if momentum != 0 {
                    let key = ObjectIdentifier(parameter)
                    direction = velocity[key].map { $0 * momentum + direction } ?? direction
                    velocity[key] = direction
                }
                parameter.value = parameter.value.detached() - direction * learningRate
            }
        }
    }
}

/// Adam (Kingma & Ba, 2015), as `torch.optim.Adam`:
/// `m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; p ← p − η/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)`.
public struct Adam: Optimizer {
    public var learningRate: Float
    public var beta1: Float, beta2: Float, epsilon: Float
    public var weightDecay: Float
    private var moments: [ObjectIdentifier: (first: Tensor, second: Tensor, step: Int)] = [:]

    public init(
        learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
        weightDecay: Float = 0
    ) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
    }

    public mutating func step(_ parameters: [Parameter], gradients: [Tensor]) {
        withoutGradients {
            for (parameter, gradient) in zip(parameters, gradients) {
                let key = ObjectIdentifier(parameter)
                var g = gradient
                if weightDecay != 0 { g = g + parameter.value.detached() * weightDecay }
                let previous = moments[key] ?? (Tensor.zeros(g.shape), Tensor.zeros(g.shape), 0)
                let step = previous.step + 1
                let first = previous.first * beta1 + g * (1 - beta1)
                let second = previous.second * beta2 + g * g * (1 - beta2)
                moments[key] = (first, second, step)
                let correction1 = 1 - Float(Double(beta1).power(step))
                let correction2 = 1 - Float(Double(beta2).power(step))
                let denominator = second.sqrt() / correction2.squareRoot() + epsilon
                parameter.value = parameter.value.detached() - first / denominator * (learningRate / correction1)
            }
        }
    }
}

private extension Double {
    func power(_ exponent: Int) -> Double {
        (0..<exponent).reduce(1) { value, _ in value * self }
    }
}
