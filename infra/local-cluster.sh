#!/usr/bin/env bash
# infra/local-cluster.sh — a throw-away "cluster" on 127.0.0.1 to rehearse cluster runs.
#
#   eval "$(infra/local-cluster.sh up)"   # start everything, export RAY_ADDRESS & co.
#   infra/local-cluster.sh status         # one line per component: alive / dead
#   infra/local-cluster.sh stop-worker [--kill]   # stop the second Ray node (TERM, or KILL)
#   infra/local-cluster.sh start-worker   # start it again (joins the head as a new node)
#   infra/local-cluster.sh stop-mlflow | start-mlflow | restart-mlflow [SECONDS_DOWN]
#   infra/local-cluster.sh env            # print the export lines again
#   infra/local-cluster.sh down           # stop what `up` started, remove its data
#
# What `up` starts, every server bound to 127.0.0.1 and on ports picked free at start:
#   1. PostgreSQL (Debian package `postgresql`, apt-get installed if absent): a fresh cluster
#      initdb'ed into the cluster dir, run as the `postgres` user when we are root (postgres
#      refuses to run as root); database and role `synprune`, password auth.
#   2. An MLflow tracking server backed by it (`python -m mlflow server`, with the python of the
#      active venv, i.e. the `python` on PATH or $SYNPRUNE_PYTHON), artifacts proxied by the
#      server (--serve-artifacts) into a local directory.
#   3. A Ray head node and a second Ray worker node joining it (1 CPU each, so the cluster has
#      2 nodes). Both run on this machine: they share the cluster's own Ray temp dir (each node
#      gets its own sockets and logs in it) and every port is given explicitly so they never
#      collide with each other or with anybody else's Ray. Ray token authentication is on, with a
#      token private to this cluster.
#
# Bookkeeping: $SYNPRUNE_CLUSTER_DIR (default /tmp/synprune-cluster) holds the data, the logs
# (logs/) and state.env (mode 600): ports, passwords, and the process ids. Each long-running
# service is started with `setsid`, so it and all its children share one session whose id is
# the recorded *_SID; `down` (and stop-worker / stop-mlflow) signal exactly the members of
# those sessions (TERM, then KILL after a grace period) and PostgreSQL is stopped with
# `pg_ctl stop` on its own data dir. Nothing is found by name: `ray stop` is never used
# because it kills every Ray process on the machine, other people's included.
#
# Environment knobs: SYNPRUNE_CLUSTER_DIR, SYNPRUNE_PYTHON, SYNPRUNE_PG_BIN (dir with initdb,
# pg_ctl), SYNPRUNE_CLUSTER_TIMEOUT (seconds to wait for each service, default 120),
# SYNPRUNE_CLUSTER_OBJECT_STORE_BYTES (per Ray node, default 100 MB). Variables set when `up`
# runs (e.g. SYNPRUNE_DATA_DIR) are inherited by the Ray nodes and so by every trial.
#
# Exposing any of this beyond loopback: see README.md ("Run on a cluster" > "Security").
set -euo pipefail

readonly SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CLUSTER_DIR="$(realpath -m -- "${SYNPRUNE_CLUSTER_DIR:-/tmp/synprune-cluster}")"
readonly CLUSTER_DIR
readonly STATE="$CLUSTER_DIR/state.env"
readonly LOG_DIR="$CLUSTER_DIR/logs"
readonly HOST=127.0.0.1
readonly TIMEOUT="${SYNPRUNE_CLUSTER_TIMEOUT:-120}"
readonly OBJECT_STORE_BYTES="${SYNPRUNE_CLUSTER_OBJECT_STORE_BYTES:-100000000}"
readonly PG_DB=synprune PG_USER=synprune

# ---------------------------------------------------------------- small helpers

