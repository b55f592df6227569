#!/usr/bin/env bash
# Configures and builds nibble into ./build (CUDA auto-detected; override with NIBBLE_CUDA=ON|OFF).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DNIBBLE_CUDA="${NIBBLE_CUDA:-AUTO}" >/dev/null
cmake --build build -j"$(nproc)"
