/// An input shape an operation cannot take; the message says what it needs.
public struct ShapeError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// The shape rules of the operations whose output shape depends on their input's: one rule each,
/// used both by the operation, which stops on a violation (its caller's mistake), and by checks
/// that report a violation as a thrown ``ShapeError`` (a shape a user gave).
public enum ShapeRules {
    /// `[N, O, H', W']` of a convolution of `input` `[N, C, H, W]` by a weight `[O, C/groups, kH, kW]`.
    public static func convolution(
        input: [Int], weight: [Int], stride: Size2D, padding: Size2D, dilation: Size2D, groups: Int
    ) throws -> [Int] {
        guard input.count == 4 else { throw ShapeError("a convolution needs an [N, C, H, W] input; got \(input)") }
        precondition(weight.count == 4, "convolution: the weight must be [O, C/groups, kH, kW]; got \(weight)")
        precondition(
            groups >= 1 && weight[0] % groups == 0,
            "convolution: groups \(groups) must divide the output channels \(weight[0])")
        precondition(
            stride.height > 0 && stride.width > 0 && dilation.height > 0 && dilation.width > 0
                && padding.height >= 0 && padding.width >= 0,
            "convolution: stride \(stride) and dilation \(dilation) must be positive, padding \(padding) non-negative")
        guard weight[1] * groups == input[1] else {
            throw ShapeError(
                "a convolution with weight \(weight) (groups \(groups)) takes \(weight[1] * groups) channels; got \(input[1]) in \(input)"
            )
        }
        let height = (input[2] + 2 * padding.height - dilation.height * (weight[2] - 1) - 1) / stride.height + 1
        let width = (input[3] + 2 * padding.width - dilation.width * (weight[3] - 1) - 1) / stride.width + 1
        guard input[2] > 0, input[3] > 0, height > 0, width > 0 else {
            throw ShapeError(
                "a \(weight[2])×\(weight[3]) convolution (dilation \(dilation), padding \(padding)) does not fit the \(input[2])×\(input[3]) input \(input)"
            )
        }
        return [input[0], weight[0], height, width]
    }

    /// The output extent of a pooling window along one dimension, as PyTorch computes it.
    public static func pooledExtent(
        input: Int, kernel: Int, stride: Int, padding: Int, dilation: Int, ceilMode: Bool
    ) throws -> Int {
        let span = input + 2 * padding - dilation * (kernel - 1) - 1
        guard input > 0, span >= 0 else {
            throw ShapeError(
                "a pooling window of \(kernel) (dilation \(dilation)) does not fit an input extent of \(input) padded by \(padding)"
            )
        }
        var extent = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1
        // The last window must start inside the input or its left padding.
        if ceilMode && (extent - 1) * stride >= input + padding { extent -= 1 }
        return extent
    }

    /// `[N, C, H', W']` of a 2-D pooling of `input` `[N, C, H, W]`.
    public static func pooling(
        input: [Int], kernel: Size2D, stride: Size2D, padding: Size2D, dilation: Size2D = 1, ceilMode: Bool
    ) throws -> [Int] {
        guard input.count == 4 else { throw ShapeError("pooling needs an [N, C, H, W] input; got \(input)") }
        return try [
            input[0], input[1],
            pooledExtent(
                input: input[2], kernel: kernel.height, stride: stride.height, padding: padding.height,
                dilation: dilation.height, ceilMode: ceilMode),
            pooledExtent(
                input: input[3], kernel: kernel.width, stride: stride.width, padding: padding.width,
                dilation: dilation.width, ceilMode: ceilMode),
        ]
    }

    /// `input` with its last dimension `features` replaced by `outputs` (a linear layer).
    public static func linear(input: [Int], features: Int, outputs: Int) throws -> [Int] {
        guard let last = input.last, last == features else {
            throw ShapeError(
                "a linear layer takes \(features) features; got \(input.last.map(String.init) ?? "none") in \(input)")
        }
        return input.dropLast() + [outputs]
    }

    /// Checks that `input` is `[N, channels, ...]` (a per-channel layer such as batch norm).
    public static func channels(_ channels: Int, input: [Int], layer: String) throws {
        guard input.count >= 2, input[1] == channels else {
            throw ShapeError("\(layer) takes [N, \(channels), ...]; got \(input)")
        }
    }
}

/// The value of `body`, stopping with its error's message when it throws: for an operation whose
/// caller guarantees the shapes (the checks that throw to users run before).
func requiringShapes<Value>(_ body: () throws -> Value) -> Value {
    do {
        return try body()
    } catch {
        preconditionFailure("\(error)")
    }
}
