#!/usr/bin/env bash
# Runs the README's test command (scripts/test.sh) several times in a row to hunt flaky
# tests, some runs with every core kept busy by stress-ng, and prints one line per run.
#
#   scripts/repeat-tests.sh [RUNS] [FIRST_LOADED-LAST_LOADED]
#   scripts/repeat-tests.sh            # 20 runs, runs 11 to 15 under load
#   scripts/repeat-tests.sh 10 0-0     # 10 runs, none under load
#
# Each run's output is kept in target/repeat-tests/run-N.log; the summary in
# target/repeat-tests/summary.txt. Exits non-zero if any run failed. Installs stress-ng with
# apt-get if it is missing and a run is to be loaded (as root, or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

runs="${1:-20}"
loaded="${2:-11-15}"
first_loaded="${loaded%-*}"
last_loaded="${loaded#*-}"
out=target/repeat-tests
mkdir -p "$out"
: >"$out/summary.txt"

if ((first_loaded > 0)) && ! command -v stress-ng >/dev/null 2>&1; then
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq stress-ng
fi

stress=""
stop_stress() {
    if [ -n "$stress" ]; then
        kill "$stress" 2>/dev/null || true
        wait "$stress" 2>/dev/null || true
        stress=""
    fi
}
trap stop_stress EXIT

failures=0
for i in $(seq 1 "$runs"); do
    load="idle"
    if ((i >= first_loaded && i <= last_loaded)); then
        load="stress-ng --cpu $(nproc)"
        stress-ng --cpu "$(nproc)" --timeout 3600 >/dev/null 2>&1 &
        stress=$!
    fi
    start=$(date +%s)
    code=0
    scripts/test.sh >"$out/run-$i.log" 2>&1 || code=$?
    end=$(date +%s)
    stop_stress
    ((code == 0)) || failures=$((failures + 1))
    line="run $i ($load): exit $code, $((end - start)) s, $(tail -1 "$out/run-$i.log")"
    echo "$line" | tee -a "$out/summary.txt"
    grep -A50 "^failed tests" "$out/run-$i.log" | grep "^  " | tee -a "$out/summary.txt" || true
done
echo "$runs runs, $failures failed" | tee -a "$out/summary.txt"
((failures == 0))