log() { printf '[local-cluster] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# The Python that runs MLflow and Ray: the active venv's, unless SYNPRUNE_PYTHON says otherwise.
find_python() {
    local py="${SYNPRUNE_PYTHON:-}"
    [[ -n $py ]] || py="$(command -v python || command -v python3 || true)"
    [[ -n $py ]] || die "no python on PATH (activate the venv or set SYNPRUNE_PYTHON)"
    "$py" -c 'import mlflow, ray, psycopg2' 2>/dev/null \
        || die "$py lacks mlflow, ray or psycopg2 (activate the synprune venv: bash scripts/install.sh)"
    printf '%s\n' "$py"
}

# Print N distinct free TCP ports on 127.0.0.1 and record them in state.env (TAKEN_PORTS).
# A port is only reserved once its server binds it, and servers start seconds after their port
# is picked (MLflow's start-up overlaps Ray's), so two guards keep ports from colliding:
#   * never a port this cluster already handed out (TAKEN_PORTS, read from the file because
#     callers run in subshells), so Ray's head cannot get MLflow's or its own GCS port twice;
#   * ports come from 20000 up to the kernel's ephemeral range (ip_local_port_range), which
#     the kernel never gives to outgoing connections and Ray's worker ports (10002-19999) do
#     not use, so nobody's client socket takes a picked port before its server binds it.
free_ports() {
    local taken="" ports
    [[ -f $STATE ]] && taken="$(source "$STATE" && printf '%s' "${TAKEN_PORTS:-}")"
    ports="$("$PYTHON" - "$1" "$taken" <<'EOF'
import random, socket, sys
n, taken = int(sys.argv[1]), {int(p) for p in sys.argv[2].split()}
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        ephemeral_low = int(f.read().split()[0])
except (OSError, ValueError, IndexError):
    ephemeral_low = 32768
candidates = [p for p in range(20000, ephemeral_low) if p not in taken]
random.shuffle(candidates)
socks, picked = [], []
for port in candidates:
    if len(picked) == n:
        break
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    socks.append(s)
    picked.append(port)
while len(picked) < n:  # no room below the ephemeral range: let the kernel choose
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
    if s.getsockname()[1] not in taken:
        picked.append(s.getsockname()[1])
print(" ".join(map(str, picked)))
for s in socks:
    s.close()
EOF
)" || die "could not pick $1 free ports on $HOST"
    state_set TAKEN_PORTS "${taken:+$taken }$ports"
    printf '%s\n' "$ports"
}

# state.env: KEY=VALUE lines (values shell-quoted); sourced by every subcommand.
state_set() {
    local key=$1 value=$2 tmp
    mkdir -p "$CLUSTER_DIR"
    tmp="$(mktemp "$CLUSTER_DIR/.state.XXXXXX")"
    chmod 600 "$tmp"
    [[ -f $STATE ]] && grep -v "^${key}=" "$STATE" >"$tmp" || true
    printf '%s=%q\n' "$key" "$value" >>"$tmp"
    mv -f "$tmp" "$STATE"
    printf -v "$key" '%s' "$value"   # also set it in this shell
}
load_state() { [[ -f $STATE ]] && source "$STATE"; }
have_state() { [[ -f $STATE ]]; }

# Process state from /proc (no procps needed): sets PROC_STATE and PROC_SID for pid $1, or
# fails if there is no such process. The fields after the parenthesised command name are
# "state ppid pgrp session ...".
proc_info() {
    local line
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
    read -r PROC_STATE _ _ PROC_SID _ <<<"${line##*) }"
}

