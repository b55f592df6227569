#!/usr/bin/env bash
# One call on a GPU machine: build (or take carried binaries), run the GPU tests, then the kernel
# labs; full logs go to $OUT (default ./gpu-out), the tables are printed last.
#
#   bench/kernels/run_on_gpu.sh                 # build into build-dev with every core, run all
#   NIBBLE_GPU_BIN=.gpubin bench/kernels/run_on_gpu.sh   # use prebuilt binaries from that folder
#   NIBBLE_LABS="tests stream" ...              # subset: tests q4_0 stream formats probe
#
# The device machine has no package registry: when the build needs GTest / nlohmann_json / CLI11
# that the image lacks, put a prefix with them in .gpudeps (headers, static libs, CMake configs).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
LABS=${NIBBLE_LABS:-"tests q4_0 stream formats"}

nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.mem --format=csv | tee "$OUT/device.txt"

BIN=${NIBBLE_GPU_BIN:-}
if [ -n "$BIN" ] && ! "$BIN/nibble_gpu_tests" --gtest_list_tests >/dev/null 2>&1; then
    echo "carried binaries in $BIN do not run here; building" | tee -a "$OUT/build.log"
    BIN=""
fi
if [ -z "$BIN" ]; then
    deps=()
    if [ -d .gpudeps ]; then
        deps=(-DCMAKE_PREFIX_PATH="$PWD/.gpudeps" -DGTest_DIR="$PWD/.gpudeps/lib/x86_64-linux-gnu/cmake/GTest"
              -DCLI11_DIR="$PWD/.gpudeps/share/cmake/CLI11" -Dnlohmann_json_DIR="$PWD/.gpudeps/share/cmake/nlohmann_json")
    fi
    t0=$(date +%s)
    cmake -S . -B build-dev -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90a -DNIBBLE_BUILD_BENCH=OFF \
        "${deps[@]}" >"$OUT/build.log" 2>&1 &&
        cmake --build build-dev -j"$(nproc)" --target nibble_gpu_tests gemv_q4_0 gemv_formats decode_stream bulk_probe \
            >>"$OUT/build.log" 2>&1
    rc=$?
    echo "build rc=$rc in $(($(date +%s) - t0)) s" | tee -a "$OUT/build.log"
    if [ $rc -ne 0 ]; then
        tail -40 "$OUT/build.log"
        exit $rc
    fi
    mkdir -p build-dev/gpubin
    cp build-dev/tests/nibble_gpu_tests build-dev/bench/kernels/{gemv_q4_0,gemv_formats,decode_stream,bulk_probe} build-dev/gpubin/
    BIN=build-dev/gpubin
fi

status=0
for lab in $LABS; do
    case $lab in
        tests) "$BIN/nibble_gpu_tests" >"$OUT/tests.log" 2>&1 || status=1
               grep -E "^\[  (PASSED|FAILED|SKIPPED) |FAILED|tests ran" "$OUT/tests.log" | tail -25 ;;
        q4_0) "$BIN/gemv_q4_0" >"$OUT/gemv_q4_0.md" 2>&1 || status=1 ;;
        stream) "$BIN/decode_stream" >"$OUT/decode_stream.md" 2>&1 || status=1 ;;
        formats) "$BIN/gemv_formats" >"$OUT/gemv_formats.md" 2>&1 || status=1 ;;
        probe) "$BIN/bulk_probe" >"$OUT/bulk_probe.md" 2>&1 || status=1 ;;
    esac
done
for f in gemv_q4_0 decode_stream gemv_formats bulk_probe; do
    [ -f "$OUT/$f.md" ] && { echo "==== $f"; grep -E "^\||^###|^device|FAILED" "$OUT/$f.md" | head -80; }
done
exit $status
