#!/usr/bin/env bash
# Third-party test targets for emr-harness (see shared/TARGETS.md): the SEKMET FHIR R4 server, a
# python-hl7 MLLP ACK peer (tests/peers/hl7_ack_server.py) and an hl7apy MLLP peer that closes the
# connection after every message (tests/peers/hl7apy_server.py). Everything listens on 127.0.0.1.
#
# Run:     bash .ci/targets.sh install|start|stop|reset|status
#          vars="$(bash .ci/targets.sh start)" || exit 1; export $vars   # start prints only KEY=VALUE
#          lines on stdout (log lines go to stderr); `eval "$(...)"` alone would hide a failed start
# Source:  source .ci/targets.sh; targets_install; targets_start (exports the variables); ...; targets_stop
#          (sourcing defines functions only; it never sets -e or exits the calling shell)
#
# Env:     SEKMET_PORT (8090), HL7_PEER_PORT (2575), HL7APY_PEER_PORT (2577), TARGETS_READY_TIMEOUT (60 s),
#          TARGETS_STATE_DIR (default /tmp/emr-harness-targets-<uid>-<hash of repo path>), PYTHON (python3)
# State:   $TARGETS_STATE_DIR/{settings.yaml,data/,sekmet.log,hl7-peer.log,pids,env}
# Install: .venv-targets/ at the repo root (not tracked; ignore it in .gitignore).

TARGETS_REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGETS_VENV="$TARGETS_REPO_ROOT/.venv-targets"
TARGETS_SEKMET_VERSION="0.1.1"
TARGETS_HL7_VERSION="0.4.5"
TARGETS_HL7APY_VERSION="1.3.5"
# Exact versions of every dependency, as resolved and checked on 2026-11-25 (Python 3.11). Keeps a
# fresh machine identical to the one these notes were written on; bump together with the two above.
TARGETS_CONSTRAINTS="annotated-doc==0.0.7
annotated-types==0.8.0
antlr4-python3-runtime==4.13.2
anyio==4.16.0
certifi==2026.10.19.post1
cffi==2.1.1
click==8.5.1
cryptography==50.0.2
Faker==40.63.0
fastapi==0.165.0
fhir_core==1.1.12
fhir.resources==8.3.0
fhirpathpy==2.2.4
h11==0.16.0
hl7apy==1.3.5
httpcore==1.0.9
httptools==0.9.0
httpx==0.28.1
idna==3.20
Jinja2==3.1.6
jsonpatch==1.48
jsonpointer==3.12
lxml==6.1.3
markdown-it-py==4.3.0
MarkupSafe==3.0.4
mdurl==0.1.2
opentelemetry-api==1.45.2
pycparser==3.12
pydantic==2.14.4
pydantic_core==2.50.5
Pygments==2.21.0
PyJWT==2.15.1
python-dateutil==2.9.0.post0
python-dotenv==1.2.4
python-multipart==0.0.34
PyYAML==6.0.4
rich==15.0.0
shellingham==1.5.4
six==1.17.0
starlette==1.10.0
typer==0.29.2
typing_extensions==4.16.0
typing-inspection==0.4.5
uvicorn==0.54.0
uvloop==0.23.0
watchfiles==1.3.0
websockets==17.4"

_targets_log() { echo "targets: $*" >&2; }
_targets_fail() { echo "targets: ERROR: $*" >&2; return 1; }

_targets_state_dir() {
    if [[ -n "${TARGETS_STATE_DIR:-}" ]]; then
        echo "$TARGETS_STATE_DIR"
    else
        echo "${TMPDIR:-/tmp}/emr-harness-targets-$(id -u)-$(printf '%s' "$TARGETS_REPO_ROOT" | cksum | cut -d' ' -f1)"
    fi
}

_targets_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Running and not a zombie (PID 1 on these machines reaps orphans only every second or two).
_targets_alive() {
    [[ -n "$1" ]] && kill -0 "$1" 2>/dev/null || return 1
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
    stat="${stat##*) }"
    [[ "${stat%% *}" != Z ]]
}

# $1 is still the process we started (guards against a stale pid file and a reused PID).
_targets_ours() {
    local marker
    case "$2" in
        sekmet) marker="sekmet" ;; hl7-peer) marker="hl7_ack_server.py" ;; hl7apy-peer) marker="hl7apy_server.py" ;;
        *) return 1 ;;
    esac
    [[ -r "/proc/$1/cmdline" ]] || return 0
    tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$marker"
}

_targets_installed() {
    [[ -x "$TARGETS_VENV/bin/sekmet" && -x "$TARGETS_VENV/bin/python" ]] || return 1
    "$TARGETS_VENV/bin/python" - "$TARGETS_SEKMET_VERSION" "$TARGETS_HL7_VERSION" "$TARGETS_HL7APY_VERSION" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
want = tuple(sys.argv[1:4])
sys.exit(0 if (version("sekmet-fhir"), version("hl7"), version("hl7apy")) == want else 1)
EOF
}

