#!/usr/bin/env bash
# The whole test suite: unit, property, integration and end-to-end tests of every crate.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --workspace --locked "$@"
