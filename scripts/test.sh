#!/usr/bin/env bash
# The test command: set up, build, run every test. GPU tests carry the ctest label "gpu" and skip
# themselves when no GPU is present.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j2
