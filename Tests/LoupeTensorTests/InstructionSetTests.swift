import Foundation
import LoupeIO
import LoupeTensor
import LoupeTestSupport
import Testing

/// A subset of the suite run again in child processes under oneDNN's smaller instruction sets.
///
/// oneDNN reads `ONEDNN_MAX_CPU_ISA` once per process, so each instruction set gets a child run
/// of this test binary: under the host's own, then capped to AVX2, AVX and SSE4.1, as on the
/// machines that lack AVX-512. Each child runs the convolution and pooling fixtures, the
/// finite-difference gradient checks, the blocked-layout and convolution-algorithm tests, and the
/// zoo's squeezenet1_1 and resnet18 (forward, gradient methods, Grad-CAM, occlusion) against
/// Captum, with `ONEDNN_VERBOSE=1`. Every run must pass, must run no convolution or pooling on one
/// of oneDNN's reference kernels, and must compute what the host's run computed to 1e-5 of each
/// result's largest magnitude (for a difference of model scores, such as occlusion's, of the
/// scores' magnitude: float32 gives each score only to about 1e-7 of its size).
@Suite("Instruction sets", .serialized)
struct InstructionSetTests {
    /// The tests each child runs (`--filter` patterns over test identifiers).
    static let subset = [
        "PyTorchReferenceTests/(convolution|pooling)", "gradientMatchesFiniteDifferences", "LayoutTests",
        "ConvolutionAlgorithmTests", "CaptumReferenceTests/(gradientMethods|classActivationMaps|occlusion)",
        "ArchitectureTests/oneOfEachFamily", "ReLUFamilyTests",
    ]

    /// Why the child runs cannot happen here, or `nil`.
    static let skipReason: String? = {
        #if !arch(x86_64)
        return "oneDNN's instruction-set cap is x86-only"
        #elseif !os(Linux)
        return "child runs of the test binary are set up for the Linux test runner only"
        #else
        return ProcessInfo.processInfo.environment["LOUPE_ISA_RESULTS"] != nil ? "this is a child run" : nil
        #endif
    }()

    /// One child run's outcome.
    struct Run {
        let exitCode: Int32
        let log: String
        let results: URL
        /// Convolution and pooling executions as oneDNN reported them (its verbose lines read
        /// `onednn_verbose,[...,]exec,cpu,KIND,IMPLEMENTATION,...` in 2.x and 3.x alike).
        var executions: [(kind: Substring, implementation: Substring, line: Substring)] {
            log.split(separator: "\n").compactMap { line in
                let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                guard line.hasPrefix("onednn_verbose"), let exec = fields.firstIndex(of: "exec"), fields.count > exec + 3 else {
                    return nil
                }
                let kind = fields[exec + 2], implementation = fields[exec + 3]
                return kind.hasPrefix("convolution") || kind.hasPrefix("pooling") ? (kind, implementation, line) : nil
            }
        }

        /// Those on a reference kernel.
        var referenceExecutions: [String] {
            executions.filter { $0.implementation.hasPrefix("ref") }.map { String($0.line) }
        }
    }

    /// Runs the subset in a child process with oneDNN capped to `isa` (`nil`: the host's own).
    static func run(isa: String?) throws -> Run {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-isa-\(isa ?? "host")-\(UUID())")
        let results = scratch.appendingPathComponent("results")
        try FileManager.default.createDirectory(at: results, withIntermediateDirectories: true)
        let logFile = scratch.appendingPathComponent("log.txt")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let log = try FileHandle(forWritingTo: logFile)
        defer { try? log.close() }
        let child = Process()
        child.executableURL = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        child.arguments = ["--testing-library", "swift-testing"] + subset.flatMap { ["--filter", $0] }
        var environment = ProcessInfo.processInfo.environment
        environment["ONEDNN_VERBOSE"] = "1"
        environment["LOUPE_ISA_RESULTS"] = results.path
        environment["ONEDNN_MAX_CPU_ISA"] = isa
        child.environment = environment
        child.standardOutput = log
        child.standardError = log
        try child.run()
        child.waitUntilExit()
        return Run(exitCode: child.terminationStatus, log: try String(contentsOf: logFile, encoding: .utf8), results: results)
    }

    /// The host's run, made once and compared with each capped one.
    nonisolated(unsafe) static var hostRun: Run?

    static func host() throws -> Run {
        if let hostRun { return hostRun }
        let made = try run(isa: nil)
        hostRun = made
        return made
    }

    /// Expects `run` to have passed on optimized kernels only.
    func expectPassedOnOptimizedKernels(_ run: Run, _ name: String) {
        let failures = run.log.split(separator: "\n").filter { $0.contains("✘") }.prefix(10)
        #expect(run.exitCode == 0, "\(name): the subset failed:\n\(failures.joined(separator: "\n"))")
        // None on a reference kernel, out of many: a verbose format this parser misread would show none at all.
        #expect(
            run.executions.count > 1000, "\(name): only \(run.executions.count) convolution and pooling executions were logged")
        let references = run.referenceExecutions
        #expect(references.isEmpty, "\(name): \(references.count) reference-kernel executions, such as \(references.prefix(3))")
        let recorded = (try? FileManager.default.contentsOfDirectory(atPath: run.results.path)) ?? []
        #expect(recorded.count > 50, "\(name): only \(recorded.count) results were recorded")
    }

    @Test(.enabled(if: skipReason == nil, Comment(rawValue: skipReason ?? "")))
    func hostInstructionSet() throws {
        expectPassedOnOptimizedKernels(try Self.host(), "host")
    }

    @Test(.enabled(if: skipReason == nil, Comment(rawValue: skipReason ?? "")), arguments: ["AVX2", "AVX", "SSE41"])
    func cappedInstructionSet(_ isa: String) throws {
        let capped = try Self.run(isa: isa)
        expectPassedOnOptimizedKernels(capped, isa)
        let host = try Self.host()
        let names = try FileManager.default.contentsOfDirectory(atPath: host.results.path).sorted()
            .filter { !$0.hasSuffix(InstructionSetRecording.magnitudeSuffix) }
        var disagreements: [String] = []
        for name in names {
            let expected = try NPY.read(host.results.appendingPathComponent(name).path)
            let magnitude = try? NPY.read(
                host.results.appendingPathComponent(
                    name.replacingOccurrences(of: ".npy", with: InstructionSetRecording.magnitudeSuffix)
                ).path
            ).scalar
            guard let actual = try? NPY.read(capped.results.appendingPathComponent(name).path) else {
                disagreements.append("\(name): not recorded")
                continue
            }
            guard actual.shape == expected.shape else {
                disagreements.append("\(name): shape \(actual.shape), host \(expected.shape)")
                continue
            }
            let scale = Swift.max(expected.abs().max().scalar, magnitude ?? 0), worst = (actual - expected).abs().max().scalar
            if worst > 1e-5 * scale { disagreements.append("\(name): max |Δ| \(worst), max |host| \(scale)") }
        }
        #expect(disagreements.isEmpty, "\(isa) against the host: \(disagreements.joined(separator: "; "))")
    }
}
