#!/usr/bin/env bash
# The test command: set up, build, run every test. GPU tests carry the ctest label "gpu" and skip
# themselves when no GPU is present. Then the sanitizer + fuzz build (build-fuzz) runs its tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j2

# Hardening: a second tree built with clang, ASan/UBSan and libFuzzer instrumentation, without the
# benchmarks and with only the I/O unit tests. It runs those and the corrupt-file corpus (tests/data/*-corrupt,
# also through `nibble inspect`) under the sanitizers, and a few seconds of each fuzzer (ctest label "fuzz").
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNIBBLE_FUZZ=ON \
    -DNIBBLE_CUDA=OFF -DNIBBLE_BUILD_TESTS=OFF -DNIBBLE_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)"
ctest --test-dir build-fuzz --output-on-failure -j2
