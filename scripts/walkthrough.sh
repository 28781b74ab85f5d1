#!/usr/bin/env bash
# A walk through Tally's offline tools and one node: a consortium is drawn up and signed, members sign events
# into their chains with keys held outside any node, a consumer's private data is committed and
# one field disclosed, everything is verified with the CLI alone; then the factory's node runs,
# stores those entries, records its own events over HTTP, and answers the product's history. It works in a fresh
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
echo "== 6. The factory runs its node: its systems record events over HTTP, and the history is queried"
cargo build --quiet --locked -p tally-node
TOKEN="demo-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
cat >"$dir/node.toml" <<TOML
data_dir = "node-data"
genesis = "consortium/genesis.toml"
key_file = "consortium/keys/manufacturer.key"
[api]
listen = "127.0.0.1:0"
[[tokens]]
name = "factory-mes"
secret = "$TOKEN"
scope = "member"
TOML
rm -rf "$dir/node-data"
echo "+ tally-node --config $dir/node.toml   (log: $dir/node.log)"
target/debug/tally-node --config "$dir/node.toml" 2>"$dir/node.log" &
node_pid=$!
trap 'kill "$node_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
    grep -q "HTTP API listening" "$dir/node.log" && break
    kill -0 "$node_pid" 2>/dev/null || { cat "$dir/node.log" >&2; exit 1; }
    sleep 0.1
done
API=$(grep -o 'listening on http://[0-9.:]*' "$dir/node.log" | head -1 | sed 's/listening on //')
echo "   the node listens on $API"
api() {
    local method=$1 path=$2; shift 2
    echo "+ curl -X $method $API$path $*" >&2
    curl -sS -X "$method" "$API$path" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"
    echo
}
summary() {
    python3 -c 'import json, sys
page = json.load(sys.stdin)
for item in page["items"]:
    event = item["entry"]["body"]["payload"]["event"]["event"]
    print("   %-13s %-16s seq %-2s %s %s %s" % (item["author"], item["kind"], item["seq"], event["eventTime"], event.get("bizStep", ""), item["status"]))'
}
echo "   the entries signed offline above are stored (verified again by the node):"
printf '[%s,%s]' "$(cat "$dir/order.entry.json")" "$(cat "$dir/inspection.entry.json")" >"$dir/offline.json"
api POST /v1/entries --data-binary "@$dir/offline.json"
echo "   the factory's MES records packing and the hand-over to logistics; the node signs them:"
api POST /v1/events --data-binary @- <<'JSON'
[{"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "packing", "disposition": "in_progress",
  "eventTime": "2026-03-06T10:00:00.000+08:00", "eventTimeZoneOffset": "+08:00",
  "epcList": ["https://id.gs1.org/01/09506000134352/21/C2M-0001"],
  "private": {"order.spec": {"model": "sofa-3", "fabric": "linen", "colour": "sage"}}},
 {"type": "ObjectEvent", "action": "OBSERVE", "bizStep": "shipping", "disposition": "in_transit",
  "eventTime": "2026-03-06T16:00:00.000+08:00", "eventTimeZoneOffset": "+08:00",
  "epcList": ["https://id.gs1.org/01/09506000134352/21/C2M-0001"],
  "tally:handOverTo": "logistics"}]
JSON
echo "   the product's history, asked for by its EPC URI:"
api GET "/v1/products/urn%3Aepc%3Aid%3Asgtin%3A9506000.013435.C2M-0001/history" | summary
echo "   a malformed event is refused with a problem+json naming the field; nothing is stored:"
api POST /v1/events -d '{"type": "ObjectEvent", "action": "OBSERVE", "eventTime": "yesterday", "epcList": []}' || true
api GET /health
kill -TERM "$node_pid"
wait "$node_pid"
trap - EXIT
echo "   the node stopped cleanly on SIGTERM"
echo "== done: the files are in $dir"
