#!/usr/bin/env bash
# Tally beside a peer, in one run on one machine: Hypercore 11.36.1 (pinned; newer versions
# need a hypercore-storage release the npm registry here lacks) appending 300-byte blocks in
# batches of 1,000, appending them one at a time (each awaited), and replicating them to a
# clone; then Tally's ingest benchmark (batched, and one entry per request), its EPCIS capture
# (documents of 100 events, one client and two), its private fields end to end and its
# replication benchmark; then Tally's figures as ratios of Hypercore's. Hypercore has no
# counterpart of Tally's EPCIS query: docs/benchmarks.md gives the query figures alone.
#
# Needs Node.js and npm (the machine's; scripts/setup.sh installs neither) and the npm
# registry for the first run. Takes about 15 minutes. The figures and what they compare are in
# docs/benchmarks.md ("Tally beside Hypercore").
#
# Environment: HYPERCORE_BATCHED, HYPERCORE_SINGLE, HYPERCORE_REPLICATED (block counts,
# default 200000, 5000, 200000); TALLY_BENCH_ENTRIES etc. pass through to Tally's benchmarks.
set -euo pipefail
cd "$(dirname "$0")/.."

work=target/peers
mkdir -p "$work"
cp scripts/peers/package.json scripts/peers/package-lock.json scripts/peers/hypercore.mjs "$work/"
echo "== installing hypercore 11.36.1 (npm ci, pinned by scripts/peers/package-lock.json)"
(cd "$work" && npm ci --no-audit --no-fund --loglevel=error)

echo "== hypercore: 300-byte blocks"
hypercore=$(node "$work/hypercore.mjs" "$work/data" \
    "${HYPERCORE_BATCHED:-200000}" "${HYPERCORE_SINGLE:-5000}" "${HYPERCORE_REPLICATED:-200000}")
rm -rf "$work/data"
echo "$hypercore"

# The middle of criterion's throughput estimate of the benchmark named $1, in elements/s.
throughput() {
    awk -v name="$1" '
        index($0, name) == 1 { found = 1 }
        found && /thrpt:/ {
            gsub(/[][]/, "")
            value = $4; unit = $5
            factor = (unit ~ /^Melem/) ? 1e6 : (unit ~ /^Kelem/) ? 1e3 : 1
            printf "%.0f\n", value * factor
            exit
        }'
}

ingest_log=$(mktemp)
capture_log=$(mktemp)
private_log=$(mktemp)
replication_log=$(mktemp)
trap 'rm -f "$ingest_log" "$capture_log" "$private_log" "$replication_log"' EXIT

echo "== tally: ingest (cargo bench -p tally-node --bench ingest)"
cargo bench -p tally-node --bench ingest -- --warm-up-time 1 --measurement-time 8 \
    'ingest/|ingest_one_at_a_time/' 2>&1 | tee "$ingest_log"
tally_batched=$(throughput "ingest/" <"$ingest_log")
tally_single=$(throughput "ingest_one_at_a_time/" <"$ingest_log")

echo "== tally: EPCIS capture (cargo bench -p tally-node --bench epcis)"
cargo bench -p tally-node --bench epcis -- --warm-up-time 1 --measurement-time 6 \
    epcis_capture 2>&1 | tee "$capture_log"
tally_capture=$(throughput "epcis_capture/documents_of_100_events" <"$capture_log")
tally_capture_two=$(throughput "epcis_capture/two_clients" <"$capture_log")

echo "== tally: private fields end to end (cargo bench -p tally-node --bench private)"
cargo bench -p tally-node --bench private 2>&1 | tee "$private_log"
tally_private=$(sed -n 's/^  end to end .*, \([0-9]*\) orders\/s$/\1/p' "$private_log")

echo "== tally: replication (cargo bench -p tally-node --bench replication)"
cargo bench -p tally-node --bench replication 2>&1 | tee "$replication_log"
tally_replicated=$(sed -n 's/.*: \([0-9]*\) entries\/s replicated to all four$/\1/p' "$replication_log")
tally_catch_up=$(sed -n 's/^catch-up: .*: \([0-9]*\) entries\/s$/\1/p' "$replication_log")

field() { node -e "console.log(Math.round(JSON.parse(process.argv[1])['$1']))" "$hypercore"; }
hc_batched=$(field batched_per_second)
hc_single=$(field single_per_second)
hc_replicated=$(field replicated_per_second)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo
echo "== side by side ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores)"
printf '%-58s %12s %12s %8s\n' "figure" "tally /s" "hypercore /s" "ratio"
printf '%-58s %12s %12s %8s\n' "batched durable append (requests / batches of 1,000)" \
    "$tally_batched" "$hc_batched" "$(ratio "$tally_batched" "$hc_batched")"
printf '%-58s %12s %12s %8s\n' "one at a time, each awaited" \
    "$tally_single" "$hc_single" "$(ratio "$tally_single" "$hc_single")"
printf '%-58s %12s %12s %8s\n' "EPCIS capture, documents of 100 (one client)" \
    "$tally_capture" "$hc_batched" "$(ratio "$tally_capture" "$hc_batched")"
printf '%-58s %12s %12s %8s\n' "EPCIS capture, documents of 100 (two clients)" \
    "$tally_capture_two" "$hc_batched" "$(ratio "$tally_capture_two" "$hc_batched")"
printf '%-58s %12s %12s %8s\n' "private fields at every reader / clone catching up" \
    "$tally_private" "$hc_replicated" "$(ratio "$tally_private" "$hc_replicated")"
printf '%-58s %12s %12s %8s\n' "replication: a fresh node / clone catching up" \
    "$tally_catch_up" "$hc_replicated" "$(ratio "$tally_catch_up" "$hc_replicated")"
printf '%-58s %12s %12s %8s\n' "replication: sustained, to all four nodes (tally only)" \
    "$tally_replicated" "$hc_replicated" "$(ratio "$tally_replicated" "$hc_replicated")"
