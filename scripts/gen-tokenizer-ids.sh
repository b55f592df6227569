#!/usr/bin/env bash
# Regenerates the expected token ids in tests/data/tokenizer/*.ids with llama.cpp's llama-tokenize.
# Not used by CI: it documents how the committed data was produced.
#
#   scripts/gen-tokenizer-ids.sh /path/to/llama.cpp/build/bin [vocab-dir]
#
# vocab-dir holds llama.cpp's vocab-only GGUFs (models/ggml-vocab-*.gguf from its repository); the
# vocabularies found there are regenerated, the others skipped. SmolLM2-135M-Instruct.Q4_1.gguf is
# taken from $NIBBLE_MODEL_DIR or ~/.cache/nibble/models (scripts/fetch-model.sh). The SmolLM2
# vocabulary is also re-labelled with other tokenizer.ggml.pre values (llama-bpe, qwen2, default,
# gpt-2) to check those pre-tokenizer regexes on a real byte-level vocabulary; that step rewrites
# one GGUF string with python3 (the tests build the same vocabularies in memory).
#
# Strings: tests/data/tokenizer/strings.txt, one per line, with \n \t \r \\ \xHH escapes.
# TinyStories-656K has no byte tokens and llama.cpp aborts on characters it lacks, so it uses
# strings-656k.txt, restricted to its alphabet. Each vocabulary gets two files, one line per string:
#   <name>.plain.ids    llama-tokenize --no-bos --no-parse-special
#   <name>.special.ids  llama-tokenize (BOS if the vocabulary asks for it, special tokens parsed)
set -euo pipefail

bin=${1:?usage: $0 LLAMA_CPP_BIN_DIR [VOCAB_DIR]}
vocab_dir=${2:-${NIBBLE_VOCAB_DIR:-}}
root=$(cd "$(dirname "$0")/.." && pwd)
data=$root/tests/data/tokenizer
model_dir=${NIBBLE_MODEL_DIR:-$HOME/.cache/nibble/models}
tok=$bin/llama-tokenize
export LD_LIBRARY_PATH=$bin${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# gen NAME GGUF STRINGS
gen() {
    local name=$1 gguf=$2 strings=$3 mode flags out
    if [[ ! -f $gguf ]]; then
        echo "skip $name: $gguf not found"
        return
    fi
    for mode in plain special; do
        flags=()
        [[ $mode == plain ]] && flags=(--no-bos --no-parse-special)
        out=$data/$name.$mode.ids
        : >"$out"
        while IFS= read -r line || [[ -n $line ]]; do
            printf '%b' "$line" >"$tmp/in.txt"
            "$tok" -m "$gguf" -f "$tmp/in.txt" --ids --log-disable --no-escape "${flags[@]}" 2>/dev/null |
                tail -n 1 | tr -d '[],' >>"$out"
        done <"$strings"
        echo "wrote $out ($(wc -l <"$out") lines)"
    done
}

# relabel IN OUT PRE: copy of a GGUF's metadata (no tensors) with tokenizer.ggml.pre replaced.
relabel() {
    python3 - "$1" "$2" "$3" <<'EOF'
import struct, sys
src, dst, pre = sys.argv[1], sys.argv[2], sys.argv[3].encode()
f = open(src, 'rb')
magic, version, n_tensors, n_kv = struct.unpack('<4sIQQ', f.read(24))
sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
def skip_value(t):
    if t == 8:
        n, = struct.unpack('<Q', f.read(8)); f.seek(n, 1)
    elif t == 9:
        et, n = struct.unpack('<IQ', f.read(12))
        if et in sizes:
            f.seek(sizes[et] * n, 1)
        else:
            for _ in range(n):
                skip_value(et)
    else:
        f.seek(sizes[t], 1)
kvs = []
for _ in range(n_kv):
    start = f.tell()
    klen, = struct.unpack('<Q', f.read(8)); key = f.read(klen)
    t, = struct.unpack('<I', f.read(4)); skip_value(t)
    end = f.tell(); f.seek(start)
    raw = f.read(end - start)
    if key == b'tokenizer.ggml.pre':
        raw = struct.pack('<Q', klen) + key + struct.pack('<IQ', 8, len(pre)) + pre
    kvs.append(raw)
with open(dst, 'wb') as o:
    o.write(struct.pack('<4sIQQ', magic, version, 0, len(kvs)))
    for raw in kvs:
        o.write(raw)
EOF
}

gen tinystories-656k /work/shared/models/tinystories-656k-gguf/TinyStories-656K.f16.gguf "$data/strings-656k.txt"

smol=$model_dir/SmolLM2-135M-Instruct.Q4_1.gguf
gen smollm2 "$smol" "$data/strings.txt"
if [[ -f $smol ]]; then
    for pre in llama-bpe qwen2 default gpt-2; do
        relabel "$smol" "$tmp/smollm2-$pre.gguf" "$pre"
        gen "smollm2-as-$pre" "$tmp/smollm2-$pre.gguf" "$data/strings.txt"
    done
fi

if [[ -n $vocab_dir ]]; then
    for v in gpt-2 llama-spm phi-3 starcoder refact mpt; do
        gen "vocab-$v" "$vocab_dir/ggml-vocab-$v.gguf" "$data/strings.txt"
    done
fi
