#!/usr/bin/env bash
# Regenerates Sources/sinks/sparkplug/sparkplug_b.pb.swift from sparkplug_b.proto. The build never
# runs protoc: the generated file is committed. Needs protoc (Debian: protobuf-compiler) and
# protoc-gen-swift of the swift-protobuf version in Package.swift, e.g.
#   git clone https://github.com/apple/swift-protobuf && cd swift-protobuf && git checkout 1.39.0 &&
#   swift build -c release --product protoc-gen-swift
# then PROTOC_GEN_SWIFT=/path/to/.build/release/protoc-gen-swift scripts/gen-sparkplug.sh
set -euo pipefail
cd "$(dirname "$0")/../Sources/sinks/sparkplug"
plugin=${PROTOC_GEN_SWIFT:-$(command -v protoc-gen-swift || true)}
[ -x "$plugin" ] || { echo "set PROTOC_GEN_SWIFT to protoc-gen-swift (see the comment at the top of $0)" >&2; exit 1; }
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Public --swift_out=. sparkplug_b.proto
echo "wrote $(pwd)/sparkplug_b.pb.swift"
