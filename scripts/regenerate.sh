#!/usr/bin/env bash
# Rewrites the committed generated artefacts (after a deliberate change).
set -euo pipefail
cd "$(dirname "$0")/.."
# The binaries as the test build makes them: building them alone (`cargo build -p ...`)
# resolves features without dev-dependencies and recompiles the crates whose features differ.
cargo test --workspace --locked --no-run --quiet
rm -rf genesis/demo
target/debug/tally genesis demo -o genesis/demo
scripts/cli-help.sh >docs/cli-help.md
target/debug/tally-node --openapi >docs/openapi.json
