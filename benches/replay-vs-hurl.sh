#!/usr/bin/env bash
# Sequential replay speed: emr-harness vs hurl.
#
# 1,000 sequential GET steps, each checking status, a JSON path and a header, against nginx serving a
# static FHIR Patient on 127.0.0.1. Client pinned to core 0, nginx (1 worker) to core 1. Both clients
# are timed by hyperfine in the same run; prints mean ± σ wall time, client CPU (user+sys) and the
# ratio emr-harness/hurl of mean wall time (target: ≤ 1). Exit code 0 whatever the ratio; non-zero
# when a tool is missing or a client fails its checks.
#
# Usage (from the repo root):   bash benches/replay-vs-hurl.sh
# Environment knobs:
#   STEPS=1000 WARMUP=2 RUNS=10 ROUNDS=3 PORT=18080
#                           benchmark size, hyperfine runs per client per round, rounds (the
#                           clients' order alternates between rounds; all runs are pooled), port
#   EMR_HARNESS_BIN=path    use this binary instead of building target/release/emr-harness
#   SKIP_BUILD=1            don't run `cargo build --release` (binary must exist)
#   INSTALL=1               apt-get / cargo install the missing tools (nginx-light, hyperfine, hurl)
#   KEEP_TMP=1              keep the temp dir (fixtures, nginx conf, hyperfine JSON)
#   CLIENT_CPU=0 SERVER_CPU=1
#
# Needs: nginx (Debian nginx-light), hyperfine, hurl 8.0.1, taskset, python3 (results table).
set -euo pipefail

STEPS=${STEPS:-1000}
WARMUP=${WARMUP:-2}
RUNS=${RUNS:-10}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18080}
CLIENT_CPU=${CLIENT_CPU:-0}
SERVER_CPU=${SERVER_CPU:-1}
HURL_VERSION=8.0.1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

# ---------------------------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------------------------
NGINX=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
if [ "${INSTALL:-0}" = 1 ]; then
    if [ -z "$NGINX" ] || ! command -v hyperfine >/dev/null; then
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y libclang-dev libxml2-dev \
            libcurl4-openssl-dev pkg-config nginx-light hyperfine
        NGINX=$(command -v nginx || echo /usr/sbin/nginx)
    fi
    if ! hurl --version 2>/dev/null | grep -q "^hurl $HURL_VERSION"; then
        nice -n 19 cargo install --locked "hurl@$HURL_VERSION"
    fi
fi
missing=()
[ -n "$NGINX" ] || missing+=(nginx)
for t in hyperfine hurl taskset python3; do
    command -v "$t" >/dev/null || missing+=("$t")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "missing: ${missing[*]}" >&2
    echo "install: apt-get update && apt-get install -y libclang-dev libxml2-dev libcurl4-openssl-dev pkg-config nginx-light hyperfine" >&2
    echo "         nice -n 19 cargo install --locked hurl@$HURL_VERSION     (or rerun with INSTALL=1)" >&2
    exit 2
fi
if [ "$(nproc)" -lt 2 ]; then
    echo "warning: fewer than 2 cores; client and server share a core" >&2
    SERVER_CPU=$CLIENT_CPU
fi

if [ -n "${EMR_HARNESS_BIN:-}" ]; then
    EMR=$EMR_HARNESS_BIN
else
    EMR=$ROOT/target/release/emr-harness
    if [ "${SKIP_BUILD:-0}" != 1 ]; then
        nice -n 19 cargo build --release --quiet
    fi
fi
[ -x "$EMR" ] || { echo "no emr-harness binary at $EMR" >&2; exit 2; }

