#!/usr/bin/env bash
# The main job. Sets up and builds, fetches (once) the realistic default model, computes its
# importance matrix on the embedded calibration text, quantizes it to NVFP4 three ways (ggml's RTN,
# scale search, scale search + imatrix) and to Q4_K_M and Q8_0, then measures every variant against
# the original with `nibble perplexity` (PPL and KL-divergence on the embedded wikitext-2 excerpt)
# and prints the size / bits-per-weight / quality table.
#
#   scripts/run.sh [--model GGUF|HF_DIR] [--chunks N] [--threads N] [--out DIR] [--no-setup]
#
# Defaults: SmolLM2-135M-Instruct (scripts/fetch-model.sh), 8 chunks of 512 tokens, all cores,
# build/main-job. Everything it needs is in this repository (data/README.md for the texts).
set -euo pipefail
cd "$(dirname "$0")/.."

model="" chunks=8 threads=0 out=build/main-job setup=1
while [ $# -gt 0 ]; do
    case "$1" in
    --model) model="$2"; shift 2 ;;
    --chunks) chunks="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --no-setup) setup=0; shift ;;
    -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done

if [ "$setup" = 1 ]; then
    scripts/setup.sh
    scripts/build.sh
fi
nibble=build/nibble
[ -x "$nibble" ] || { echo "run.sh: $nibble is missing; run scripts/build.sh" >&2; exit 1; }
[ -n "$model" ] || model="$(scripts/fetch-model.sh)"
calib=data/calibration-c4-excerpt.txt
text=data/wikitext-2-test-excerpt.txt
mkdir -p "$out"
log="$out/log.txt"
: >"$log"

step() { printf '\n== %s\n' "$*" | tee -a "$log" >&2; }
run() { "$@" >>"$log" 2>&1 || { echo "run.sh: failed: $*  (see $log)" >&2; tail -n 20 "$log" >&2; exit 1; }; }

# An HF folder is converted once to F16 so that every arm starts from the same GGUF.
src="$model"
if [ -d "$model" ]; then
    step "convert $model to F16"
    run "$nibble" quantize "$model" "$out/source.f16.gguf" F16 --threads "$threads"
    src="$out/source.f16.gguf"
fi
requant=()
if ! "$nibble" quantize --dry-run "$src" "$out/probe.gguf" Q8_0 >/dev/null 2>&1; then
    requant=(--allow-requantize) # a quantized source (the default SmolLM2 ships as Q4_1)
fi

step "importance matrix on $calib"
run "$nibble" imatrix -m "$src" -f "$calib" -o "$out/imatrix.gguf" -c 512 --chunks 32 --threads "$threads"

step "base logits of the source model on $text ($chunks x 512 tokens)"
run "$nibble" perplexity -m "$src" -f "$text" -c 512 --chunks "$chunks" --threads "$threads" \
    --kl-divergence-base "$out/base.kld"
base_ppl=$(grep -o 'PPL = [0-9.]* +/- [0-9.]*' "$log" | tail -n 1 | sed 's/PPL = //')

# name | file type | extra quantize options
arms=(
    "Q8_0|Q8_0|"
    "Q4_K_M + imatrix|Q4_K_M|--imatrix $out/imatrix.gguf"
    "NVFP4 RTN (ggml)|NVFP4|--nvfp4-search 0"
    "NVFP4 search|NVFP4|--nvfp4-search 12"
    "NVFP4 search + imatrix|NVFP4|--nvfp4-search 12 --imatrix $out/imatrix.gguf"
)
rows=()
for arm in "${arms[@]}"; do
    IFS='|' read -r name type opts <<<"$arm"
    file="$out/$(echo "$name" | tr -c 'A-Za-z0-9_\n' '-' | tr -s '-').gguf"
    step "$name: quantize"
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086 # opts are words on purpose
    "$nibble" quantize "${requant[@]}" $opts --threads "$threads" "$src" "$file" "$type" >"$out/q.txt" 2>&1 ||
        { cat "$out/q.txt" >&2; exit 1; }
    t1=$(date +%s.%N)
    cat "$out/q.txt" >>"$log"
    size=$(grep -o -- '-> [0-9.]* MiB ([0-9.]* bpw)' "$out/q.txt" | tail -n 1)
    step "$name: perplexity + KL-divergence"
    "$nibble" perplexity -m "$file" -f "$text" -c 512 --chunks "$chunks" --threads "$threads" \
        --kl-divergence-base "$out/base.kld" --kl-divergence >"$out/p.txt" 2>&1 || { cat "$out/p.txt" >&2; exit 1; }
    cat "$out/p.txt" >>"$log"
    ppl=$(grep -o 'Mean PPL(Q) *: *[0-9.]* *± *[0-9.]*' "$out/p.txt" | sed 's/.*: *//; s/ *± */ ± /')
    kld=$(grep -o 'Mean *KLD: *[0-9.]* *± *[0-9.]*' "$out/p.txt" | sed 's/.*: *//; s/ *± */ ± /')
    top=$(grep -o 'Same top p: *[0-9.]* *± *[0-9.]*' "$out/p.txt" | sed 's/.*: *//; s/ *± */ ± /')
    rows+=("$(printf '| %-24s | %9s | %6s | %-16s | %-18s | %-15s | %7.1f |' "$name" \
        "$(echo "$size" | awk '{print $2}')" "$(echo "$size" | tr -d '()' | awk '{print $4}')" "$ppl" "$kld" "$top %" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')")")
done

src_size=$("$nibble" quantize --dry-run "${requant[@]}" "$src" "$out/probe.gguf" Q8_0 2>&1 |
    grep -o 'size: [0-9.]* MiB ([0-9.]* bpw)' | tr -d '()')
echo
echo "model: $model"
echo "text: $text, $chunks chunks of 512 tokens; imatrix: $calib; $(nproc) cores"
echo "source: $(echo "$src_size" | awk '{print $2" MiB, "$4" bpw"}'), PPL $base_ppl"
echo
printf '| %-24s | %9s | %6s | %-16s | %-18s | %-15s | %7s |\n' "variant" "MiB" "bpw" "PPL" "mean KLD vs source" \
    "same top token" "quant s"
echo "|---|---:|---:|---|---|---|---:|"
printf '%s\n' "${rows[@]}"
echo
echo "bpw counts every tensor (SmolLM2's tied 49152 x 576 embedding stays Q8_0 in the NVFP4 file type)."
echo "Log: $log"