# Live (non-zombie) members of process session $1.
session_pids() {
    [[ -n ${1:-} ]] || return 0
    local f pid
    for f in /proc/[0-9]*/stat; do
        pid=${f#/proc/}
        pid=${pid%/stat}
        proc_info "$pid" || continue
        [[ $PROC_SID == "$1" && $PROC_STATE != Z ]] && printf '%s\n' "$pid"
    done
    return 0
}
session_alive() { [[ -n $(session_pids "${1:-}") ]]; }

# Is process $1 running (a zombie waiting to be reaped does not count)?
pid_alive() { proc_info "${1:-0}" && [[ $PROC_STATE != Z ]]; }

# Stop every process of session $1: SIGTERM, up to $2 s (default 10) of grace, then SIGKILL.
# $3 = KILL skips the grace period (simulates a crash).
stop_session() {
    local sid=${1:-} grace=${2:-10} signal=${3:-TERM} pids i
    pids="$(session_pids "$sid")"
    [[ -n $pids ]] || return 0
    # shellcheck disable=SC2086  # word splitting of the pid list is intended
    kill "-$signal" $pids 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        session_alive "$sid" || return 0
        sleep 0.1
    done
    pids="$(session_pids "$sid")"
    if [[ -n $pids ]]; then
        log "session $sid still running after ${grace}s; sending SIGKILL to:" $pids
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
    fi
    for ((i = 0; i < 50; i++)); do
        session_alive "$sid" || return 0
        sleep 0.1
    done
    log "warning: session $sid has processes left:" $(session_pids "$sid")
}

# Start "$@" in directory $2 as the leader of a new session, output appended to log file $1.
# Sets LAST_SID to the leader's pid, which is the session id: the subshell is not a process
# group leader (no job control in scripts), so setsid execs the command in place, no fork.
start_session() {
    local logfile=$1 dir=$2
    shift 2
    (cd "$dir" && exec setsid "$@") >>"$logfile" 2>&1 </dev/null &
    LAST_SID=$!
}

# Wait until command "$@" succeeds, up to $TIMEOUT seconds; $1 names what we wait for.
wait_for() {
    local what=$1 deadline=$((SECONDS + TIMEOUT))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || { log "timed out after ${TIMEOUT}s waiting for $what"; return 1; }
        sleep 0.5
    done
}

http_ok() {
    if command -v curl >/dev/null; then
        curl -fsS --max-time 3 "$1" >/dev/null
    else
        "$PYTHON" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)' "$1"
    fi
}

# ---------------------------------------------------------------- PostgreSQL

# Directory holding initdb / pg_ctl / pg_isready / psql; empty if PostgreSQL is not installed.
find_pg_bin() {
    local d
    for d in "${SYNPRUNE_PG_BIN:-}" \
        "$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/x)")" \
        $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        # pg_ctl on PATH may be a symlink (or Debian's pg_wrapper); use its real directory.
        [[ -n $d && -x $d/pg_ctl ]] && d="$(dirname "$(readlink -f "$d/pg_ctl")")"
        if [[ -n $d && -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]]; then
            printf '%s\n' "$d"
            return 0
        fi
    done
}

# apt-get install postgresql, non-interactively, without letting the package start (or keep
# running) its own default cluster: we run our own instance on our own port.
install_postgres() {
    local sudo=() policy=/usr/sbin/policy-rc.d made_policy=0
    command -v apt-get >/dev/null || die "PostgreSQL not found and no apt-get: install the PostgreSQL server and set SYNPRUNE_PG_BIN"
    if [[ $EUID -ne 0 ]]; then
        command -v sudo >/dev/null || die "PostgreSQL not found; install it (apt-get install postgresql) or run as root"
        sudo=(sudo -n)
    fi
    log "PostgreSQL not found: installing the Debian package 'postgresql' (apt-get) ..."
    if [[ ! -e $policy ]]; then
        # policy-rc.d exit 101 = "service start not allowed" (standard for containers/CI).
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
        made_policy=1
    fi
    local rc=0
    {
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
            && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends -o Dpkg::Options::=--force-confdef \
                -o Dpkg::Options::=--force-confold postgresql
    } >>"$LOG_DIR/apt-get.log" 2>&1 || rc=$?
    ((made_policy)) && "${sudo[@]}" rm -f "$policy"
    ((rc == 0)) || die "apt-get install postgresql failed (see $LOG_DIR/apt-get.log)"
}