targets_install() {
    if _targets_installed; then
        _targets_log "sekmet-fhir $TARGETS_SEKMET_VERSION, hl7 $TARGETS_HL7_VERSION and hl7apy $TARGETS_HL7APY_VERSION already in $TARGETS_VENV"
        return 0
    fi
    local py="${PYTHON:-python3}" start=$SECONDS constraints
    command -v "$py" >/dev/null || { _targets_fail "$py not found"; return 1; }
    if [[ ! -x "$TARGETS_VENV/bin/python" ]]; then
        _targets_log "creating $TARGETS_VENV with $("$py" --version 2>&1)"
        "$py" -m venv "$TARGETS_VENV" || { _targets_fail "python3 -m venv failed (apt-get install -y python3-venv?)"; return 1; }
    fi
    constraints="$(mktemp)"
    printf '%s\n' "$TARGETS_CONSTRAINTS" >"$constraints"
    _targets_log "pip install sekmet-fhir==$TARGETS_SEKMET_VERSION hl7==$TARGETS_HL7_VERSION hl7apy==$TARGETS_HL7APY_VERSION"
    if ! "$TARGETS_VENV/bin/pip" install --disable-pip-version-check -q -c "$constraints" \
            "sekmet-fhir==$TARGETS_SEKMET_VERSION" "hl7==$TARGETS_HL7_VERSION" \
            "hl7apy==$TARGETS_HL7APY_VERSION" >&2; then
        rm -f "$constraints"
        _targets_fail "pip install failed"; return 1
    fi
    rm -f "$constraints"
    _targets_installed || { _targets_fail "installed, but version check failed"; return 1; }
    _targets_log "installed in $((SECONDS - start)) s"
}

# Wait until "$@" succeeds; fail early if process $pid exits. Prints the log tail on failure.
_targets_wait() {
    local what="$1" pid="$2" log="$3" timeout="$4"; shift 4
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        if ! _targets_alive "$pid"; then
            _targets_fail "$what (pid $pid) exited before it was ready; last lines of $log:"
            tail -n 40 "$log" >&2; return 1
        fi
        if ((SECONDS >= deadline)); then
            _targets_fail "$what not ready after ${timeout} s; last lines of $log:"
            tail -n 40 "$log" >&2; return 1
        fi
        sleep 0.2
    done
}

# Start "$@" in the background in its own session (it outlives this script and the caller's Ctrl-C),
# cwd $1, output to $2; print the PID of the program itself (not of a wrapper).
_targets_spawn() {
    local dir="$1" log="$2" pidfile i; shift 2
    pidfile="$(mktemp)"
    (cd "$dir" && exec setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >"$log" 2>&1 &)
    for ((i = 0; i < 100; i++)); do [[ -s "$pidfile" ]] && break; sleep 0.05; done
    if [[ ! -s "$pidfile" ]]; then rm -f "$pidfile"; _targets_fail "could not start $1"; return 1; fi
    cat "$pidfile"; rm -f "$pidfile"
}

