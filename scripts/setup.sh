#!/usr/bin/env bash
# Installs the system packages Tally's build and tests need, if they are missing.
# Safe to run again: it installs only what is absent. Needs root (or sudo) for apt-get.
#
# The workspace needs a Rust toolchain (1.85 or later). The node's bundled RocksDB needs
# libclang for bindgen (Debian's librocksdb-dev is too old for the rocksdb crate); clang itself
# is not needed, but libclang-common-14-dev is (it provides stdbool.h).
set -euo pipefail

# Debian packages the build, the tests or the demo need (curl: the demo's HTTP calls;
# chromium and a font: the consumer page's test in a real headless browser).
PACKAGES=(libclang1-14 libclang-common-14-dev curl chromium fonts-dejavu-core)

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo is not installed; install Rust 1.85 or later from https://rustup.rs" >&2
    exit 1
fi

missing=()
for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    echo "setup: installing ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
