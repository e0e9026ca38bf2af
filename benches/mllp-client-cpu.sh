#!/usr/bin/env bash
# MLLP client cost (issue 14): CPU per round trip of our MllpClient, the one `run` and `load` use,
# against a raw ping-pong client (plain TCP: write one frame, read to the end block, nothing else),
# both on the same trivial ACK server (benches/hl7.rs `serve-ack`: answers AA naming MSH-10), in
# the same run, on 1 and on 8 connections. Server on cpu 1, client on cpu 0, separate processes;
# CPU is the client thread's scheduler time, so neither the server nor the wait is counted.
# Three interleaved rounds per connection count; the median ratio is the figure (target ≤ 1.25).
# Then the sandbox listener's rate, with no target (benches/mllp-rate.sh).
#
# Usage: bash benches/mllp-client-cpu.sh      (N=50000 messages per measurement)
set -euo pipefail
cd "$(dirname "$0")/.."
APORT=${APORT:-12577}
BENCH=$(cargo bench --bench hl7 --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "hl7":
        print(m["executable"])' | tail -1)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
taskset -c 1 "$BENCH" serve-ack "127.0.0.1:$APORT" > /dev/null & pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$APORT") 2>/dev/null && break; sleep 0.1; done
taskset -c 0 "$BENCH" client-cpu "127.0.0.1:$APORT" | grep -v "round trips/s"
echo "--- sandbox listener rate (no target)"
CONNS="1 8" bash benches/mllp-rate.sh | grep -E "sandbox|raw|ratio"
