#!/usr/bin/env bash
# Regenerates the artefacts the repository commits (the demo consortium, the CLI help shown in
# docs, the HTTP API's OpenAPI document) and fails if they differ from the committed copies.
set -euo pipefail
cd "$(dirname "$0")/.."
# The binaries as the test build makes them: building them alone (`cargo build -p ...`)
# resolves features without dev-dependencies and recompiles the crates whose features differ.
cargo test --workspace --locked --no-run --quiet
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
target/debug/tally genesis demo -o "$tmp/demo" >/dev/null
diff -r genesis/demo "$tmp/demo" || { echo "genesis/demo is stale: run scripts/regenerate.sh" >&2; exit 1; }
scripts/cli-help.sh >"$tmp/cli-help.md"
diff docs/cli-help.md "$tmp/cli-help.md" || { echo "docs/cli-help.md is stale: run scripts/regenerate.sh" >&2; exit 1; }
target/debug/tally-node --openapi >"$tmp/openapi.json"
diff docs/openapi.json "$tmp/openapi.json" || { echo "docs/openapi.json is stale: run scripts/regenerate.sh" >&2; exit 1; }
echo "generated artefacts are current"
