import Foundation

/// The built `loupe` executable, run end to end from the repository root.
enum LoupeProcess {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// What a run left: its exit status (or the signal that ended it) and its output.
    struct Result {
        let status: Int32
        /// Ended by a signal (a trap), not by exiting.
        let signaled: Bool
        let output: String
        let error: String
    }

    /// Runs `loupe` with `arguments` and this process's environment plus `environment`; standard
    /// error goes through a file, so neither stream can fill its pipe while the other is read.
    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = productsDirectory.appendingPathComponent("loupe")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.currentDirectoryURL = root
        let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("loupe-stderr-\(UUID())")
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errorFile) }
        let output = Pipe(), error = try FileHandle(forWritingTo: errorFile)
        defer { try? error.close() }
        process.standardOutput = output
        process.standardError = error
        try process.run()
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, signaled: process.terminationReason == .uncaughtSignal,
            output: String(decoding: outputData, as: UTF8.self),
            error: String(decoding: (try? Data(contentsOf: errorFile)) ?? Data(), as: UTF8.self))
    }

    static var productsDirectory: URL {
        // The test bundle sits in the build products folder beside the executables.
        Bundle.allBundles.first { $0.bundlePath.hasSuffix(".xctest") }
            .map { URL(fileURLWithPath: $0.bundlePath).deletingLastPathComponent() }
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    }
}