_targets_sekmet_ready() { curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$1/fhir/metadata"; }

targets_start() {
    local sekmet_port="${SEKMET_PORT:-8090}" hl7_port="${HL7_PEER_PORT:-2575}" timeout="${TARGETS_READY_TIMEOUT:-60}"
    local apy_port="${HL7APY_PEER_PORT:-2577}"
    local state start=$SECONDS sekmet_pid hl7_pid apy_pid p
    state="$(_targets_state_dir)"
    for p in "$sekmet_port" "$hl7_port" "$apy_port" "$timeout"; do
        [[ "$p" =~ ^[0-9]+$ ]] || { _targets_fail "not a number: '$p' (SEKMET_PORT, HL7_PEER_PORT, HL7APY_PEER_PORT, TARGETS_READY_TIMEOUT)"; return 1; }
    done
    _targets_installed || { _targets_fail "targets not installed: run 'bash .ci/targets.sh install' first"; return 1; }
    command -v curl >/dev/null || { _targets_fail "curl not found"; return 1; }
    [[ -f "$state/pids" ]] && targets_stop
    for p in "$sekmet_port" "$hl7_port" "$apy_port"; do
        if _targets_port_open "$p"; then
            _targets_fail "port 127.0.0.1:$p is already in use:"; ss -ltnp "sport = :$p" >&2 2>/dev/null; return 1
        fi
    done
    rm -rf "$state" && mkdir -p "$state/data" || { _targets_fail "cannot create $state"; return 1; }
    cat >"$state/settings.yaml" <<EOF
host: 127.0.0.1
port: $sekmet_port
base_url: http://127.0.0.1:$sekmet_port/fhir
data_dir: $state/data
simulator: {enabled: false}
log_inbound: false
EOF
    # SEKMET resolves ./scenarios, ./keys and ./reports against its working directory: run it in $state.
    sekmet_pid="$(_targets_spawn "$state" "$state/sekmet.log" env SEKMET_PORT="$sekmet_port" \
        "$TARGETS_VENV/bin/sekmet" serve -c "$state/settings.yaml" --host 127.0.0.1 --port "$sekmet_port")" || return 1
    hl7_pid="$(_targets_spawn "$state" "$state/hl7-peer.log" \
        "$TARGETS_VENV/bin/python" "$TARGETS_REPO_ROOT/tests/peers/hl7_ack_server.py" 127.0.0.1 "$hl7_port")" || {
        kill -TERM "$sekmet_pid" 2>/dev/null; return 1; }
    apy_pid="$(_targets_spawn "$state" "$state/hl7apy-peer.log" \
        "$TARGETS_VENV/bin/python" "$TARGETS_REPO_ROOT/tests/peers/hl7apy_server.py" 127.0.0.1 "$apy_port")" || {
        kill -TERM "$sekmet_pid" "$hl7_pid" 2>/dev/null; return 1; }
    printf 'sekmet %s\nhl7-peer %s\nhl7apy-peer %s\n' "$sekmet_pid" "$hl7_pid" "$apy_pid" >"$state/pids"
    _targets_log "sekmet pid $sekmet_pid (log $state/sekmet.log), hl7 peer pid $hl7_pid (log $state/hl7-peer.log), hl7apy peer pid $apy_pid (log $state/hl7apy-peer.log)"

    if ! _targets_wait "SEKMET on 127.0.0.1:$sekmet_port" "$sekmet_pid" "$state/sekmet.log" "$timeout" \
            _targets_sekmet_ready "$sekmet_port" ||
       ! _targets_wait "HL7 peer on 127.0.0.1:$hl7_port" "$hl7_pid" "$state/hl7-peer.log" "$timeout" \
            _targets_port_open "$hl7_port" ||
       ! _targets_wait "hl7apy peer on 127.0.0.1:$apy_port" "$apy_pid" "$state/hl7apy-peer.log" "$timeout" \
            _targets_port_open "$apy_port"; then
        targets_stop; return 1
    fi
    _targets_log "ready in $((SECONDS - start)) s"
    printf 'EMR_HARNESS_SEKMET_URL=http://127.0.0.1:%s/fhir\nEMR_HARNESS_HL7_PEER=127.0.0.1:%s\nEMR_HARNESS_HL7APY_PEER=127.0.0.1:%s\n' \
        "$sekmet_port" "$hl7_port" "$apy_port" | tee "$state/env"
    export EMR_HARNESS_SEKMET_URL="http://127.0.0.1:$sekmet_port/fhir" EMR_HARNESS_HL7_PEER="127.0.0.1:$hl7_port" \
        EMR_HARNESS_HL7APY_PEER="127.0.0.1:$apy_port"
}

targets_stop() {
    local state name pid i
    state="$(_targets_state_dir)"
    [[ -f "$state/pids" ]] || { _targets_log "nothing to stop (no $state/pids)"; return 0; }
    while read -r name pid; do
        _targets_alive "$pid" || continue
        _targets_ours "$pid" "$name" || { _targets_log "pid $pid is no longer $name; not killing it"; continue; }
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < 50; i++)); do _targets_alive "$pid" || break; sleep 0.1; done
        if _targets_alive "$pid"; then kill -KILL "$pid" 2>/dev/null; _targets_log "killed $name (pid $pid) with SIGKILL"
        else _targets_log "stopped $name (pid $pid)"; fi
    done <"$state/pids"
    rm -f "$state/pids"
}

# Wipes every SEKMET resource, history version, search-index row and traffic-log row. Works while the
# server runs (same SQLite file, WAL); no restart needed. The built-in SubscriptionTopic Basic resources
# are re-seeded by the server lazily, so searches for Basic may show them again.
targets_reset() {
    local state
    state="$(_targets_state_dir)"
    [[ -f "$state/settings.yaml" ]] || { _targets_fail "no $state/settings.yaml: start the targets first"; return 1; }
    (cd "$state" && "$TARGETS_VENV/bin/sekmet" reset --yes -c "$state/settings.yaml" >&2) ||
        { _targets_fail "sekmet reset failed"; return 1; }
}

targets_status() {
    local state name pid
    state="$(_targets_state_dir)"
    [[ -f "$state/pids" ]] || { echo "not running (state dir $state)"; return 1; }
    while read -r name pid; do
        if _targets_alive "$pid"; then echo "$name pid $pid running"; else echo "$name pid $pid DEAD"; fi
    done <"$state/pids"
    [[ -f "$state/env" ]] && cat "$state/env"
}

targets_main() {
    case "${1:-}" in
        install | start | stop | reset | status) "targets_$1" ;;
        *) echo "usage: $0 install|start|stop|reset|status" >&2; return 2 ;;
    esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
    set -uo pipefail
    targets_main "$@"
    exit $?
fi
