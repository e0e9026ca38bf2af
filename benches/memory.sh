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
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
TMP=$(mktemp -d); chmod 755 "$TMP"
cleanup() { [ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
mkdir -p "$TMP/www/fhir/Patient" "$TMP/nginx"
echo '{"resourceType":"Patient","id":"example","active":true,"name":[{"family":"Chalmers","given":["Peter"]}],"gender":"male","birthDate":"1974-12-25"}' >"$TMP/www/fhir/Patient/example"
cat >"$TMP/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off; keepalive_requests 100000000; keepalive_timeout 60s;
    client_body_temp_path $TMP/nginx/body; proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi; uwsgi_temp_path $TMP/nginx/uwsgi; scgi_temp_path $TMP/nginx/scgi;
    types { } default_type application/fhir+json;
    server { listen 127.0.0.1:$PORT; root $TMP/www; location / { try_files \$uri =404; } }
}
CONF
taskset -c 1 "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" &
NGINX_PID=$!
sleep 0.5
printf 'name: get\nsteps:\n  - name: get patient\n    fhir: {path: /Patient/example}\n    expect: {status: 200}\n' >"$TMP/get.yaml"
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
taskset -c 0 wrk -t1 -c"$USERS" -d"$((SECS < 60 ? SECS : 60))s" "http://127.0.0.1:$PORT/fhir/Patient/example" >/dev/null &
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