# Run a PostgreSQL server binary as a non-root user: postgres refuses to run as root.
as_pg() {
    if [[ $EUID -eq 0 ]]; then
        (cd / && runuser -u "$PG_OS_USER" -- "$@")
    else
        "$@"
    fi
}

start_postgres() {
    PG_BIN="$(find_pg_bin)"
    if [[ -z $PG_BIN ]]; then
        install_postgres
        PG_BIN="$(find_pg_bin)"
        [[ -n $PG_BIN ]] || die "PostgreSQL installed but initdb/pg_ctl not found (set SYNPRUNE_PG_BIN)"
    fi
    state_set PG_BIN "$PG_BIN"
    if [[ $EUID -eq 0 ]]; then
        PG_OS_USER=postgres
        id -u "$PG_OS_USER" >/dev/null 2>&1 \
            || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_OS_USER"
    else
        PG_OS_USER="$(id -un)"
    fi
    state_set PG_OS_USER "$PG_OS_USER"

    # The data dir must be reachable by the postgres user; if the cluster dir is not (e.g. it is
    # under /root), keep the PostgreSQL files in a separate temp dir that `down` also removes.
    local pg_root="$CLUSTER_DIR/postgres"
    if [[ $EUID -eq 0 ]] && ! runuser -u "$PG_OS_USER" -- test -x "$CLUSTER_DIR"; then
        pg_root="$(mktemp -d /tmp/synprune-pg.XXXXXX)"
    fi
    mkdir -p "$pg_root/run"
    state_set PG_ROOT "$pg_root"
    state_set PG_DATA "$pg_root/data"

    local port superpass pass
    port="$(free_ports 1)"
    superpass="$("$PYTHON" -c 'import secrets; print(secrets.token_hex(16))')"
    pass="$("$PYTHON" -c 'import secrets; print(secrets.token_hex(16))')"
    state_set PG_PORT "$port"
    state_set PG_SUPERPASS "$superpass"
    state_set PG_PASSWORD "$pass"
    state_set PG_URL "postgresql://$PG_USER:$pass@$HOST:$port/$PG_DB"
    # libpq reads passwords from this file (mode 600), so they never appear in argv or env.
    state_set PGPASSFILE "$CLUSTER_DIR/pgpass"
    (umask 077 && printf '%s:%s:*:%s:%s\n' "$HOST" "$port" postgres "$superpass" \
        "$HOST" "$port" "$PG_USER" "$pass" >"$PGPASSFILE")
    printf '%s\n' "$superpass" >"$pg_root/pwfile"
    [[ $EUID -eq 0 ]] && chown -R "$PG_OS_USER" "$pg_root"
    chmod 700 "$pg_root"

    log "PostgreSQL: initdb in $PG_DATA"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --pwfile="$pg_root/pwfile" \
        --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --no-locale \
        --no-sync --no-instructions >>"$LOG_DIR/postgres-initdb.log" 2>&1 \
        || die "initdb failed (see $LOG_DIR/postgres-initdb.log)"
    rm -f "$pg_root/pwfile"
    touch "$LOG_DIR/postgres.log"
    [[ $EUID -eq 0 ]] && chown "$PG_OS_USER" "$LOG_DIR/postgres.log"

    log "PostgreSQL: starting on $HOST:$port"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$LOG_DIR/postgres.log" -w -t "$TIMEOUT" \
        -o "-c listen_addresses=$HOST -p $port -c unix_socket_directories='$pg_root/run' -c shared_buffers=32MB -c max_connections=60" \
        start >>"$LOG_DIR/postgres-ctl.log" 2>&1 \
        || die "PostgreSQL did not start (see $LOG_DIR/postgres.log)"
    state_set PG_PID "$(head -n 1 "$PG_DATA/postmaster.pid")"
    wait_for "PostgreSQL" "$PG_BIN/pg_isready" -q -h "$HOST" -p "$port"

    # Role + database for MLflow; the SQL goes through stdin, never argv.
    PGPASSFILE="$PGPASSFILE" "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$port" \
        -U postgres -d postgres >>"$LOG_DIR/postgres-ctl.log" 2>&1 <<EOF
CREATE ROLE $PG_USER LOGIN PASSWORD '$pass';
CREATE DATABASE $PG_DB OWNER $PG_USER;
EOF
    log "PostgreSQL: up (pid $PG_PID, database $PG_DB)"
}

