#!/bin/sh
# Fuzz smoke test: runs one libFuzzer harness for a few seconds over its seeds. New inputs go to a
# scratch corpus in the build tree (never into the checked-in seed folders, which are read-only
# here), crash artifacts too. Exit status is libFuzzer's: non-zero on a crash, leak, timeout or OOM.
#   fuzz_smoke.sh FUZZER WORKDIR SECONDS DICT SEED_DIR...
set -eu
fuzzer=$1 work=$2 seconds=$3 dict=$4
shift 4
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
exec "$fuzzer" "$work/corpus" "$@" -dict="$dict" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -artifact_prefix="$work/artifacts/" -print_final_stats=1
