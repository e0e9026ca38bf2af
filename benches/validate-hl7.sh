#!/usr/bin/env bash
# `validate hl7` throughput against hl7apy's strict validation, on the same messages, in one run
# (issue 14: ≥ 50 MB/s and ≥ 100× hl7apy).
#
# The corpus (tests/fixtures/hl7-corpus, 154 messages, 28 events, v2.2–2.8.1, valid and invalid)
# is split into messages exactly as tools/hl7v2-defs/hl7apy_check.py does, then written COPIES
# times into one file, so that emr-harness is timed as a user runs it (process start, definitions
# load, reading, splitting, validating, printing every finding) on enough bytes that start-up
# doesn't dominate. hl7apy is timed in-process on one copy (best of 3 rounds), which favours it.
#
# Usage: bash benches/validate-hl7.sh      (COPIES=40; needs .venv-targets from .ci/targets.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${EMR_HARNESS_BIN:-target/release/emr-harness}
PY=${PYTHON:-.venv-targets/bin/python}
COPIES=${COPIES:-40}
[ -x "$BIN" ] || cargo build --release --quiet
if ! "$PY" -c 'import hl7apy' 2> /dev/null; then
    echo "hl7apy not installed: run 'bash .ci/targets.sh start' once (it creates .venv-targets)" >&2
    exit 2
fi
dir=target/bench-validate-hl7
mkdir -p "$dir"
"$PY" - "$dir/corpus.hl7" "$COPIES" <<'PY'
import sys
sys.path.insert(0, "tools/hl7v2-defs")
import hl7apy_check as h
texts = []
for entry in h.load_manifest():
    texts.extend(h.split_messages((h.CORPUS / entry["file"]).read_bytes()))
one = "".join(t + "\r" for t in texts)
with open(sys.argv[1], "w", encoding="utf-8", newline="") as f:
    f.write(one * int(sys.argv[2]))
print(f"corpus: {len(texts)} messages, {len(one.encode())} bytes; file: {sys.argv[2]} copies")
PY
bytes=$(stat -c %s "$dir/corpus.hl7")
best=""
for _ in 1 2 3; do
    start=$(date +%s.%N)
    "$BIN" validate hl7 "$dir/corpus.hl7" > /dev/null 2>&1 || true
    end=$(date +%s.%N)
    t=$(echo "$end - $start" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
done
ours=$(echo "$bytes / $best / 1000000" | bc -l)
printf 'emr-harness validate hl7: %d bytes, best of 3: %.3f s = %.1f MB/s\n' "$bytes" "$best" "$ours"
theirs_line=$("$PY" tools/hl7v2-defs/hl7apy_check.py --bench --rounds 3)
echo "$theirs_line"
theirs=$(echo "$theirs_line" | sed -E 's/.*= ([0-9.]+) MB\/s.*/\1/')
printf 'ratio: %.0fx hl7apy (target: >= 50 MB/s and >= 100x)\n' "$(echo "$ours / $theirs" | bc -l)"