stop_postgres() {
    [[ -n ${PG_DATA:-} && -d $PG_DATA ]] || return 0
    if [[ -f $PG_DATA/postmaster.pid ]]; then
        log "PostgreSQL: stopping (pid ${PG_PID:-?})"
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t 30 stop >>"$LOG_DIR/postgres-ctl.log" 2>&1 || true
    fi
    # Belt and braces: the recorded postmaster (and its children) must be gone.
    if [[ -n ${PG_PID:-} ]] && pid_alive "$PG_PID"; then
        log "PostgreSQL: pg_ctl stop failed; killing postmaster $PG_PID"
        kill -KILL "$PG_PID" 2>/dev/null || true
    fi
}

postgres_alive() {
    [[ -n ${PG_PID:-} ]] && pid_alive "$PG_PID" \
        && "$PG_BIN/pg_isready" -q -h "$HOST" -p "$PG_PORT"
}

# ---------------------------------------------------------------- MLflow

# Launch the MLflow server in its own session (returns at once; wait_mlflow waits for it).
launch_mlflow() {
    [[ -n ${MLFLOW_PORT:-} ]] || state_set MLFLOW_PORT "$(free_ports 1)"
    state_set MLFLOW_ARTIFACTS "$CLUSTER_DIR/mlflow-artifacts"
    mkdir -p "$MLFLOW_ARTIFACTS"
    log "MLflow: starting on $HOST:$MLFLOW_PORT (backend PostgreSQL $HOST:$PG_PORT)"
    # No password in the URI: libpq takes it from PGPASSFILE. The server's job runner (GenAI
    # scorer jobs, 7 extra processes) is switched off: sweeps do not use it.
    start_session "$LOG_DIR/mlflow.log" "$CLUSTER_DIR" env PGPASSFILE="$PGPASSFILE" \
        MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false \
        "$PYTHON" -m mlflow server \
        --backend-store-uri "postgresql+psycopg2://$PG_USER@$HOST:$PG_PORT/$PG_DB" \
        --artifacts-destination "$MLFLOW_ARTIFACTS" --serve-artifacts \
        --host "$HOST" --port "$MLFLOW_PORT" --workers 1
    state_set MLFLOW_SID "$LAST_SID"
}

wait_mlflow() {
    if ! wait_for "MLflow /health" http_ok "http://$HOST:$MLFLOW_PORT/health"; then
        tail -n 20 "$LOG_DIR/mlflow.log" >&2 || true
        return 1
    fi
    state_set MLFLOW_PIDS "$(session_pids "$MLFLOW_SID" | tr '\n' ' ')"
    log "MLflow: up (session $MLFLOW_SID)"
}

start_mlflow() { launch_mlflow && wait_mlflow; }

stop_mlflow() {
    [[ -n ${MLFLOW_SID:-} ]] || return 0
    log "MLflow: stopping (session $MLFLOW_SID)"
    stop_session "$MLFLOW_SID" 10
}

mlflow_alive() {
    session_alive "${MLFLOW_SID:-}" && http_ok "http://$HOST:$MLFLOW_PORT/health"
}

# ---------------------------------------------------------------- Ray

# Environment of every Ray process (drivers get the same through the printed exports):
# loopback-only addresses (see infra/ray_loopback.py), this cluster's auth token, and the
# tracking server, so trials on any node log to it.
ray_env() {
    RAY_ENV=(env RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 RAY_AUTH_MODE=token
        RAY_AUTH_TOKEN_PATH="$RAY_AUTH_TOKEN_PATH" RAY_USAGE_STATS_ENABLED=0
        MLFLOW_TRACKING_URI="http://$HOST:$MLFLOW_PORT")
}

