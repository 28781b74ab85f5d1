#!/usr/bin/env bash
# Tally's main job on one machine: the demo consortium (`tally demo`). The five members of the
# demo genesis run as five local nodes on free ports, replicating to each other over libp2p; a
# consumer's custom sofa is followed from order to delivery; DIR/demo.json lists every node's
# API, token and data directory. Runs until Ctrl-C. DIR defaults to ./tally-demo; run it again
# on the same DIR and the nodes reopen their data.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh demo
# Only the binaries, so the demo comes up as soon as it can. RocksDB's C++ (most of the time)
# is compiled once: scripts/test.sh and clippy afterwards reuse it (the workspace's
# `profile.dev.build-override` keeps its build script's inputs the same for every build).
echo "demo: building Tally (on a fresh 2-core machine about 10 minutes, most of it RocksDB; then seconds)"
cargo build --locked --workspace --bins
echo "demo: starting the demo consortium"
exec target/debug/tally demo --dir "${1:-tally-demo}"
