import Foundation
import LoupeIO

// libFuzzer entry point for Loupe's file readers. One binary serves every reader; the
// LOUPE_FUZZ_TARGET environment variable picks it (safetensors, pth, pth-legacy, onnx, npy, idx, png,
// jpeg).
// Built only by `make fuzz` (Package.swift adds this target when LOUPE_FUZZ is set), with
// -sanitize=fuzzer,address. A reader may throw on any input; it must never crash, hang or
// allocate beyond its budget.

private let target = ProcessInfo.processInfo.environment["LOUPE_FUZZ_TARGET"] ?? "npy"
private let scratch = "/tmp/loupe-fuzz-\(getpid())"

/// libFuzzer's driver, which SwiftPM's executable entry point hands the command line to.
@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

private func fuzz(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    // Refusing bad input is the expected outcome; only a crash, hang or huge allocation is a finding.
    try? UntrustedInput.read(Data(bytes: bytes, count: count), with: target, scratch: scratch)
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(runDriver(&argc, &argv) { bytes, count in fuzz(bytes, count) })
