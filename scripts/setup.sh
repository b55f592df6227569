#!/usr/bin/env bash
# Installs the build dependencies from Debian packages (idempotent; does nothing when present).
set -euo pipefail

packages=(cmake make g++ libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev libcli11-dev pkg-config libpcre2-dev)
# The sanitizer/fuzz build (scripts/test.sh): clang, and libFuzzer plus the ASan/UBSan runtimes, which
# Debian ships in libclang-rt-<version>-dev (libclang-rt-dev follows the default clang's version).
packages+=(clang libclang-rt-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
