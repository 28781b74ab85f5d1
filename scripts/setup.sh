#!/usr/bin/env bash
# Installs the system packages Tally's build needs, if they are missing: `setup.sh demo` what
# the demo needs, `setup.sh` (or `setup.sh test`) also what the tests need. Safe to run again:
# it installs only what is absent. Needs root (or sudo) for apt-get.
#
# The workspace needs a Rust toolchain (1.88 or later, the workspace's rust-version). The
# node's bundled RocksDB needs libclang for bindgen (Debian's librocksdb-dev is too old for the
# rocksdb crate); clang itself is not needed, but libclang-common-14-dev is (it provides
# stdbool.h).
set -euo pipefail

# Debian packages the build and the demo need (curl: the demo's HTTP calls).
PACKAGES=(libclang1-14 libclang-common-14-dev curl)
# And the tests (chromium and a font: the consumer page's test in a real headless browser).
case "${1:-test}" in
demo) ;;
test) PACKAGES+=(chromium fonts-dejavu-core) ;;
*)
    echo "usage: setup.sh [demo|test]" >&2
    exit 2
    ;;
esac

RUST_NEEDED=1.88
if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo is not installed; install Rust $RUST_NEEDED or later from https://rustup.rs" >&2
    exit 1
fi
rust="$(rustc --version | awk '{print $2}')"
if [ "$(printf '%s\n%s\n' "$RUST_NEEDED" "$rust" | sort -V | head -n1)" != "$RUST_NEEDED" ]; then
    echo "setup: Rust $rust is too old; Tally needs $RUST_NEEDED or later (rustup update)" >&2
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
