import Foundation

/// Reads bytes from a stranger with one of Loupe's file readers, by name: the entry the fuzzers
/// (Fuzz/main.swift) and the crasher replay test share, so both exercise exactly the same code.
public enum UntrustedInput {
    /// The readers: safetensors, pth (torch.save's zip format), pth-legacy (its legacy format: the
    /// same reader, with seeds of that format), onnx, npy, idx, png, jpeg.
    public static let readers = ["safetensors", "pth", "pth-legacy", "onnx", "npy", "idx", "png", "jpeg"]

    /// Runs `reader` on `data`; throws what the reader throws (refusing is the expected outcome
    /// for bad bytes). Readers that take paths get the bytes in a file under `scratch`; `idx`
    /// reads the first half as the images file and the rest as the labels file.
    public static func read(_ data: Data, with reader: String, scratch: String) throws {
        switch reader {
        case "safetensors": _ = try SafeTensors.decode(data)
        case "npy": _ = try NPY.decode(data)
        case "png", "jpeg": _ = try Image.decode(data)
        case "pth", "pth-legacy":
            try data.write(to: URL(fileURLWithPath: "\(scratch).pth"))
            _ = try PyTorchCheckpoint.read("\(scratch).pth")
        case "onnx":
            try data.write(to: URL(fileURLWithPath: "\(scratch).onnx"))
            _ = try LoadedModel.load("\(scratch).onnx", architecture: nil)
        case "idx":
            let half = data.count / 2
            try data.prefix(half).write(to: URL(fileURLWithPath: "\(scratch)-images.idx"))
            try data.dropFirst(half).write(to: URL(fileURLWithPath: "\(scratch)-labels.idx"))
            _ = try Dataset.idx(images: "\(scratch)-images.idx", labels: "\(scratch)-labels.idx")
        default:
            preconditionFailure("unknown reader '\(reader)'; choose one of \(readers.joined(separator: ", "))")
        }
    }
}