alive_ray_nodes() {
    ray_env
    "${RAY_ENV[@]}" timeout 20 "$PYTHON" "$SCRIPT_DIR/ray_loopback.py" alive-nodes \
        "$HOST:$RAY_PORT" 2>/dev/null
}
ray_nodes_are() { [[ "$(alive_ray_nodes)" == "$1" ]]; }

# Flags every node needs: loopback, 1 CPU, no GPU, small object store, explicit free ports.
ray_node_flags() {
    local nm om me al ag re
    read -r nm om me al ag re <<<"$(free_ports 6)"
    printf '%s\n' --node-ip-address "$HOST" --num-cpus 1 --num-gpus 0 \
        --temp-dir "$RAY_TMP" --object-store-memory "$OBJECT_STORE_BYTES" \
        --node-manager-port "$nm" --object-manager-port "$om" --metrics-export-port "$me" \
        --dashboard-agent-listen-port "$al" --dashboard-agent-grpc-port "$ag" \
        --runtime-env-agent-port "$re" --disable-usage-stats
}

start_ray_head() {
    # Ray's unix sockets live under its temp dir and socket paths are limited to ~107 bytes,
    # so the temp dir is short and in /tmp whatever the cluster dir is.
    state_set RAY_TMP "$(mktemp -d /tmp/synprune-ray.XXXXXX)"
    state_set RAY_AUTH_TOKEN_PATH "$CLUSTER_DIR/ray_auth_token"
    (umask 077 && "$PYTHON" -c 'import secrets; print(secrets.token_hex(32), end="")' >"$RAY_AUTH_TOKEN_PATH")
    local gcs dash flags
    read -r gcs dash <<<"$(free_ports 2)"
    state_set RAY_PORT "$gcs"
    mapfile -t flags < <(ray_node_flags)
    log "Ray: starting head on $HOST:$gcs"
    ray_env
    start_session "$LOG_DIR/ray-head.log" "$CLUSTER_DIR" "${RAY_ENV[@]}" "$PYTHON" \
        "$SCRIPT_DIR/ray_loopback.py" start --head --port "$gcs" --dashboard-port "$dash" \
        --include-dashboard false "${flags[@]}"
    local sid=$LAST_SID
    state_set RAY_HEAD_SID "$sid"
    wait_session_leader "$sid" "Ray head" "$LOG_DIR/ray-head.log"
    wait_for "Ray head" ray_nodes_are 1 || return 1
    state_set RAY_HEAD_PIDS "$(session_pids "$sid" | tr '\n' ' ')"
    log "Ray: head up (session $sid)"
}

start_ray_worker() {
    local flags sid expected
    mapfile -t flags < <(ray_node_flags)
    log "Ray: starting worker node"
    # The head's log monitor already covers this machine: one per host is enough.
    ray_env
    start_session "$LOG_DIR/ray-worker.log" "$CLUSTER_DIR" "${RAY_ENV[@]}" "$PYTHON" \
        "$SCRIPT_DIR/ray_loopback.py" start --address "$HOST:$RAY_PORT" \
        --include-log-monitor false "${flags[@]}"
    sid=$LAST_SID
    state_set RAY_WORKER_SID "$sid"
    wait_session_leader "$sid" "Ray worker" "$LOG_DIR/ray-worker.log"
    expected=2
    wait_for "2 alive Ray nodes" ray_nodes_are "$expected" || return 1
    state_set RAY_WORKER_PIDS "$(session_pids "$sid" | tr '\n' ' ')"
    log "Ray: worker up (session $sid); cluster has $expected alive nodes"
}

# `ray start` (the session leader) exits once its daemons run; fail if it exited non-zero.
wait_session_leader() {
    local sid=$1 what=$2 logfile=$3
    if ! wait "$sid"; then
        tail -n 20 "$logfile" >&2 || true
        die "$what: ray start failed (see $logfile)"
    fi
}

