#!/usr/bin/env bash
# MLLP rate: round trips per second on 1 and 8 connections against the sandbox listener (as
# shipped: `emr-harness sandbox`) vs a raw TCP ping-pong (plain client writing one frame and reading
# until the end block) against an echo of the same frames. Servers on cpu 1, clients on cpu 0, in
# separate processes, so neither side steals the other's core. The sandbox's clients are our
# MllpClient (the load driver's), each waiting for its ACK before the next message.
#
# Usage: bash benches/mllp-rate.sh        (N=50000 messages per measurement)
set -euo pipefail
cd "$(dirname "$0")/.."
EPORT=${EPORT:-12576}
MPORT=${MPORT:-12575}
HPORT=${HPORT:-18090}
BIN=${EMR_HARNESS_BIN:-target/release/emr-harness}
[ -x "$BIN" ] || cargo build --release --quiet
BENCH=$(cargo bench --bench hl7 --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "hl7":
        print(m["executable"])' | tail -1)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
taskset -c 1 "$BENCH" serve-echo "127.0.0.1:$EPORT" > /dev/null & pids+=($!)
taskset -c 1 "$BIN" sandbox --bind "127.0.0.1:$HPORT" --mllp-bind "127.0.0.1:$MPORT" 2> /dev/null & pids+=($!)
for port in "$EPORT" "$MPORT"; do
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done
taskset -c 0 "$BENCH" pinned "127.0.0.1:$EPORT" "127.0.0.1:$MPORT"
