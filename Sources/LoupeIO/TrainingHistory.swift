import Foundation
import LoupeNN

/// The `-history.json` file `loupe train` writes beside a model's weights: each epoch's loss and
/// accuracy, and the test set's when one was given. Read and written only here.
public struct TrainingHistory: Codable, Equatable, Sendable {
    public var epochs: [EpochRecord]
    public var test: TestResult?

    /// The loss and accuracy on a held-out test set after training.
    public struct TestResult: Codable, Equatable, Sendable {
        public var loss: Float
        public var accuracy: Float

        public init(loss: Float, accuracy: Float) {
            self.loss = loss
            self.accuracy = accuracy
        }
    }

    public init(epochs: [EpochRecord], test: TestResult? = nil) {
        self.epochs = epochs
        self.test = test
    }

    /// The history's path beside a weights file: `model.safetensors` → `model-history.json`.
    public static func path(besideWeights weights: String) -> String {
        URL(fileURLWithPath: weights).deletingPathExtension().path + "-history.json"
    }

    public func write(to path: String) throws {
        try writeJSON(self, to: path)
    }

    public static func read(_ path: String) throws -> TrainingHistory {
        try readJSON(TrainingHistory.self, from: path, what: "Loupe training history")
    }
}
