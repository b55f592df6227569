#!/usr/bin/env bash
# The main job: set up, build, then quantize a real model's tensors to every format and print the
# error / bits-per-weight table (NVFP4 with and without the scale search).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec build/nibble eval-formats "$@"
