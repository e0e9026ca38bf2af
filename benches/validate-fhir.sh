#!/usr/bin/env bash
# `validate` throughput on FHIR R4 JSON (issue 15: >= 100 MB/s on base R4), with the process
# started once on a few thousand resources, against npm `fhir` 4.12.0's validator on the same
# resources in the same run.
#
# Corpus: the 88 spec examples (tests/fixtures/fhir-examples-r4) and the 21 US Core 5.0.1 examples,
# minified into NDJSON and repeated (REPEAT, default 40: 3,520 and 840 resources). Timed as a user
# runs it: `emr-harness validate -q FILE.ndjson`, best of 3. Start-up (reading the embedded
# definitions) is timed alone on one small resource and reported; the rate without it is
# bytes / (time - start-up). npm fhir is timed in-process by tools/fhir-crosscheck/crosscheck.js
# (JSON.parse + validate), which favours it (no start-up, no file reading).
#
# Usage: bash benches/validate-fhir.sh     (needs Node.js 20 + npm for the comparison)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${EMR_HARNESS_BIN:-target/release/emr-harness}
REPEAT=${REPEAT:-40}
[ -x "$BIN" ] || cargo build --release --quiet
dir=target/bench-validate-fhir
mkdir -p "$dir"
python3 - "$dir" "$REPEAT" <<'PY'
import json, pathlib, sys
out, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
def ndjson(folder, name, times):
    lines = [json.dumps(json.loads(p.read_text()), separators=(",", ":"))
             for p in sorted(pathlib.Path(folder).glob("*.json"))]
    (out / name).write_text("\n".join(lines * times) + "\n")
    print(f"{name}: {len(lines) * times} resources, {(out / name).stat().st_size / 1e6:.1f} MB")
ndjson("tests/fixtures/fhir-examples-r4", "base.ndjson", n)
ndjson("tests/fixtures/us-core-5.0.1/examples", "uscore.ndjson", n)
(out / "one.ndjson").write_text('{"resourceType":"Patient","id":"a"}\n')
PY
best() {
    local b=""
    for _ in 1 2 3; do
        local s e t
        s=$(date +%s.%N)
        "$BIN" validate -q "$@" > /dev/null 2>&1 || true
        e=$(date +%s.%N)
        t=$(echo "$e - $s" | bc -l)
        if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
    done
    echo "$b"
}
startup=$(best "$dir/one.ndjson")
printf 'start-up (definitions read, one resource): %.3f s\n' "$startup"
report() {
    local label=$1 file=$2; shift 2
    local bytes t
    bytes=$(stat -c %s "$file")
    t=$(best "$@" "$file")
    printf '%-44s %6.1f MB/s  (%.3f s; %.1f MB/s without start-up)\n' "$label" \
        "$(echo "$bytes / $t / 1000000" | bc -l)" "$t" "$(echo "$bytes / ($t - $startup) / 1000000" | bc -l)"
}
report "emr-harness, base R4, spec examples:" "$dir/base.ndjson"
report "emr-harness, base R4, US Core examples:" "$dir/uscore.ndjson"
report "emr-harness, + US Core 5.0.1 profiles:" "$dir/uscore.ndjson" --ig hl7.fhir.us.core#5.0.1
if command -v node > /dev/null; then
    [ -d tools/fhir-crosscheck/node_modules ] || npm ci --prefix tools/fhir-crosscheck --silent
    node tools/fhir-crosscheck/crosscheck.js --bench --seconds 5 tests/fixtures/fhir-examples-r4 \
        | grep -E "^fhir .*JSON.parse|resources,"
else
    echo "npm fhir: skipped (node not on PATH)"
fi
