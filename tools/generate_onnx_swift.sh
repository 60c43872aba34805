#!/bin/sh
# Regenerates Sources/FovExONNX/Generated/onnx.pb.swift from the onnx.proto of ONNX v1.15.0.
#
# Needs: protoc (Debian: apt-get install protobuf-compiler; 3.21.12 was used) and protoc-gen-swift built from the
# same swift-protobuf release the package resolves (1.39.0 was used), in a scratch directory outside the repository:
#   git clone --depth 1 --branch 1.39.0 https://github.com/apple/swift-protobuf /tmp/swift-protobuf
#   (cd /tmp/swift-protobuf && swift build -c release --product protoc-gen-swift)
#   PROTOC_GEN_SWIFT=/tmp/swift-protobuf/.build/release/protoc-gen-swift tools/generate_onnx_swift.sh
# The package itself depends only on the SwiftProtobuf runtime; nothing here runs during a build.
set -eu
ONNX_TAG=v1.15.0   # commit b86cc54efce19530fb953e4b21f57e6b3888534c; onnx/onnx.proto sha256 6e65446b…0882
: "${PROTOC_GEN_SWIFT:?set PROTOC_GEN_SWIFT to a protoc-gen-swift binary}"
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/onnx"
curl -fsSL "https://raw.githubusercontent.com/onnx/onnx/$ONNX_TAG/onnx/onnx.proto" -o "$work/onnx/onnx.proto"
echo "6e65446bb333ee933408423d93c8150d37e7c48fc1b357160bf81fb1dc9d0882  $work/onnx/onnx.proto" | sha256sum -c -
protoc --plugin=protoc-gen-swift="$PROTOC_GEN_SWIFT" --proto_path="$work" \
    --swift_opt=Visibility=Internal --swift_out="$work" "$work/onnx/onnx.proto"
cp "$work/onnx/onnx.pb.swift" "$root/Sources/FovExONNX/Generated/onnx.pb.swift"
