import Foundation
import LoupeIO

// libFuzzer entry point for Loupe's file readers. One binary serves every reader; the
// LOUPE_FUZZ_TARGET environment variable picks it (safetensors, pth, onnx, npy, idx, png, jpeg).
// Built only by `make fuzz` (Package.swift adds this target when LOUPE_FUZZ is set), with
// -sanitize=fuzzer,address. A reader may throw on any input; it must never crash, hang or
// allocate beyond its budget.

private let target = ProcessInfo.processInfo.environment["LOUPE_FUZZ_TARGET"] ?? "npy"
private let scratch = "/tmp/loupe-fuzz-\(getpid())"

/// libFuzzer's driver, which SwiftPM's executable entry point hands the command line to.
@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(_ argc: UnsafeMutablePointer<CInt>,
                       _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                       _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt

private func fuzz(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let data = Data(bytes: bytes, count: count)
    do {
        switch target {
        case "safetensors": _ = try SafeTensors.decode(data)
        case "npy": _ = try NPY.decode(data)
        case "png", "jpeg": _ = try Image.decode(data)
        case "pth":
            try data.write(to: URL(fileURLWithPath: "\(scratch).pth"))
            _ = try PyTorchCheckpoint.read("\(scratch).pth")
        case "onnx":
            try data.write(to: URL(fileURLWithPath: "\(scratch).onnx"))
            _ = try LoadedModel.load("\(scratch).onnx", architecture: nil)
        case "idx":
            // The first half is the images file, the rest the labels file.
            let half = data.count / 2
            try data.prefix(half).write(to: URL(fileURLWithPath: "\(scratch)-images.idx"))
            try data.dropFirst(half).write(to: URL(fileURLWithPath: "\(scratch)-labels.idx"))
            _ = try Dataset.idx(images: "\(scratch)-images.idx", labels: "\(scratch)-labels.idx")
        default:
            fatalError("unknown LOUPE_FUZZ_TARGET \(target)")
        }
    } catch {
        // Refusing bad input is the expected outcome.
    }
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(runDriver(&argc, &argv) { bytes, count in fuzz(bytes, count) })