# ---------------------------------------------------------------------------------------------
# Temp dir, cleanup
# ---------------------------------------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/replay-vs-hurl.XXXXXX")
NGINX_PID=
cleanup() {
    if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -QUIT "$NGINX_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
    fi
    if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------
# nginx workers drop root privileges (to `nobody`): the document root must be world-readable.
chmod 755 "$TMP"
mkdir -p "$TMP/www/fhir/Patient" "$TMP/nginx" "$TMP/scn" "$TMP/reports" "$TMP/golden"
cat >"$TMP/www/fhir/Patient/example" <<'JSON'
{
  "resourceType": "Patient",
  "id": "example",
  "meta": { "versionId": "1", "lastUpdated": "2024-01-01T00:00:00Z" },
  "identifier": [
    { "use": "usual", "system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345" }
  ],
  "active": true,
  "name": [
    { "use": "official", "family": "Chalmers", "given": ["Peter", "James"] },
    { "use": "usual", "given": ["Jim"] }
  ],
  "telecom": [
    { "system": "phone", "value": "(03) 5555 6473", "use": "work", "rank": 1 }
  ],
  "gender": "male",
  "birthDate": "1974-12-25",
  "address": [
    { "use": "home", "line": ["534 Erewhon St"], "city": "PleasantVille", "state": "Vic", "postalCode": "3999" }
  ]
}
JSON

cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_requests 100000;
    keepalive_timeout 60s;
    client_body_temp_path $TMP/nginx/body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    types { }
    default_type application/fhir+json;
    server {
        listen 127.0.0.1:$PORT;
        root $TMP/www;
        location / { try_files \$uri =404; }
    }
}
EOF

BASE=http://127.0.0.1:$PORT/fhir
URL=$BASE/Patient/example
{
    echo "name: bench-replay"
    echo "steps:"
    for i in $(seq 1 "$STEPS"); do
        cat <<EOF
  - name: get $i
    fhir: { path: /Patient/example }
    expect:
      status: 200
      headers: { Content-Type: { contains: json } }
      jsonpath: { "\$.id": example }
EOF
    done
} >"$TMP/scn/bench.yaml"
{
    for i in $(seq 1 "$STEPS"); do
        cat <<EOF
GET $URL
HTTP 200
[Asserts]
header "Content-Type" contains "json"
jsonpath "\$.id" == "example"

EOF
    done
} >"$TMP/bench.hurl"

# ---------------------------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------------------------
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    echo "port $PORT is already in use; set PORT=..." >&2
    exit 2
fi
taskset -c "$SERVER_CPU" "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" &
NGINX_PID=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    kill -0 "$NGINX_PID" 2>/dev/null || { cat "$TMP/nginx/error.log" >&2; exit 2; }
    sleep 0.05
done
# Every nginx process (master + worker) on the server core.
for p in "$NGINX_PID" $(pgrep -P "$NGINX_PID" || true); do taskset -pc "$SERVER_CPU" "$p" >/dev/null; done

# ---------------------------------------------------------------------------------------------
# Sanity: both clients pass, and do exactly STEPS requests
# ---------------------------------------------------------------------------------------------
EMR_CMD="taskset -c $CLIENT_CPU $EMR run $TMP/scn/bench.yaml --target $BASE --quiet --golden $TMP/golden --out-dir $TMP/reports"
HURL_CMD="taskset -c $CLIENT_CPU hurl --test --no-color $TMP/bench.hurl"

rc=0; $EMR_CMD >"$TMP/emr.out" 2>&1 || rc=$?
if [ "$rc" != 0 ]; then
    echo "emr-harness run failed (exit $rc):" >&2; head -c 3000 "$TMP/emr.out" >&2; exit 1
fi
rc=0; $HURL_CMD >"$TMP/hurl.out" 2>&1 || rc=$?
if [ "$rc" != 0 ]; then
    echo "hurl --test failed (exit $rc):" >&2; tail -c 3000 "$TMP/hurl.out" >&2; exit 1
