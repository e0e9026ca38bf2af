#!/usr/bin/env bash
# Coordinated omission: does emr-harness report the latency a stalled server really caused?
#
# The sandbox stalls for 1 s every 10 s (--fault-stall 1s/10s). At a fixed arrival rate, 10% of
# requests arrive during a stall and wait for its end, uniformly 0..1 s, so the ground truth is
# p99 = 900 ms and p99.9 = 990 ms (plus a sub-millisecond service time). The open model measures
# from each request's intended start and should match; a closed loop (one user, as a goose or ab
# default run) sends nothing while it waits and reports the stall as a single slow request.
#
# Usage: bash benches/coordinated-omission.sh        (RATE=200 DURATION=30s)
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${RATE:-200}
DURATION=${DURATION:-30s}
BIN=${EMR_HARNESS_BIN:-target/release/emr-harness}
[ -x "$BIN" ] || cargo build --release --quiet
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'name: co read\nsteps:\n  - name: read\n    fhir: {path: /Patient/none}\n    expect: {status: 404}\n' > "$tmp/read.yaml"
printf 'name: co-open\nscenarios: [{path: read.yaml}]\nrate: %s\nduration: %s\nmax_in_flight: 100000\n' "$RATE" "$DURATION" > "$tmp/open.yaml"
printf 'name: co-closed\nscenarios: [{path: read.yaml}]\nmodel: closed\nusers: 1\nduration: %s\n' "$DURATION" > "$tmp/closed.yaml"
"$BIN" load "$tmp/open.yaml" --fault-stall 1s/10s --format json --out-dir "$tmp/open" --quiet
"$BIN" load "$tmp/closed.yaml" --fault-stall 1s/10s --format json --out-dir "$tmp/closed" --quiet
python3 - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
truth = {"p99_ms": 900.0, "p999_ms": 990.0}
print(f"{'model':<22}{'p50':>10}{'p99':>10}{'p99.9':>10}{'max':>10}   p99 vs truth   p99.9 vs truth")
for name in ("open", "closed"):
    o = json.load(open(f"{d}/{name}/load-report.json"))["overall"]
    r99 = o["p99_ms"] / truth["p99_ms"]
    r999 = o["p999_ms"] / truth["p999_ms"]
    label = "open (emr-harness)" if name == "open" else "closed loop, 1 user"
    print(f"{label:<22}{o['p50_ms']:>10.2f}{o['p99_ms']:>10.1f}{o['p999_ms']:>10.1f}{o['max_ms']:>10.1f}   {r99:>8.3f}x      {r999:>8.3f}x")
print(f"{'ground truth':<22}{'':>10}{truth['p99_ms']:>10.1f}{truth['p999_ms']:>10.1f}")
PY
