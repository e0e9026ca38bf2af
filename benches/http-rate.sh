#!/usr/bin/env bash
# HTTP rate and client cost: emr-harness's load driver at max rate (closed model, N users, no
# think time, checks off) replaying one GET step, against wrk and oha with the same connection
# count, against nginx serving a static FHIR Patient. nginx (1 worker) on cpu 1, clients on cpu 0.
# Reports requests/s and client CPU (user+sys) per request, and both as ratios to wrk.
#
# Usage: bash benches/http-rate.sh       (CONNS="16 64" SECS=10 RUNS=3 PORT=18081)
# On a shared machine single runs vary by ±10%: RUNS repeats the whole set (interleaved, so a
# slow minute hits every client) and the last table gives the median of each ratio.
# Needs: nginx (nginx-light), wrk, oha (cargo install --locked oha), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${CONNS:-"16 64"}
SECS=${SECS:-10}
RUNS=${RUNS:-3}
PORT=${PORT:-18081}
BIN=${EMR_HARNESS_BIN:-target/release/emr-harness}
export PATH="$HOME/.cargo/bin:$PATH"
[ -x "$BIN" ] || cargo build --release --quiet
for t in wrk oha; do command -v $t >/dev/null || [ -x /usr/sbin/$t ] || { echo "missing $t" >&2; exit 2; }; done
source benches/nginx-fixture.sh

measure() { # label, command... → prints "label rps cpu_seconds"
    local label=$1; shift
    local out
    out=$( { /usr/bin/time -f "TIME %U %S" taskset -c 0 "$@" ; } 2>&1 )
    echo "$out" > "$TMP/$label.out"
    echo "$out" | grep -o 'TIME [0-9.]* [0-9.]*' | tail -1 | awk -v l="$label" '{print l, $2 + $3}'
}
results=()
for run in $(seq "$RUNS"); do
for c in $CONNS; do
    printf 'name: rate\nscenarios: [{path: get.yaml}]\nmodel: closed\nusers: %s\nduration: %ss\nchecks: false\n' "$c" "$SECS" > "$TMP/p$c.yaml"
    w=$(measure "wrk-$c" wrk -t1 -c"$c" -d"${SECS}s" "$URL")
    wr=$(grep 'Requests/sec' "$TMP/wrk-$c.out" | awk '{print $2}')
    wn=$(grep 'requests in' "$TMP/wrk-$c.out" | awk '{print $1}')
    o=$(measure "oha-$c" oha -c "$c" -z "${SECS}s" --no-tui --output-format json "$URL")
    orps=$(python3 -c 'import json,sys; t=open(sys.argv[1]).read(); t=t[t.index("{"):t.rindex("}")+1]; print(json.loads(t)["summary"]["requestsPerSec"])' "$TMP/oha-$c.out")
    e=$(measure "emr-$c" "$BIN" load "$TMP/p$c.yaml" --target "http://127.0.0.1:$PORT/fhir" --format json --out-dir "$TMP/emr-$c" --quiet)
    er=$(python3 -c "import json; r=json.load(open('$TMP/emr-$c/load-report.json')); print(r['throughput_rps'], r['requests'], r['errors'])")
    results+=("$c|$w|$wr|$wn|$o|$orps|$e|$er")
done
done
python3 - "$SECS" "${results[@]}" <<'PY'
import sys
secs = float(sys.argv[1])
ratios = {}
print(f"{'conns':>5} {'client':<12} {'req/s':>10} {'CPU µs/req':>11} {'rate/wrk':>9} {'cpu/wrk':>8}")
for row in sys.argv[2:]:
    c, w, wr, wn, o, orps, e, er = row.split("|")
    wcpu = float(w.split()[1]); ocpu = float(o.split()[1]); ecpu = float(e.split()[1])
    wr = float(wr); orps = float(orps)
    erps, ereq, eerr = er.split()
    erps = float(erps); ereq = int(ereq)
    wreq = wr * secs
    wus = wcpu / wreq * 1e6; ous = ocpu / (orps * secs) * 1e6; eus = ecpu / ereq * 1e6
    for name, rps, us in (("wrk", wr, wus), ("oha", orps, ous), ("emr-harness", erps, eus)):
        print(f"{c:>5} {name:<12} {rps:>10.0f} {us:>11.2f} {rps / wr:>9.3f} {us / wus:>8.3f}")
    if int(eerr):
        print(f"      emr-harness errors: {eerr}")
    for name, rps, us in (("oha", orps, ous), ("emr-harness", erps, eus)):
        ratios.setdefault((c, name), []).append((rps / wr, us / wus))
if ratios:
    print(f"\nmedian of {len(next(iter(ratios.values())))} runs (each against wrk in the same run)")
    print(f"{'conns':>5} {'client':<12} {'rate/wrk':>9} {'cpu/wrk':>8}   cpu/wrk per run")
    for (c, name), rs in ratios.items():
        med = lambda xs: sorted(xs)[len(xs) // 2]
        runs = " ".join(f"{cpu:.2f}" for _, cpu in rs)
        print(f"{c:>5} {name:<12} {med([r for r, _ in rs]):>9.3f} {med([u for _, u in rs]):>8.3f}   {runs}")
PY
