#!/bin/sh
# Regenerates Sources/LoupeIO/ONNX/onnx.pb.swift from Tools/onnx/onnx.proto (copied from the
# `onnx` Python package, onnx 1.23.2). Needs protoc (Debian: protobuf-compiler) and
# protoc-gen-swift built from apple/swift-protobuf 1.39.0, the version Package.swift names:
#
#   git clone https://github.com/apple/swift-protobuf && cd swift-protobuf && git checkout 1.39.0
#   swift build -c release --product protoc-gen-swift      # a few minutes
#   PROTOC_GEN_SWIFT=$PWD/.build/release/protoc-gen-swift sh Tools/onnx/generate-proto.sh
#
# CI never runs this: the generated file is committed.
set -eu
cd "$(dirname "$0")/../.."
: "${PROTOC_GEN_SWIFT:=$(command -v protoc-gen-swift)}"
protoc --plugin=protoc-gen-swift="$PROTOC_GEN_SWIFT" --proto_path=Tools/onnx \
       --swift_opt=Visibility=Internal --swift_out=Sources/LoupeIO/ONNX onnx.proto
echo "wrote Sources/LoupeIO/ONNX/onnx.pb.swift"