stop_ray_worker() {
    local signal=${1:-TERM}
    [[ -n ${RAY_WORKER_SID:-} ]] || return 0
    log "Ray: stopping worker node (session $RAY_WORKER_SID, SIG$signal)"
    stop_session "$RAY_WORKER_SID" 10 "$signal"
}

stop_ray_head() {
    [[ -n ${RAY_HEAD_SID:-} ]] || return 0
    log "Ray: stopping head node (session $RAY_HEAD_SID)"
    stop_session "$RAY_HEAD_SID" 5
}

# Ray processes that escaped their session (none expected): anything still running from
# this cluster's own Ray temp dir, which no other Ray instance uses.
stray_ray_pids() {
    [[ -n ${RAY_TMP:-} ]] || return 0
    local f pid
    for f in /proc/[0-9]*/cmdline; do
        pid=${f#/proc/}
        pid=${pid%/cmdline}
        [[ $pid != "$$" ]] && grep -qsF -- "$RAY_TMP" "$f" 2>/dev/null && printf '%s\n' "$pid"
    done
    return 0
}

# ---------------------------------------------------------------- subcommands

print_exports() {
    # Drivers need the same Ray switches as the nodes (see infra/ray_loopback.py).
    printf 'export RAY_ADDRESS=%s\n' "$HOST:$RAY_PORT"
    printf 'export MLFLOW_TRACKING_URI=%s\n' "http://$HOST:$MLFLOW_PORT"
    printf 'export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0\n'
    printf 'export RAY_AUTH_MODE=token\n'
    printf 'export RAY_AUTH_TOKEN_PATH=%q\n' "$RAY_AUTH_TOKEN_PATH"
}

# Exit status 0 if everything runs, 1 if some component is dead, 3 if the cluster is not up.
cmd_status() {
    have_state || { log "not up (no $STATE)"; return 3; }
    load_state
    local bad=0 nodes
    if postgres_alive; then echo "postgres  alive  $HOST:$PG_PORT (pid $PG_PID)"; else echo "postgres  dead"; bad=1; fi
    if mlflow_alive; then echo "mlflow    alive  http://$HOST:$MLFLOW_PORT (session $MLFLOW_SID)"; else echo "mlflow    dead"; bad=1; fi
    if session_alive "${RAY_HEAD_SID:-}"; then echo "ray-head  alive  $HOST:$RAY_PORT (session $RAY_HEAD_SID)"; else echo "ray-head  dead"; bad=1; fi
    if session_alive "${RAY_WORKER_SID:-}"; then echo "ray-worker alive (session $RAY_WORKER_SID)"; else echo "ray-worker dead"; bad=1; fi
    nodes="?"
    session_alive "${RAY_HEAD_SID:-}" && nodes="$(alive_ray_nodes || echo "?")"
    echo "ray-nodes $nodes alive"
    return "$bad"
}

cmd_up() {
    if have_state; then
        load_state
        if cmd_status >/dev/null 2>&1; then
            log "already up ($CLUSTER_DIR)"
            print_exports
            return 0
        fi
        die "a cluster in $CLUSTER_DIR is partly down ($0 status); run '$0 start-worker' / '$0 start-mlflow', or '$0 down' first"
    fi
    case $CLUSTER_DIR in / | "$HOME" | /tmp) die "refusing to use $CLUSTER_DIR as the cluster dir" ;; esac
    [[ -e $CLUSTER_DIR ]] && [[ -n "$(ls -A "$CLUSTER_DIR" 2>/dev/null)" ]] \
        && die "$CLUSTER_DIR exists and is not empty (a leftover? remove it or set SYNPRUNE_CLUSTER_DIR)"
    mkdir -p "$LOG_DIR"
    chmod 755 "$CLUSTER_DIR"
    # On any failure from here on (die, a failed command), stop what was started.
    trap 'rc=$?; if ((rc != 0)); then log "up failed: stopping what was started"; cmd_down || true; fi' EXIT
    state_set PYTHON "$PYTHON"
    start_postgres
    launch_mlflow # its start-up (~10-20 s of imports and DB migrations) overlaps Ray's
    start_ray_head || die "Ray head did not come up (see $LOG_DIR/ray-head.log)"
    start_ray_worker || die "Ray worker did not come up (see $LOG_DIR/ray-worker.log)"
    wait_mlflow || die "MLflow did not come up (see $LOG_DIR/mlflow.log)"
    trap - EXIT
    log "cluster up: state in $STATE, logs in $LOG_DIR"
    print_exports
}