fi
EMR_STEPS=$("$EMR" run "$TMP/scn/bench.yaml" --target "$BASE" --golden "$TMP/golden" \
    --out-dir "$TMP/reports" --format json --quiet >/dev/null 2>&1 \
    && python3 -c 'import json,sys
r=json.load(open(sys.argv[1]))
print(sum(1 for s in r["scenarios"] for st in s["steps"] if st["status"]=="passed"))' \
    "$TMP/reports/emr-harness-report.json" 2>/dev/null || echo "?")
HURL_REQS=$(grep -c '^GET ' "$TMP/bench.hurl")

# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------
echo "emr-harness $("$EMR" --version | awk '{print $2}') ($EMR)"
echo "$(hurl --version | head -1)"
echo "nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'), 1 worker on cpu $SERVER_CPU; clients on cpu $CLIENT_CPU"
echo "$STEPS sequential GETs each (emr-harness passed steps: $EMR_STEPS, hurl entries: $HURL_REQS)"
echo

# hyperfine times one command's runs back to back; on a shared VM the machine's speed drifts, so
# do ROUNDS rounds, alternating which client goes first, and pool the runs.
for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then
        order=(-n emr-harness "$EMR_CMD" -n hurl "$HURL_CMD")
    else
        order=(-n hurl "$HURL_CMD" -n emr-harness "$EMR_CMD")
    fi
    hyperfine --warmup "$WARMUP" --runs "$RUNS" --style basic --shell=none \
        --export-json "$TMP/hyperfine-$r.json" "${order[@]}" >"$TMP/hyperfine-$r.txt" 2>&1 \
        || { cat "$TMP/hyperfine-$r.txt" >&2; exit 1; }
done

python3 - "$STEPS" "$TMP"/hyperfine-*.json <<'PY'
import json, statistics, sys
steps = int(sys.argv[1])
rounds = [{r["command"]: r for r in json.load(open(f))["results"]} for f in sys.argv[2:]]
names = ("emr-harness", "hurl")
pooled = {}
for n in names:
    times = [t for rd in rounds for t in rd[n]["times"]]
    # hyperfine reports mean user/system per round; weight by the round's run count.
    runs = [len(rd[n]["times"]) for rd in rounds]
    user = sum(rd[n]["user"] * k for rd, k in zip(rounds, runs)) / sum(runs)
    system = sum(rd[n]["system"] * k for rd, k in zip(rounds, runs)) / sum(runs)
    pooled[n] = dict(mean=statistics.mean(times), sd=statistics.stdev(times) if len(times) > 1 else 0.0,
                     median=statistics.median(times), min=min(times), max=max(times),
                     user=user, system=system, n=len(times))
print(f"{len(rounds)} round(s) x {pooled['hurl']['n'] // len(rounds)} runs per client, pooled")
print(f"{'client':<12} {'wall mean ± σ (ms)':>20} {'median':>8} {'min..max (ms)':>16} "
      f"{'user':>7} {'sys':>7} {'user+sys':>9} {'µs/step':>8}")
for n in names:
    p = pooled[n]
    print(f"{n:<12} {p['mean']*1e3:>11.1f} ± {p['sd']*1e3:>6.1f} {p['median']*1e3:>8.1f} "
          f"{p['min']*1e3:>7.1f}..{p['max']*1e3:<7.1f} {p['user']*1e3:>7.1f} {p['system']*1e3:>7.1f} "
          f"{(p['user']+p['system'])*1e3:>9.1f} {p['mean']*1e6/steps:>8.1f}")
e, h = pooled["emr-harness"], pooled["hurl"]
ratio = e["mean"] / h["mean"]
per_round = [rd["emr-harness"]["mean"] / rd["hurl"]["mean"] for rd in rounds]
print()
print(f"ratio emr-harness/hurl, mean wall:   {ratio:.3f}   "
      f"({'OK: target <= 1' if ratio <= 1 else 'SLOWER than hurl: target <= 1'})")
print(f"  per round:                        {'  '.join(f'{x:.3f}' for x in per_round)}")
print(f"ratio emr-harness/hurl, median wall: {e['median'] / h['median']:.3f}")
print(f"ratio emr-harness/hurl, client cpu:  {(e['user'] + e['system']) / (h['user'] + h['system']):.3f}")
PY
