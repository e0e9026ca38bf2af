#!/usr/bin/env bash
# Memory over a long max-rate run: emr-harness's load driver (closed model, 64 users, no think
# time, checks on) replays one GET step against nginx serving a static FHIR Patient for SECS
# seconds; RSS is sampled every 10 s from /proc. wrk runs the same way first, as the reference.
# Target: RSS flat and below 100 MB for the whole run.
#
# Usage: bash benches/memory.sh        (SECS=300 USERS=64 PORT=18083)
# Needs: nginx (nginx-light), wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-300}
USERS=${USERS:-64}
PORT=${PORT:-18083}
BIN=${EMR_HARNESS_BIN:-target/release/emr-harness}
[ -x "$BIN" ] || cargo build --release --quiet
source benches/nginx-fixture.sh
printf 'name: memory\nscenarios: [{path: get.yaml}]\nmodel: closed\nusers: %s\nduration: %ss\n' "$USERS" "$SECS" >"$TMP/p.yaml"

sample() { # label pid → prints "label t rss_mb" every 10 s until pid exits
    local label=$1 pid=$2 t=0
    while kill -0 "$pid" 2>/dev/null; do
        rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        [ -n "$rss" ] && echo "$label $t $((rss / 1024))"
        sleep 10; t=$((t + 10))
    done
}
echo "client t_s rss_mb"
taskset -c 0 wrk -t1 -c"$USERS" -d"$((SECS < 60 ? SECS : 60))s" "$URL" >/dev/null &
sample wrk $! | tail -3
taskset -c 0 "$BIN" load "$TMP/p.yaml" --target "http://127.0.0.1:$PORT/fhir" --format json --out-dir "$TMP/out" --quiet >/dev/null &
PID=$!
sample emr-harness "$PID" | tee "$TMP/rss.txt"
wait "$PID" || true
python3 - "$TMP/rss.txt" "$TMP/out/load-report.json" <<'PY'
import json, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
rss = [int(r[2]) for r in rows]
r = json.load(open(sys.argv[2]))
steady = rss[len(rss) // 5:] or rss
print(f"emr-harness: {r['requests']} requests in {r['duration_s']:.0f} s ({r['throughput_rps']:.0f}/s); "
      f"RSS max {max(rss)} MB, after warm-up {min(steady)}–{max(steady)} MB")
PY
