#!/bin/sh
# ensure-deps.sh: checks the Debian packages the build and tests need (graphviz renders the
# DOT files of `surgery plan --dot` in the tests; libpng and libjpeg-turbo decode the images
# source; protoc-c generates the ONNX parser from libonnx-dev's onnx.proto; libzip and jansson
# read DL4J model files); installs missing ones with apt-get (as root, or through sudo), saying
# what it installs. With --fuzz: also clang and its libFuzzer runtime, for `make fuzz`.
set -eu
PACKAGES="pkg-config flex bison libopenblas-dev libyaml-dev libxxhash-dev libpng-dev libjpeg62-turbo-dev
    libcriterion-dev graphviz protobuf-c-compiler libprotobuf-c-dev libonnx-dev libzip-dev libjansson-dev libonnx-testdata"
if [ "${1:-}" = "--fuzz" ]; then
    PACKAGES="clang libclang-rt-14-dev"
fi
missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    exit 0
fi
echo "surgery: installing missing Debian packages:$missing"
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
else
    echo "surgery: need root or sudo to install:$missing" >&2
    exit 1
fi
$SUDO apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
