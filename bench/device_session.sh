#!/bin/bash
# One device-machine call (see /work/.library device tool): GPU tests + kernel lab tables on the GPU
# while the three libFuzzer harnesses run in fork mode on the CPU cores. Binaries are built on the
# workstation and carried as .devcarry/{gpu,fuzz}.tar.xz (bench/README.md says how).
#   bench/device_session.sh FUZZ_SECONDS FORKS
set -u
secs=${1:-480} forks=${2:-4}
out=${OUT:-/tmp/out}
mkdir -p "$out/fuzz"
for a in .devcarry/*.tar.xz; do tar xJf "$a"; done
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,clocks.max.mem --format=csv | tee "$out/gpu.txt"
pids=()
if [ "$secs" -gt 0 ]; then
    for t in gguf safetensors json_config; do
        case $t in
        gguf) extra=tests/data/gguf-corrupt ;;
        safetensors) extra=tests/data/safetensors-corrupt ;;
        json_config) extra=tests/data/json-corrupt ;;
        esac
        mkdir -p "/tmp/corpus_$t" "$out/fuzz/artifacts_$t"
        build-fuzz/tests/fuzz/fuzz_$t "/tmp/corpus_$t" tests/fuzz/corpus/$t $extra -dict=tests/fuzz/dict/$t.dict \
            -fork="$forks" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
            -artifact_prefix="$out/fuzz/artifacts_$t/" -print_final_stats=1 >"$out/fuzz/$t.log" 2>&1 &
        pids+=($!)
    done
fi
build/tests/nibble_gpu_tests >"$out/gpu_tests.log" 2>&1
echo "gpu tests rc=$?" | tee -a "$out/gpu_tests.log"
tail -n 3 "$out/gpu_tests.log"
build/bench/kernels/decode_stream >"$out/decode_stream.txt" 2>&1
echo "decode_stream rc=$?"
build/bench/kernels/gemv_formats >"$out/gemv_formats.txt" 2>&1
echo "gemv_formats rc=$?"
for p in "${pids[@]}"; do wait "$p"; echo "fuzz pid $p rc=$?"; done
for t in gguf safetensors json_config; do
    [ -f "$out/fuzz/$t.log" ] || continue
    echo "== $t"; grep -E "^#[0-9]+" "$out/fuzz/$t.log" | tail -n 1; grep -E "^Done|ERROR|SUMMARY" "$out/fuzz/$t.log" | tail -n 3
    ls /tmp/corpus_$t | wc -l
    tar czf "$out/fuzz/corpus_$t.tgz" -C /tmp "corpus_$t"
done
tail -n 45 "$out/decode_stream.txt"
