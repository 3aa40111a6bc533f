// swift-tools-version:6.0
import Foundation
import PackageDescription

// libpng's pkg-config file adds `-L/usr/lib/<triplet>` to every link, which would put Debian's oneDNN
// ahead of one chosen with ONEDNN_ROOT (see the Makefile). On Linux the distribution's libpng is
// on the default header and library paths anyway; elsewhere (Homebrew) pkg-config finds it.
#if os(Linux)
let libpngPkgConfig: String? = nil
#else
let libpngPkgConfig: String? = "libpng"
#endif

let package = Package(
    name: "Loupe",
    products: [
        .library(name: "Loupe", targets: ["Loupe"]),
        .executable(name: "loupe", targets: ["loupe"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // System libraries (module maps over the installed C headers).
        .systemLibrary(name: "CDNNL", providers: [.apt(["libdnnl-dev"]), .brew(["onednn"])]),
        .systemLibrary(name: "CPNG", pkgConfig: libpngPkgConfig, providers: [.apt(["libpng-dev"]), .brew(["libpng"])]),
        .systemLibrary(name: "CJPEG", providers: [.apt(["libjpeg-dev"]), .brew(["jpeg-turbo"])]),
        .systemLibrary(name: "CGzip", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "CAtomics"),

        // Library layers, bottom to top (see docs/ARCHITECTURE.md).
        .target(name: "LoupeTensor", dependencies: ["CDNNL", "CAtomics"]),
        .target(name: "LoupeNN", dependencies: ["LoupeTensor"]),
        .target(
            name: "LoupeIO",
            dependencies: [
                "LoupeTensor", "LoupeNN", "CPNG", "CJPEG", "CGzip",
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            resources: [.copy("Resources/imagenet_classes.txt")]
        ),
        .target(name: "LoupeExplain", dependencies: ["LoupeTensor", "LoupeNN"]),
        .target(name: "LoupeRender", dependencies: ["LoupeTensor", "LoupeNN", "LoupeIO", "LoupeExplain"]),
        .target(name: "LoupeBatch", dependencies: ["LoupeTensor", "LoupeNN", "LoupeIO", "LoupeExplain", "LoupeRender"]),
        .target(
            name: "Loupe", dependencies: ["LoupeTensor", "LoupeNN", "LoupeIO", "LoupeExplain", "LoupeRender", "LoupeBatch"]),

        // Programs.
        .executableTarget(
            name: "loupe",
            dependencies: ["Loupe", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "loupe-bench",
            dependencies: ["LoupeTensor", "LoupeIO", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // Tests.
        .target(name: "LoupeTestSupport", dependencies: ["LoupeNN", "LoupeIO"], path: "Tests/LoupeTestSupport"),
        .testTarget(
            name: "LoupeTensorTests", dependencies: ["LoupeTensor", "LoupeIO", "LoupeTestSupport"], resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "LoupeNNTests", dependencies: ["LoupeNN", "LoupeIO", "LoupeTestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "LoupeIOTests", dependencies: ["LoupeIO"], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "LoupeExplainTests", dependencies: ["LoupeExplain", "LoupeIO", "LoupeTestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "LoupeRenderTests", dependencies: ["LoupeRender", "LoupeIO", "LoupeNN", "LoupeExplain", "LoupeTestSupport"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "LoupeCLITests", dependencies: ["LoupeIO", "LoupeNN", "LoupeExplain", "loupe"], exclude: ["Help", "Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)

// `make fuzz` sets LOUPE_FUZZ and builds this libFuzzer target with -sanitize=fuzzer,address
// (it needs libFuzzer's driver, so ordinary builds leave it out).
if ProcessInfo.processInfo.environment["LOUPE_FUZZ"] != nil {
    package.targets.append(
        .executableTarget(
            name: "loupe-fuzz", dependencies: ["LoupeIO"], path: "Fuzz",
            exclude: ["corpus", "crashers", "run.sh"]))
}

// `make test-onednn3` sets LOUPE_LIBRARY_TESTS: its run leaves out the command-line suites (they
// drive the same kernels through the loupe binary; see the Makefile), so its build leaves out
// their test target and the op benchmark too. The loupe executable is still built.
if ProcessInfo.processInfo.environment["LOUPE_LIBRARY_TESTS"] != nil {
    package.targets.removeAll { $0.name == "LoupeCLITests" || $0.name == "loupe-bench" }
}