cmd_down() {
    have_state || { log "not up (no $STATE); nothing to do"; return 0; }
    load_state
    stop_ray_worker
    stop_ray_head
    local stray
    stray="$(stray_ray_pids | tr '\n' ' ')"
    if [[ -n ${stray// /} ]]; then
        log "Ray: stopping stray processes from $RAY_TMP: $stray"
        # shellcheck disable=SC2086
        kill -KILL $stray 2>/dev/null || true
    fi
    stop_mlflow
    stop_postgres
    [[ -n ${RAY_TMP:-} && $RAY_TMP == /tmp/synprune-ray.* ]] && rm -rf -- "$RAY_TMP"
    [[ -n ${PG_ROOT:-} && $PG_ROOT == /tmp/synprune-pg.* ]] && rm -rf -- "$PG_ROOT"
    rm -rf -- "$CLUSTER_DIR"
    log "down: stopped everything and removed $CLUSTER_DIR"
}

need_up() {
    have_state || die "not up (no $STATE): run '$0 up' first"
    load_state
}

cmd_stop_worker() {
    need_up
    local signal=TERM
    [[ ${1:-} == --kill ]] && signal=KILL
    stop_ray_worker "$signal"
    wait_for "the head to see 1 alive node" ray_nodes_are 1
    log "Ray: worker stopped; 1 alive node"
}

cmd_start_worker() {
    need_up
    if session_alive "${RAY_WORKER_SID:-}"; then
        log "Ray: worker already running (session $RAY_WORKER_SID)"
        return 0
    fi
    start_ray_worker
}

cmd_start_mlflow() {
    need_up
    if session_alive "${MLFLOW_SID:-}"; then
        log "MLflow: already running (session $MLFLOW_SID)"
        return 0
    fi
    start_mlflow
}

cmd_restart_mlflow() {
    need_up
    local down_for=${1:-0}
    stop_mlflow
    if [[ $down_for != 0 ]]; then
        log "MLflow: staying down for ${down_for}s"
        sleep "$down_for"
    fi
    start_mlflow
}

usage() {
    sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
}

main() {
    local cmd=${1:-}
    [[ $# -gt 0 ]] && shift
    case $cmd in
        up | start-worker | start-mlflow | restart-mlflow) PYTHON="$(find_python)" ;;
        down | status | stop-worker | stop-mlflow | env) PYTHON="${SYNPRUNE_PYTHON:-$(command -v python || command -v python3 || echo python3)}" ;;
    esac
    # A recorded python wins for everything but `up` (same interpreter for the whole life).
    if [[ $cmd != up ]] && have_state; then
        load_state
    fi
    case $cmd in
        up) cmd_up ;;
        down) cmd_down ;;
        status) cmd_status ;;
        env) need_up && print_exports ;;
        stop-worker) cmd_stop_worker "$@" ;;
        start-worker) cmd_start_worker ;;
        stop-mlflow) need_up && stop_mlflow ;;
        start-mlflow) cmd_start_mlflow ;;
        restart-mlflow) cmd_restart_mlflow "$@" ;;
        -h | --help | help) usage ;;
        *) usage; exit 2 ;;
    esac
}

main "$@"
