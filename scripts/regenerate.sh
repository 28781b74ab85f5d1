#!/usr/bin/env bash
# Rewrites the committed generated artefacts (after a deliberate change).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --locked -p tally-cli -p tally-node
rm -rf genesis/demo
target/debug/tally genesis demo -o genesis/demo
scripts/cli-help.sh >docs/cli-help.md
target/debug/tally-node --openapi >docs/openapi.json
