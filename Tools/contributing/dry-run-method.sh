#!/bin/sh
# CONTRIBUTING.md's "Add an attribution method" recipe, followed by a script: adds a toy method,
# absolute-saliency (|∇|, Captum's Saliency(abs=True)), by touching only the files the recipe
# lists — its own file, its name in MethodRegistry.builtIn, its test and the README's list —
# then builds, runs its test and the tests that loop over every method (registry, pass
# splitting, pinned help), explains a sample with it from the command line, and puts everything
# back. Fails if the recipe's files are not enough. (The toy's test is worked out by hand; a
# real method also gets its Captum/pytorch-grad-cam reference fixture, step 3 of the recipe.)
#   sh Tools/contributing/dry-run-method.sh
set -eu
cd "$(dirname "$0")/../.."
method=Sources/LoupeExplain/AbsoluteSaliency.swift
test=Tests/LoupeExplainTests/AbsoluteSaliencyTests.swift
registry=Sources/LoupeExplain/MethodRegistry.swift
readme=README.md
git diff --quiet -- "$registry" "$readme" || { echo "error: $registry or $readme has uncommitted changes" >&2; exit 1; }
[ ! -e "$method" ] && [ ! -e "$test" ] || { echo "error: $method or $test exists already" >&2; exit 1; }
trap 'rm -f "$method" "$test"; git checkout -- "$registry" "$readme"' EXIT

cat > "$method" <<'SWIFT'
import LoupeTensor

/// The magnitude of the gradient, Captum's `Saliency(abs=True)`.
public struct AbsoluteSaliency: GradientMethod, Sendable {
    public init() {}
    public func combine(input: Tensor, gradient: Tensor) -> Tensor { gradient.abs() }
}

extension AttributionMethod {
    public static let absoluteSaliency = gradientMethod(
        AbsoluteSaliency(), name: "absolute-saliency", summary: "the magnitude of the class score's gradient at each pixel")
}
SWIFT
cat > "$test" <<'SWIFT'
import LoupeExplain
import LoupeNN
import LoupeTensor
import Testing

@Suite("absolute saliency")
struct AbsoluteSaliencyTests {
    @Test func isTheGradientsMagnitude() throws {
        // score = 2·x₀ − 3·x₁: the gradient is (2, −3), its magnitude (2, 3).
        var generator = RandomGenerator(seed: 0)
        let model = Sequential([Flatten(), Linear(inputFeatures: 2, outputFeatures: 1, bias: false, generator: &generator)])
        model.assignPaths()
        try model.load(["1.weight": Tensor(shape: [1, 2], scalars: [2, -3])])
        let input = Tensor(shape: [1, 1, 1, 2], scalars: [0.5, 1])
        let result = try AttributionMethod.absoluteSaliency.attribute(model, input: input, target: .classes([0]))
        #expect(result.attribution.scalars == [2, 3])
    }
}
SWIFT
python3 - "$registry" "$readme" <<'PY'
import re
import sys
registry, readme = sys.argv[1], sys.argv[2]
text = open(registry).read()
assert "        .saliency, .inputXGradient," in text
open(registry, "w").write(text.replace("        .saliency, .inputXGradient,", "        .saliency, .absoluteSaliency, .inputXGradient,", 1))
text = open(readme).read()
old = "with `abs`, `max`, `absmax` summaries), input × gradient"
assert old in text
text = text.replace(old, "with `abs`, `max`, `absmax` summaries), absolute saliency, input × gradient", 1)
count = re.search(r"(\d+)\nexplanation methods", text)
assert count, "the README's count of methods"
text = text[:count.start(1)] + str(int(count.group(1)) + 1) + text[count.end(1):]
open(readme, "w").write(text)
PY
echo "changed:"; { git diff --name-only; git ls-files --others --exclude-standard; } | sort
swift build -c release --build-tests
.build/release/LoupePackageTests.xctest --testing-library swift-testing \
    --filter "AbsoluteSaliencyTests|MethodRegistryTests|PassSplittingTests|HelpTests|RegistryIsTheOnlyList|explainWritesRawAndPicture" \
    2>&1 | grep -E "✘|Test run with"
.build/release/loupe explain --model Models/fashion-cnn.safetensors --image Samples/fashion/0001-pullover.png \
    --method absolute-saliency --raw /tmp/loupe-dry-run-absolute-saliency.npy
COLUMNS=1000 .build/release/loupe explain --help | grep "absolute-saliency:"
