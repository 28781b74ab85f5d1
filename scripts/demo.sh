#!/usr/bin/env bash
# Tally's main job, offline for now: a consortium is drawn up and signed, members sign events
# into their chains with keys held outside any node, a consumer's private data is committed and
# one field disclosed, and everything is verified with the CLI alone. It works in a fresh
# temporary directory (or the directory given) and prints every step.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --quiet --locked -p tally-cli
tally() { echo "+ tally $*" >&2; target/debug/tally "$@"; }
dir=${1:-$(mktemp -d -t tally-demo.XXXXXX)}
mkdir -p "$dir"
echo "== working in $dir"

echo "== 1. The demo consortium (five members, demo-only keys) and its genesis"
rm -rf "$dir/consortium"
tally genesis demo -o "$dir/consortium"
tally genesis verify "$dir/consortium/genesis.toml"
tally genesis show "$dir/consortium/genesis.toml"
G="$dir/consortium/genesis.toml"
K="$dir/consortium/keys"

echo "== 2. The platform records a consumer's custom order; name, address and spec stay private"
cat >"$dir/order.json" <<'JSON'
{
  "type": "ObjectEvent", "action": "ADD", "bizStep": "commissioning",
  "eventTime": "2026-03-01T09:00:00.000+08:00", "eventTimeZoneOffset": "+08:00",
  "epcList": ["https://id.gs1.org/01/09506000134352/21/C2M-0001"],
  "tally:kind": "order"
}
JSON
cat >"$dir/order-private.json" <<'JSON'
{ "consumer.name": "Li Wei", "consumer.address": "88 Example Road, Hangzhou",
  "order.spec": {"model": "sofa-3", "fabric": "linen", "colour": "sage"} }
JSON
rm -f "$dir/order.entry.json" "$dir/order.opened.json"
tally entry sign --genesis "$G" --key "$K/platform.key" --event "$dir/order.json" \
    --private "$dir/order-private.json" --opened-out "$dir/order.opened.json" -o "$dir/order.entry.json"
tally entry verify --genesis "$G" "$dir/order.entry.json"

echo "== 3. The factory inspects the product and signs the result in its own chain"
cat >"$dir/inspection.json" <<'JSON'
{
  "type": "ObjectEvent", "action": "OBSERVE", "bizStep": "inspecting", "disposition": "conformant",
  "eventTime": "2026-03-05T15:00:00.000+08:00", "eventTimeZoneOffset": "+08:00",
  "epcList": ["urn:epc:id:sgtin:9506000.013435.C2M-0001"]
}
JSON
tally entry sign --genesis "$G" --key "$K/manufacturer.key" --event "$dir/inspection.json" -o "$dir/inspection.entry.json"
tally entry verify --genesis "$G" "$dir/inspection.entry.json"

echo "== 4. The consumer is handed a disclosure of the spec alone, and anyone can check it"
rm -f "$dir/spec.disclosure.json"
tally disclose make --entry "$dir/order.entry.json" --opened "$dir/order.opened.json" --field order.spec -o "$dir/spec.disclosure.json"
tally disclose verify "$dir/spec.disclosure.json" --genesis "$G"

echo "== 5. Someone edits the signed inspection to say it failed: verification catches it"
sed 's/"conformant"/"non_conformant"/' "$dir/inspection.entry.json" >"$dir/tampered.entry.json"
if tally entry verify --genesis "$G" "$dir/tampered.entry.json"; then
    echo "unexpected: a tampered entry verified" >&2; exit 1
fi
echo "== done: the files are in $dir"
