#!/bin/sh
# CONTRIBUTING.md's "Add an ONNX operator" recipe, followed by a script: adds Celu (opset 12:
# max(0, x) + min(0, α(e^(x/α) − 1))) by touching only the files the recipe lists — its entry in the operator table and
# the docs' list — then builds and runs ONNX's own node tests for it and the operator-table test,
# and puts the two files back. Fails if the recipe's files are not enough.
#   sh Tools/contributing/dry-run-onnx-operator.sh
set -eu
cd "$(dirname "$0")/../.."
table=Sources/LoupeIO/ONNX/ONNXGraph+Operators.swift
docs=docs/onnx.md
git diff --quiet -- "$table" "$docs" || { echo "error: $table or $docs has uncommitted changes" >&2; exit 1; }
trap 'git checkout -- "$table" "$docs"' EXIT
python3 - "$table" "$docs" <<'PY'
import sys
table, docs = sys.argv[1], sys.argv[2]
text = open(table).read()
anchor = '            ONNXOperator("Identity") { [try $0.value(0)] },\n'
assert anchor in text
celu = """            ONNXOperator("Celu", since: 12) { arguments in
                let (x, alpha) = (try arguments.float(0), arguments.attributes.float("alpha", 1))
                return [.float(x.relu() - ((((x * (1 / alpha)).exp() - 1) * alpha) * -1).relu())]
            },
"""
text = text.replace(anchor, anchor + celu)
open(table, "w").write(text)
text = open(docs).read()
head, rest = text.split("## Operators\n\n", 1)
names, tail = rest.split(".\n", 1)
listed = sorted(names.split(", ") + ["Celu"])
open(docs, "w").write(head + "## Operators\n\n" + ", ".join(listed) + ".\n" + tail)
PY
echo "changed: $(git diff --stat -- . | tail -1)"
git diff --name-only
swift build -c release --build-tests
report=$(mktemp)
LOUPE_ONNX_REPORT="$report" .build/release/LoupePackageTests.xctest --testing-library swift-testing \
    --filter "ONNXNodeTests|ONNXOperatorTableTests" 2>&1 | grep -E "✘|Test run with"
echo "ONNX's node tests for it (the conformance report):"
grep -i "| Celu " "$report"
rm -f "$report"
