# Sourced by the load benchmarks: nginx (one worker, pinned to cpu 1) serving a static FHIR
# Patient at http://127.0.0.1:$PORT/fhir/Patient/example from a temporary directory $TMP,
# stopped and removed on exit. Needs PORT set; sets TMP, NGINX_PID and URL.
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "missing nginx (apt-get install nginx-light)" >&2; exit 2; }
TMP=$(mktemp -d); chmod 755 "$TMP"
cleanup() { [ -n "${NGINX_PID:-}" ] && kill "$NGINX_PID" 2>/dev/null; rm -rf "$TMP"; }
trap cleanup EXIT
mkdir -p "$TMP/www/fhir/Patient" "$TMP/nginx"
cat >"$TMP/www/fhir/Patient/example" <<'JSON'
{"resourceType":"Patient","id":"example","meta":{"versionId":"1","lastUpdated":"2024-01-01T00:00:00Z"},"identifier":[{"use":"usual","system":"urn:oid:1.2.36.146.595.217.0.1","value":"12345"}],"active":true,"name":[{"use":"official","family":"Chalmers","given":["Peter","James"]}],"gender":"male","birthDate":"1974-12-25","address":[{"use":"home","line":["534 Erewhon St"],"city":"PleasantVille","state":"Vic","postalCode":"3999"}]}
JSON
cat >"$TMP/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off; sendfile on; tcp_nodelay on;
    keepalive_requests 100000000; keepalive_timeout 60s;
    client_body_temp_path $TMP/nginx/body; proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi; uwsgi_temp_path $TMP/nginx/uwsgi; scgi_temp_path $TMP/nginx/scgi;
    types { } default_type application/fhir+json;
    server { listen 127.0.0.1:$PORT; root $TMP/www; location / { try_files \$uri =404; } }
}
CONF
taskset -c 1 "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" &
NGINX_PID=$!
sleep 0.5
for p in "$NGINX_PID" $(pgrep -P "$NGINX_PID" || true); do taskset -pc 1 "$p" >/dev/null; done
URL=http://127.0.0.1:$PORT/fhir/Patient/example
printf 'name: get\nsteps:\n  - name: get patient\n    fhir: {path: /Patient/example}\n    expect: {status: 200}\n' >"$TMP/get.yaml"
