import Foundation
@_spi(Engine) import LoupeNN
@_spi(Engine) import LoupeTensor

/// Loads a model from a weights file and an architecture name.
public enum ModelFile {
    /// The tensors of a `.safetensors`, `.pth` or `.pt` file, by state_dict key.
    public static func readStateDict(_ path: String) throws -> [String: Tensor] {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "safetensors": return try SafeTensors.read(path)
        case "pth", "pt", "bin", "ckpt": return try PyTorchCheckpoint.read(path)
        default:
            throw LoupeIOError(
                "'\(path)': unknown weights format; use .safetensors, .pth or .pt (ONNX models come with the ONNX import)")
        }
    }

    /// Builds `architecture` with as many classes as the file's head has and loads the weights.
    ///
    /// - Parameter strict: see ``LoupeNN/Module/load(_:strict:)``.
    /// - Throws: ``LoupeIOError`` for unreadable files, and the full ``StateDictReport`` when
    ///   keys or shapes disagree under strict loading.
    public static func load(_ path: String, architecture: String, strict: Bool = true) throws -> Module {
        let state = try readStateDict(path)
        // A strict load replaces every parameter: no random weights to draw first. The model built
        // undrawn with 1000 classes says where the head's weight is; it is the model itself when
        // the file's head has 1000 rows too.
        let probe = try ModelZoo.makeForLoading(architecture)
        let classes = probe.classifierWeightKey.flatMap { state[$0]?.shape.first } ?? 1000
        let model =
            try strict
            ? (classes == 1000 ? probe : ModelZoo.makeForLoading(architecture, classes: classes))
            : ModelZoo.make(architecture, classes: classes)
        if let auxiliary = model as? AuxiliaryClassifiers,
            state.keys.contains(where: { key in auxiliary.auxiliaryPrefixes.contains { key.hasPrefix($0) } })
        {
            auxiliary.addAuxiliaryClassifiers()
        }
        try model.load(state, strict: strict)
        releaseIdleMemory()  // the initial weights the loaded ones replaced
        return model
    }
}
