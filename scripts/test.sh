#!/usr/bin/env bash
# The whole test suite: unit, property, integration and end-to-end tests of every crate.
# Every test binary runs even when one fails (--no-fail-fast); the run ends with the tests
# that failed, one a line, and one summary line: "summary: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

log="$(mktemp)"
trap 'rm -f "$log"' EXIT

status=0
cargo test --workspace --locked --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?

# libtest prints "test result: ok. 12 passed; 0 failed; ..." per binary and
# "test some::name ... FAILED" per failing test.
read -r passed failed < <(awk '
    /^test result: / {
        for (i = 1; i <= NF; i++) {
            if ($(i + 1) ~ /^passed;?$/) p += $i
            if ($(i + 1) ~ /^failed;?$/) f += $i
        }
    }
    END { printf "%d %d\n", p, f }
' "$log")
echo
if ((failed > 0)); then
    echo "failed tests (test binary, then test):"
    # "Running tests/demo.rs (target/debug/deps/demo-0123abcd)" names the binary that runs.
    awk '
        /^ *Running / { binary = $NF; gsub(/^\(target\/debug\/deps\/|-[0-9a-f]+\)$/, "", binary) }
        /^test .* \.\.\. FAILED$/ { sub(/^test /, ""); sub(/ \.\.\. FAILED$/, ""); print "  " binary ": " $0 }
    ' "$log" | sort -u
fi
if ((status != 0 && failed == 0)); then
    echo "cargo test exited with status $status with no test failing: a build error, or a test binary that crashed (see above)"
fi
echo "summary: $passed passed, $failed failed"
exit "$status"
