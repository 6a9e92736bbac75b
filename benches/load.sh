#!/usr/bin/env bash
# Load benchmark of Portcullis against the daemon's own mutual TLS, its unix socket and nginx.
#
#   benches/load.sh [--short] [--out FILE] [--raw FILE]
#
# --short   CI mode: about a second per measurement, small sizes; checks that every
#           target runs and every byte is delivered (< 3 minutes after the build).
# default   full mode: the numbers for the README (about 16 minutes).
# --out F   also write the result tables (markdown) to F.
# --raw F   also write every measurement of every round to F (re-render the tables:
#           python3 benches/load/report.py --raw F).
# PORTCULLIS_BIN=path  skip `cargo build --release` and measure that binary.
#
# What runs (all on loopback, all under one temporary directory, all stopped on exit):
#   - a private dockerd (own socket, data root and exec root; never /var/run/docker.sock)
#     with its own mutual-TLS listener (`--tlsverify`, the same CA and server certificate
#     as the proxies), and a busybox test image made with `docker import`;
#   - a synthetic Docker upstream: nginx answering GET /_ping and GET /containers/json
#     with fixed responses on a unix socket;
#   - nginx as the reference reverse proxy (plain and mutual TLS, streaming settings);
#   - Portcullis (plain and mutual TLS) with an allow-all audit policy, and with mutual
#     TLS and tenants isolated (`[tenants] isolate = true`), without and with quotas.
# Targets: the unix socket ("direct"), the daemon's own mTLS ("dtls", the anchor of
# issue 19: what a platform exposes without a proxy), nginx and Portcullis, each plain
# and with mTLS. All mTLS clients use one client certificate (oha --cacert/--cert/--key;
# the docker CLI with DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH). Measured, with the targets
# interleaved round by round:
#   1. GET /_ping and GET /containers/json at c=1 and c=32 with keep-alive (oha):
#      req/s, p50, p99, on the synthetic upstream and on dockerd;
#   2. container create + remove cycles (ops/s) on dockerd (benches/load/dockerapi.py);
#   3. hijacked exec streams out and in through the docker CLI (byte counts checked);
#   4. docker cp of a large file out of and into a container (sizes checked);
#   5. tenants (issue 17): 200 containers of 10 tenants on the daemon; one tenant's
#      GET /containers/json (and ?all=1) directly with the daemon's label filter (unix
#      socket, daemon mTLS) and through Portcullis as that tenant (CN=tenant3, no filter;
#      answers checked); create + remove as the tenant without and with quotas (the
#      quota is checked to refuse the create beyond it, PC-1043);
#   6. Portcullis resident memory: idle, during the streams, with N idle attach sessions;
#      CPU seconds per GiB streamed.
# report.py prints the tables and checks issue 19's targets (against the daemon's own
# mTLS) and issue 6's earlier ones (against the unix socket).
# Tools that are missing are installed: nginx-light (apt), oha (cargo install --locked),
# docker.io / busybox-static / python3 / curl (apt).
set -euo pipefail

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }

MODE=full
OUT=""
RAW=""
while (($#)); do
    case $1 in
        --short) MODE=short ;;
        --out)
            [[ $# -ge 2 ]] || { echo "load.sh: --out needs a file name" >&2; exit 2; }
            OUT=$2
            shift
            ;;
        --out=*) OUT=${1#--out=} ;;
        --raw)
            [[ $# -ge 2 ]] || { echo "load.sh: --raw needs a file name" >&2; exit 2; }
            RAW=$2
            shift
            ;;
        --raw=*) RAW=${1#--raw=} ;;
        -h | --help) usage; exit 0 ;;
        *) echo "load.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[[ -z $OUT || $OUT == /* ]] || OUT=$PWD/$OUT
[[ -z $RAW || $RAW == /* ]] || RAW=$PWD/$RAW

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$ROOT/benches/load
COMMAND="benches/load.sh"
[[ $MODE == short ]] && COMMAND+=" --short"
[[ -n $OUT ]] && COMMAND+=" --out $OUT"

if [[ $MODE == short ]]; then
    HTTP_SECS=1          # per oha run
    HTTP_ROUNDS=1
    TENANT_ROUNDS=1      # HTTP rounds of the tenant rows
    CYCLE_SECS=2
    CYCLE_ROUNDS=1
    STREAM_BYTES=$((64 << 20))
    STREAM_ROUNDS=1
    CP_BYTES=$((32 << 20))
    CP_ROUNDS=1
    SESSIONS=100
    TIME_LIMIT=480       # seconds for the whole run after installs and build
else
    HTTP_SECS=3
    HTTP_ROUNDS=3
    TENANT_ROUNDS=2      # keeps the full run near 16 minutes
    CYCLE_SECS=6
    CYCLE_ROUNDS=2
    STREAM_BYTES=$((1 << 30))
    STREAM_ROUNDS=2
    CP_BYTES=$((500 * 1000 * 1000))
    CP_ROUNDS=2
    SESSIONS=1000
    TIME_LIMIT=2400
fi
# A stream of STREAM_BYTES must go faster than 4 MB/s or the step fails.
STREAM_TIMEOUT=$((STREAM_BYTES / 4000000 + 60))
CP_TIMEOUT=$((CP_BYTES / 4000000 + 60))

START_SECS=$(date +%s)
log() { printf '[load %4ds] %s\n' "$(($(date +%s) - START_SECS))" "$*" >&2; }
die() {
    printf '\nload.sh: FAILED: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------
export PATH="$HOME/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
APT_UPDATED=0
apt_install() {
    if ((!APT_UPDATED)); then
        log "apt-get update"
        timeout 300 apt-get update -qq >&2 || die "apt-get update failed"
        APT_UPDATED=1
    fi
    log "apt-get install $*"
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq --no-install-recommends "$@" >&2 ||
        die "apt-get install $* failed"
}
need() { # need COMMAND PACKAGE...
    local cmd=$1
    shift
    command -v "$cmd" >/dev/null 2>&1 || apt_install "$@"
    command -v "$cmd" >/dev/null 2>&1 || die "$cmd still missing after installing $*"
}
need nginx nginx-light
need dockerd docker.io
need docker docker.io
need busybox busybox-static
need python3 python3
need curl curl
need getconf libc-bin
if ! command -v oha >/dev/null 2>&1; then
    log "installing oha (cargo install oha --locked; takes a few minutes)"
    timeout 1800 cargo install oha --locked >&2 || die "cargo install oha failed"
fi
OHA_HELP=$(oha --help)
for flag in --unix-socket --cacert --cert --key --output-format; do
    grep -q -- "$flag" <<<"$OHA_HELP" || die "this oha lacks $flag (update it: cargo install oha --locked --force)"
done

if [[ -n ${PORTCULLIS_BIN:-} ]]; then
    log "using PORTCULLIS_BIN=$PORTCULLIS_BIN (no build)"
    PORTCULLIS=$PORTCULLIS_BIN
else
    log "cargo build --release"
    (cd "$ROOT" && timeout 3600 cargo build --release --quiet >&2) || die "cargo build --release failed"
    log "build done; the benchmark starts now"
    target_dir=${CARGO_TARGET_DIR:-$ROOT/target}
    [[ $target_dir == /* ]] || target_dir=$ROOT/$target_dir
    PORTCULLIS=$target_dir/release/portcullis
fi
START_SECS=$(date +%s)
[[ -x $PORTCULLIS ]] || die "$PORTCULLIS missing after the build"

# ---------------------------------------------------------------------------
# Cleanup: every process started here, the private dockerd, mounts, the temp dir.
# ---------------------------------------------------------------------------
T=$(mktemp -d /tmp/pcload.XXXXXX) # short: unix socket paths must stay < 108 bytes
PIDS=()
DOCKERD_PID=""
WATCHDOG=""
CLK_TCK=$(getconf CLK_TCK)

stop_pid() { # stop_pid PID [SECONDS]: TERM, wait, KILL
    local pid=$1 wait=${2:-5} i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < wait * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if ((rc != 0)); then
        for f in "$T"/dockerd.log "$T"/pc-*.log "$T"/nginx-*.err; do
            [[ -s $f ]] || continue
            printf '\n--- tail of %s ---\n' "${f#"$T"/}" >&2
            tail -n 15 "$f" >&2
        done
    fi
    log "cleaning up"
    [[ -n $WATCHDOG ]] && stop_pid "$WATCHDOG" 2
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid" 5; done
    if [[ -n $DOCKERD_PID ]] && kill -0 "$DOCKERD_PID" 2>/dev/null; then
        local ids
        ids=$(timeout 30 docker -H "unix://$T/docker.sock" ps -aq 2>/dev/null)
        # shellcheck disable=SC2086
        [[ -n $ids ]] && timeout 60 docker -H "unix://$T/docker.sock" rm -f $ids >/dev/null 2>&1
        stop_pid "$DOCKERD_PID" 20
    fi
    # containerd outlives a dockerd that had to be killed.
    if [[ -s $T/exec/containerd/containerd.pid ]]; then
        stop_pid "$(cat "$T/exec/containerd/containerd.pid")" 5
    fi
    awk -v d="$T" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts |
        awk '{ print length, $0 }' | sort -rn | cut -d' ' -f2- |
        while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf "$T"
    if ((rc != 0)); then
        echo "load.sh: failed (exit $rc)" >&2
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The whole run is bounded: the watchdog sends TERM to this script at the limit
# (every step below also has its own timeout).
(
    trap 'kill $sp 2>/dev/null; exit 0' TERM
    sleep "$TIME_LIMIT" &
    sp=$!
    wait $sp
    echo "load.sh: time limit of ${TIME_LIMIT}s reached" >&2
    kill -TERM $$
    # Stop the step in progress too (its own children, by parent id), so the
    # script's TERM trap runs now rather than when the step's timeout expires.
    for child in $(ps -o pid= --ppid $$); do
        [[ $child == "$BASHPID" ]] || kill -TERM "$child" 2>/dev/null
    done
) &
WATCHDOG=$!

ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
((SESSIONS * 2 + 200 < $(ulimit -n))) || die "ulimit -n $(ulimit -n) is too low for $SESSIONS sessions"

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.6f", b - a }'; }
RESULTS=$T/results.tsv
: >"$RESULTS"
record() { printf '%s\t%s\n' "$1" "$2" >>"$RESULTS"; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
    local secs=$1 what=$2 i
    shift 2
    for ((i = 0; i < secs * 10; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "timed out after ${secs}s waiting for $what"
}
vm_kib() { # vm_kib PID FIELD -> KiB
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}
cpu_ticks() { # utime + stime of PID (and of its children processes, for nginx)
    local total=0 p
    for p in "$@"; do
        total=$((total + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{ print $12 + $13 }')))
    done
    echo "$total"
}
sys_ticks() { # "busy total" jiffies of all CPUs (iowait counts as idle)
    awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat
}
busy_pct() { # busy_pct "BUSY0 TOTAL0" "BUSY1 TOTAL1" -> % of all CPUs busy in between
    awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ");
        if (y[2] > x[2]) printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2]); else print "n/a" }'
}
rss_sum() { # VmRSS of several processes, KiB
    local total=0 p
    for p in "$@"; do total=$((total + $(vm_kib "$p" VmRSS))); done
    echo "$total"
}

# ---------------------------------------------------------------------------
# Private dockerd and the test image
# ---------------------------------------------------------------------------
log "temp dir $T; mode $MODE"
mkdir -p "$T/cli" "$T/rootfs/bin" "$T/rootfs/tmp"
export DOCKER_CONFIG=$T/cli
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
# Certificates first: the daemon's own mutual-TLS listener uses the same CA and server
# certificate as nginx and Portcullis, so one client bundle reaches all three.
timeout 60 "$PORTCULLIS" certs init --dir "$T/certs" >/dev/null || die "portcullis certs init failed"
timeout 60 "$PORTCULLIS" certs client bench --dir "$T/certs" >/dev/null || die "portcullis certs client failed"
timeout 60 "$PORTCULLIS" certs client tenant3 --dir "$T/certs" >/dev/null || die "portcullis certs client tenant3 failed"
CERTS=$T/certs
CLIENT=$T/certs/clients/bench
TENANT_CLIENT=$T/certs/clients/tenant3
log "starting a private dockerd"
# The daemon's own mutual-TLS endpoint (`dockerd --tlsverify`, what a platform exposes
# without a proxy) is the anchor of issue 19. dockerd's TLS flags apply to every TCP
# host of the daemon, so it has no plain TCP host: the unix socket and this one.
P_DTLS=$(free_port)
dockerd --host "unix://$T/docker.sock" --host "tcp://127.0.0.1:$P_DTLS" \
    --tlsverify --tlscacert "$CERTS/ca.pem" --tlscert "$CERTS/server-cert.pem" --tlskey "$CERTS/server-key.pem" \
    --data-root "$T/data" --exec-root "$T/exec" \
    --pidfile "$T/docker.pid" --bridge=none --iptables=false --ip6tables=false \
    </dev/null >"$T/dockerd.log" 2>&1 &
DOCKERD_PID=$!
wait_for 60 "dockerd to answer on $T/docker.sock" \
    timeout 5 docker -H "unix://$T/docker.sock" version
kill -0 "$DOCKERD_PID" 2>/dev/null || die "dockerd exited"

cp "$(command -v busybox)" "$T/rootfs/bin/busybox"
for applet in $("$T/rootfs/bin/busybox" --list); do
    [[ $applet == busybox ]] || ln -s busybox "$T/rootfs/bin/$applet"
done
tar -C "$T/rootfs" -c . | timeout 120 docker -H "unix://$T/docker.sock" import -c 'CMD ["/bin/sh"]' - bench:latest >/dev/null ||
    die "docker import of the test image failed"
# One long-running container for exec, cp and attach.
CTR=$(timeout 60 docker -H "unix://$T/docker.sock" run -d -i --network none --name bench-main bench:latest sleep 100000) ||
    die "docker run of the test container failed"

# ---------------------------------------------------------------------------
# Certificates, policy, synthetic upstream, nginx, Portcullis
# ---------------------------------------------------------------------------
mkdir -p "$T/policy"
cat >"$T/policy/bench.toml" <<'EOF'
# Allow everything (audit mode: what the default rules would deny is only recorded).
name = "bench"
description = "Load benchmark: allow all, audit"
mode = "audit"
default = true
# One operator, as nginx sees it: no tenant isolation (policies isolate by default),
# so lists and streams match the daemon's own answers byte for byte.
[tenants]
isolate = false
EOF
# Tenant rows (issue 17): tenants isolated by the client certificate's CN, enforcing the
# default rules; the second also has quotas (counted from the daemon at each create).
# tenant3 owns TENANT_CTRS containers below, so a create is always the quota's last one.
TENANTS=10
TENANT_CTRS=20
cat >"$T/policy/tenants.toml" <<'EOF'
name = "tenants"
description = "Load benchmark: tenants isolated, no quotas"
default = true

[tenants]
isolate = true
EOF
cat >"$T/policy/tenants-quota.toml" <<EOF
name = "tenants-quota"
description = "Load benchmark: tenants isolated, with quotas"
default = true

[tenants]
isolate = true
max_containers = $((TENANT_CTRS + 1))
max_volumes = 20
max_networks = 5
EOF
for f in bench tenants tenants-quota; do
    timeout 30 "$PORTCULLIS" policy check "$T/policy/$f.toml" >/dev/null || die "the $f policy does not load"
done

# The synthetic upstream: fixed answers like dockerd 20.10's.
LIST_JSON=$(python3 - <<'EOF'
import json
c = {
    "Id": "4f1d2c3b5a6978e0d1c2b3a4958677a1b2c3d4e5f60718293a4b5c6d7e8f9012",
    "Names": ["/bench-web-1"],
    "Image": "registry.example.com/team/web:1.4.2",
    "ImageID": "sha256:9a8b7c6d5e4f30211a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081",
    "Command": "/docker-entrypoint.sh nginx -g 'daemon off;'".replace("'", ""),
    "Created": 1700000000,
    "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}],
    "Labels": {"com.docker.compose.project": "bench", "com.docker.compose.service": "web"},
    "State": "running",
    "Status": "Up 3 hours",
    "HostConfig": {"NetworkMode": "bench_default"},
    "NetworkSettings": {"Networks": {"bench_default": {
        "IPAMConfig": None, "Links": None, "Aliases": None,
        "NetworkID": "0d9f8e7c6b5a493827161504f3e2d1c0b9a8f7e6d5c4b3a29180716f5e4d3c2b",
        "EndpointID": "", "Gateway": "172.18.0.1", "IPAddress": "172.18.0.2",
        "IPPrefixLen": 16, "IPv6Gateway": "", "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0, "MacAddress": "02:42:ac:12:00:02", "DriverOpts": None}}},
    "Mounts": [],
}
print(json.dumps([c], separators=(",", ":")))
EOF
)
NGINX_TMP="client_body_temp_path $T/ngx/body; proxy_temp_path $T/ngx/proxy; fastcgi_temp_path $T/ngx/fcgi; uwsgi_temp_path $T/ngx/uwsgi; scgi_temp_path $T/ngx/scgi;"
mkdir -p "$T/ngx"
cat >"$T/nginx-syn.conf" <<EOF
# Synthetic Docker upstream (one worker: it stands in for dockerd, not for a proxy).
user root;
worker_processes 1;
worker_rlimit_nofile $NOFILE;
pid $T/nginx-syn.pid;
error_log $T/nginx-syn.err warn;
events { worker_connections 16384; }
http {
    access_log off;
    $NGINX_TMP
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    server_tokens off;
    server {
        listen unix:$T/syn.sock;
        add_header Api-Version 1.41 always;
        add_header Docker-Experimental false always;
        add_header Ostype linux always;
        location ~ ^(/v[0-9.]+)?/_ping\$ {
            default_type "text/plain; charset=utf-8";
            add_header Api-Version 1.41 always;
            add_header Cache-Control "no-cache, no-store, must-revalidate" always;
            add_header Docker-Experimental false always;
            add_header Ostype linux always;
            add_header Pragma no-cache always;
            return 200 "OK";
        }
        location ~ ^(/v[0-9.]+)?/containers/json\$ {
            default_type application/json;
            return 200 '$LIST_JSON';
        }
        location / {
            default_type application/json;
            return 404 '{"message":"page not found"}';
        }
    }
}
EOF
P_NG_SYN=$(free_port)
P_NG_SYN_TLS=$(free_port)
P_NG_D=$(free_port)
P_NG_D_TLS=$(free_port)
cat >"$T/nginx-proxy.conf" <<EOF
# nginx as the reference reverse proxy: streaming, HTTP/1.1 keep-alive upstream,
# upgrades passed through; per-request access log like Portcullis' request log.
# Workers run as root to reach dockerd's socket, as Portcullis does.
user root;
worker_processes auto;
worker_rlimit_nofile $NOFILE;
pid $T/nginx-proxy.pid;
error_log $T/nginx-proxy.err warn;
events { worker_connections 16384; }
http {
    access_log $T/nginx-proxy.access.log;
    $NGINX_TMP
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    server_tokens off;
    client_max_body_size 0;
    proxy_http_version 1.1;
    proxy_buffering off;
    proxy_request_buffering off;
    proxy_read_timeout 3600s;
    proxy_send_timeout 3600s;
    proxy_set_header Host \$http_host;
    proxy_set_header Upgrade \$http_upgrade;
    proxy_set_header Connection \$connection_upgrade;
    map \$http_upgrade \$connection_upgrade { default upgrade; "" ""; }
    upstream syn { server unix:$T/syn.sock; keepalive 64; keepalive_requests 100000000; }
    upstream dockerd { server unix:$T/docker.sock; keepalive 64; keepalive_requests 100000000; }
    ssl_certificate $CERTS/server-cert.pem;
    ssl_certificate_key $CERTS/server-key.pem;
    ssl_client_certificate $CERTS/ca.pem;
    ssl_verify_client on;
    ssl_protocols TLSv1.2 TLSv1.3;
    server { listen 127.0.0.1:$P_NG_SYN;         location / { proxy_pass http://syn; } }
    server { listen 127.0.0.1:$P_NG_SYN_TLS ssl; location / { proxy_pass http://syn; } }
    server { listen 127.0.0.1:$P_NG_D;           location / { proxy_pass http://dockerd; } }
    server { listen 127.0.0.1:$P_NG_D_TLS ssl;   location / { proxy_pass http://dockerd; } }
}
EOF
declare -A NGINX_PID
for n in syn proxy; do
    timeout 30 nginx -t -q -e "$T/nginx-$n.err" -p "$T" -c "$T/nginx-$n.conf" ||
        die "nginx rejects $T/nginx-$n.conf: $(cat "$T/nginx-$n.err")"
    nginx -e "$T/nginx-$n.err" -p "$T" -c "$T/nginx-$n.conf" -g 'daemon off;' </dev/null >"$T/nginx-$n.out" 2>&1 &
    PIDS+=($!)
    NGINX_PID[$n]=$!
done
wait_for 30 "the synthetic upstream on $T/syn.sock" curl -sf --max-time 2 --unix-socket "$T/syn.sock" http://d/_ping
wait_for 30 "nginx on 127.0.0.1:$P_NG_D" curl -sf --max-time 2 "http://127.0.0.1:$P_NG_D/_ping"

NGINX_PROXY_PID=${NGINX_PID[proxy]}
# Portcullis: four processes (synthetic / dockerd upstream x plain / mutual TLS).
declare -A PC_PID PC_ADDR
start_portcullis() { # start_portcullis NAME UPSTREAM_SOCKET tls|plain [POLICY]
    local name=$1 up=$2 mode=$3 policy=${4:-bench}
    local args=(serve --listen tcp://127.0.0.1:0 --upstream "unix://$up" --policy "$T/policy/$policy.toml"
        --ready-file "$T/pc-$name.ready" --admin-listen off --audit-log "$T/pc-$name.audit"
        --data-dir "$T/pcdata")
    if [[ $mode == tls ]]; then
        args+=(--tls-cert "$CERTS/server-cert.pem" --tls-key "$CERTS/server-key.pem" --tls-client-ca "$CERTS/ca.pem")
    else
        args+=(--insecure-no-tls)
    fi
    NO_COLOR=1 RUST_LOG=${RUST_LOG:-info} "$PORTCULLIS" "${args[@]}" </dev/null >"$T/pc-$name.log" 2>&1 &
    PIDS+=($!)
    PC_PID[$name]=$!
    wait_for 30 "Portcullis $name to write its ready file" grep -q '^tcp://' "$T/pc-$name.ready"
    PC_ADDR[$name]=$(sed -n 's#^tcp://##p' "$T/pc-$name.ready" | head -n 1)
}
start_portcullis syn "$T/syn.sock" plain
start_portcullis syn-tls "$T/syn.sock" tls
start_portcullis d "$T/docker.sock" plain
start_portcullis d-tls "$T/docker.sock" tls
start_portcullis ten "$T/docker.sock" tls tenants
start_portcullis tq "$T/docker.sock" tls tenants-quota
PC_PID_MAIN=${PC_PID[d-tls]} # the one measured for memory and CPU
# Idle memory of a fresh process, before it has served anything.
sleep 1
record "rss-idle" "$(vm_kib "$PC_PID_MAIN" VmRSS)"
record "hwm-idle" "$(vm_kib "$PC_PID_MAIN" VmHWM)"
log "nginx, synthetic upstream and Portcullis are up (Portcullis idle VmRSS $(vm_kib "$PC_PID_MAIN" VmRSS) KiB)"

# Target addresses. HTTP targets: URL base and oha arguments.
declare -A BASE OHA_ARGS
TLS_ARGS=(--cacert "$CLIENT/ca.pem" --cert "$CLIENT/cert.pem" --key "$CLIENT/key.pem")
set_target() { # set_target UPSTREAM TARGET BASE_URL OHA_ARGS...
    local key=$1/$2
    BASE[$key]=$3
    shift 3
    OHA_ARGS[$key]="$*"
}
set_target syn direct "http://localhost" --unix-socket "$T/syn.sock"
set_target syn nginx "http://127.0.0.1:$P_NG_SYN"
set_target syn nginx-tls "https://127.0.0.1:$P_NG_SYN_TLS" "${TLS_ARGS[@]}"
set_target syn pc "http://${PC_ADDR[syn]}"
set_target syn pc-tls "https://${PC_ADDR[syn-tls]}" "${TLS_ARGS[@]}"
set_target dockerd direct "http://localhost" --unix-socket "$T/docker.sock"
set_target dockerd dtls "https://127.0.0.1:$P_DTLS" "${TLS_ARGS[@]}"
set_target dockerd nginx "http://127.0.0.1:$P_NG_D"
set_target dockerd nginx-tls "https://127.0.0.1:$P_NG_D_TLS" "${TLS_ARGS[@]}"
set_target dockerd pc "http://${PC_ADDR[d]}"
set_target dockerd pc-tls "https://${PC_ADDR[d-tls]}" "${TLS_ARGS[@]}"
# The daemon's own mutual TLS exists only for dockerd, not for the synthetic upstream.
http_targets() { # http_targets UPSTREAM -> the targets measured on it
    if [[ $1 == syn ]]; then echo direct nginx pc nginx-tls pc-tls; else echo direct dtls nginx pc nginx-tls pc-tls; fi
}

# docker CLI per target (streams, cp): direct socket, nginx and Portcullis, plain and mTLS.
# Use as: env $(cli_env TARGET) docker ARGS... (no spaces in these paths).
cli_env() {
    case $1 in
        direct) echo "DOCKER_HOST=unix://$T/docker.sock" ;;
        dtls) echo "DOCKER_HOST=tcp://127.0.0.1:$P_DTLS DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$CLIENT" ;;
        nginx) echo "DOCKER_HOST=tcp://127.0.0.1:$P_NG_D" ;;
        pc) echo "DOCKER_HOST=tcp://${PC_ADDR[d]}" ;;
        nginx-tls) echo "DOCKER_HOST=tcp://127.0.0.1:$P_NG_D_TLS DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$CLIENT" ;;
        pc-tls) echo "DOCKER_HOST=tcp://${PC_ADDR[d-tls]} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$CLIENT" ;;
        pc-ten) echo "DOCKER_HOST=tcp://${PC_ADDR[ten]} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$TENANT_CLIENT" ;;
        pc-tq) echo "DOCKER_HOST=tcp://${PC_ADDR[tq]} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$TENANT_CLIENT" ;;
        *) die "unknown CLI target $1" ;;
    esac
}
api_target() { # arguments of benches/load/dockerapi.py for TARGET
    case $1 in
        direct) echo "--target unix:$T/docker.sock" ;;
        dtls) echo "--target tcp:127.0.0.1:$P_DTLS --ca $CLIENT/ca.pem --cert $CLIENT/cert.pem --key $CLIENT/key.pem" ;;
        nginx) echo "--target tcp:127.0.0.1:$P_NG_D" ;;
        pc) echo "--target tcp:${PC_ADDR[d]}" ;;
        nginx-tls) echo "--target tcp:127.0.0.1:$P_NG_D_TLS --ca $CLIENT/ca.pem --cert $CLIENT/cert.pem --key $CLIENT/key.pem" ;;
        pc-tls) echo "--target tcp:${PC_ADDR[d-tls]} --ca $CLIENT/ca.pem --cert $CLIENT/cert.pem --key $CLIENT/key.pem" ;;
        pc-att) echo "--target tcp:${PC_ADDR[att]} --ca $CLIENT/ca.pem --cert $CLIENT/cert.pem --key $CLIENT/key.pem" ;;
        pc-ten | pc-tq)
            local name=${1#pc-}
            echo "--target tcp:${PC_ADDR[$name]} --ca $TENANT_CLIENT/ca.pem --cert $TENANT_CLIENT/cert.pem --key $TENANT_CLIENT/key.pem"
            ;;
    esac
}
STREAM_TARGETS=(direct dtls nginx pc nginx-tls pc-tls)
for t in "${STREAM_TARGETS[@]}" pc-ten pc-tq; do
    # shellcheck disable=SC2046
    timeout 30 env $(cli_env "$t") docker version >"$T/version.out" 2>&1 ||
        die "docker version through $t fails: $(tail -n 5 "$T/version.out")"
done

# ---------------------------------------------------------------------------
# 1. HTTP request rate and latency
# ---------------------------------------------------------------------------
oha_run() { # oha_run UPSTREAM TARGET PATH CONCURRENCY SECONDS -> JSON file path
    local up=$1 target=$2 path=$3 c=$4 secs=$5 out=$T/oha.json
    # shellcheck disable=SC2086
    timeout $((secs + 60)) oha --no-tui --output-format json -c "$c" -z "${secs}s" -w \
        ${OHA_ARGS[$up/$target]} "${BASE[$up/$target]}$path" >"$out" 2>"$T/oha.err" ||
        die "oha against $target ($up$path, c=$c) failed: $(tail -n 5 "$T/oha.err")"
    echo "$out"
}
oha_parse() { # oha_parse JSON -> "rps p50_us p99_us requests"; fails unless every answer was 200
    python3 - "$1" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
codes = {str(k): v for k, v in (d.get("statusCodeDistribution") or {}).items()}
errors = d.get("errorDistribution") or {}
ok = codes.get("200", 0)
bad = {k: v for k, v in codes.items() if k != "200"}
if ok == 0 or bad or errors:
    sys.exit(f"200: {ok}, other statuses: {bad}, errors: {errors}")
p = d["latencyPercentiles"]
print(f'{d["summary"]["requestsPerSec"]:.1f} {p["p50"] * 1e6:.1f} {p["p99"] * 1e6:.1f} {ok}')
EOF
}
PATHS=(/_ping /containers/json)
nginx_pids() { echo "$NGINX_PROXY_PID $(pgrep -P "$NGINX_PROXY_PID" | tr '\n' ' ')"; }
proxy_pids() { # proxy_pids UPSTREAM TARGET -> the processes that serve TARGET
    case $2 in
        nginx*) nginx_pids ;;
        pc) [[ $1 == syn ]] && echo "${PC_PID[syn]}" || echo "${PC_PID[d]}" ;;
        pc-tls) [[ $1 == syn ]] && echo "${PC_PID[syn-tls]}" || echo "$PC_PID_MAIN" ;;
    esac
}
pname() { [[ $1 == /_ping ]] && echo ping || echo list; }

log "HTTP: warm-up"
for up in syn dockerd; do
    for t in $(http_targets "$up"); do
        for path in "${PATHS[@]}"; do
            # shellcheck disable=SC2086
            timeout 60 oha --no-tui --output-format json -c 4 -n 200 ${OHA_ARGS[$up/$t]} "${BASE[$up/$t]}$path" >"$T/oha.json" 2>"$T/oha.err" ||
                die "oha warm-up against $t ($up$path) failed: $(tail -n 5 "$T/oha.err")"
            oha_parse "$T/oha.json" >/dev/null 2>"$T/parse.err" ||
                die "warm-up against $t ($up$path): $(tail -n 1 "$T/parse.err")"
        done
    done
done
for ((round = 1; round <= HTTP_ROUNDS; round++)); do
    for up in syn dockerd; do
        log "HTTP round $round/$HTTP_ROUNDS: $up upstream (${HTTP_SECS}s per run)"
        for path in "${PATHS[@]}"; do
            for c in 1 32; do
                for t in $(http_targets "$up"); do
                    pids=$(proxy_pids "$up" "$t")
                    # shellcheck disable=SC2086
                    [[ -n $pids ]] && cpu0=$(cpu_ticks $pids)
                    json=$(oha_run "$up" "$t" "$path" "$c" "$HTTP_SECS")
                    vals=$(oha_parse "$json" 2>"$T/parse.err") ||
                        die "$t ($up $path c=$c): $(tail -n 1 "$T/parse.err")"
                    read -r rps p50 p99 requests <<<"$vals"
                    key=http/$up/$(pname "$path")/c$c/$t
                    record "$key/rps" "$rps"
                    record "$key/p50" "$p50"
                    record "$key/p99" "$p99"
                    if [[ -n $pids ]]; then
                        # shellcheck disable=SC2086
                        cpu1=$(cpu_ticks $pids)
                        record "$key/cpu_us" "$(awk -v t=$((cpu1 - cpu0)) -v hz="$CLK_TCK" -v n="$requests" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
                    fi
                done
            done
        done
    done
done

# ---------------------------------------------------------------------------
# 2. Container create + remove cycles on dockerd
# ---------------------------------------------------------------------------
cycle_once() { # cycle_once TARGET SECONDS -> ops/s
    local out rate
    # shellcheck disable=SC2046
    out=$(timeout $(($2 + 120)) python3 "$HERE/dockerapi.py" cycle $(api_target "$1") \
        --seconds "$2" --image bench:latest 2>&1) ||
        die "create+remove through $1 failed: $out"
    rate=$(sed -n 's/.*"ops_per_sec": \([0-9.]*\).*/\1/p' <<<"$out")
    [[ -n $rate ]] || die "create+remove through $1: unexpected output: $out"
    echo "$rate"
}
# cycle_rounds KEY TARGET...: CYCLE_ROUNDS rounds, recorded as KEY/TARGET. An unrecorded
# second on the unix socket comes first, and every other round runs the targets in
# reverse order, so that no target is always the first or the last of a phase.
cycle_rounds() {
    local key=$1 round i t rate
    shift
    local targets=("$@")
    cycle_once direct 1 >/dev/null
    for ((round = 1; round <= CYCLE_ROUNDS; round++)); do
        log "$key: create+remove round $round/$CYCLE_ROUNDS (${CYCLE_SECS}s per target)"
        for ((i = 0; i < ${#targets[@]}; i++)); do
            if ((round % 2)); then t=${targets[i]}; else t=${targets[${#targets[@]} - 1 - i]}; fi
            rate=$(cycle_once "$t" "$CYCLE_SECS") # a failure here ends the script (set -e)
            record "$key/$t" "$rate"
        done
    done
}
cycle_rounds cycle "${STREAM_TARGETS[@]}"

# ---------------------------------------------------------------------------
# 3. Exec streams (hijacked, through the docker CLI); memory and CPU of the proxies
# ---------------------------------------------------------------------------
SAMPLER=""
start_sampler() { # start_sampler PID FILE: VmRSS every 50 ms
    (while kill -0 "$1" 2>/dev/null; do
        awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null
        sleep 0.05
    done) >"$2" &
    SAMPLER=$!
    PIDS+=("$SAMPLER")
}
stop_sampler() { stop_pid "$SAMPLER" 2; }

declare -A CPU_TICKS STREAMED
RSS_DELTA_MAX=0
RSS_SAMPLES=0
mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", b / s / 1e6 }'; }

# stream DIRECTION TARGET: runs one exec stream of STREAM_BYTES, records MB/s or "lost".
stream() {
    local dir=$1 t=$2 got t0 t1 before=0 cpu0=0 cpu1 pids=""
    case $t in
        pc | pc-tls)
            [[ $t == pc ]] && pids=${PC_PID[d]} || pids=$PC_PID_MAIN
            before=$(vm_kib "$pids" VmRSS)
            start_sampler "$pids" "$T/rss.samples"
            ;;
        nginx | nginx-tls) pids=$(nginx_pids) ;;
    esac
    # shellcheck disable=SC2086
    [[ -n $pids ]] && cpu0=$(cpu_ticks $pids)
    local sys0 sys1
    sys0=$(sys_ticks)
    t0=$(now)
    if [[ $dir == out ]]; then
        # shellcheck disable=SC2046
        got=$(timeout "$STREAM_TIMEOUT" env $(cli_env "$t") docker exec "$CTR" head -c "$STREAM_BYTES" /dev/zero 2>"$T/stream.err" |
            timeout "$STREAM_TIMEOUT" wc -c) || true
    else
        # shellcheck disable=SC2046
        got=$(head -c "$STREAM_BYTES" /dev/zero |
            timeout "$STREAM_TIMEOUT" env $(cli_env "$t") docker exec -i "$CTR" sh -c 'cat | wc -c' 2>"$T/stream.err") || true
    fi
    t1=$(now)
    sys1=$(sys_ticks)
    record "busy-exec-$dir/$t" "$(busy_pct "$sys0" "$sys1")"
    got=${got//[[:space:]]/}
    # shellcheck disable=SC2086
    [[ -n $pids ]] && cpu1=$(cpu_ticks $pids)
    if [[ $t == pc* ]]; then
        stop_sampler
        local max
        max=$(sort -n "$T/rss.samples" | tail -n 1)
        [[ -n $max ]] || die "no VmRSS samples of Portcullis during the stream"
        RSS_SAMPLES=$((RSS_SAMPLES + $(wc -l <"$T/rss.samples")))
        ((max - before > RSS_DELTA_MAX)) && RSS_DELTA_MAX=$((max - before))
    fi
    if [[ $got != "$STREAM_BYTES" ]]; then
        if [[ $t == nginx* ]]; then
            log "exec $dir through nginx: received ${got:-0} of $STREAM_BYTES bytes (lost data): $(tail -n 2 "$T/stream.err" | tr '\n' ' ')"
            record "exec-$dir/$t" "lost"
            return 0
        fi
        die "exec $dir through $t delivered ${got:-0} of $STREAM_BYTES bytes: $(tail -n 5 "$T/stream.err")"
    fi
    record "exec-$dir/$t" "$(mbps "$STREAM_BYTES" "$(elapsed "$t0" "$t1")")"
    if [[ -n $pids ]]; then
        CPU_TICKS[$t]=$((${CPU_TICKS[$t]:-0} + cpu1 - cpu0))
        STREAMED[$t]=$((${STREAMED[$t]:-0} + STREAM_BYTES))
    fi
}
# After a stream that a proxy dropped, the exec'd process goes on writing (dockerd
# drains it) and would slow down the next measurement: stop it, and wait until only
# the container's own `sleep` is left.
quiesce() {
    local i
    timeout 30 docker -H "unix://$T/docker.sock" exec "$CTR" sh -c 'pkill -x head; pkill -x cat; pkill -x wc; true' >/dev/null 2>&1 || true
    for ((i = 0; i < 300; i++)); do
        [[ $(timeout 30 docker -H "unix://$T/docker.sock" top "$CTR" 2>/dev/null | wc -l) == 2 ]] && return 0
        sleep 0.1
    done
    die "exec processes are still running in the test container 30s after a stream"
}
for ((round = 1; round <= STREAM_ROUNDS; round++)); do
    for dir in out in; do
        for t in "${STREAM_TARGETS[@]}"; do
            log "exec stream $dir, $((STREAM_BYTES >> 20)) MiB, $t (round $round/$STREAM_ROUNDS)"
            stream "$dir" "$t"
            quiesce
        done
    done
done
record "rss-stream-delta" "$RSS_DELTA_MAX"
log "Portcullis VmRSS during the streams: $RSS_SAMPLES samples, largest growth $RSS_DELTA_MAX KiB"
cpu_per_gib() { awk -v t="$1" -v hz="$CLK_TCK" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", t / hz / (b / 1073741824); else print "n/a" }'; }
for t in nginx pc nginx-tls pc-tls; do
    record "cpu-per-gib/$t" "$(cpu_per_gib "${CPU_TICKS[$t]:-0}" "${STREAMED[$t]:-0}")"
done

# ---------------------------------------------------------------------------
# 4. docker cp out of and into the container
# ---------------------------------------------------------------------------
log "docker cp: preparing a $((CP_BYTES / 1000000)) MB file"
timeout "$CP_TIMEOUT" docker -H "unix://$T/docker.sock" exec "$CTR" sh -c "head -c $CP_BYTES /dev/zero > /tmp/big" ||
    die "cannot create the file to copy in the container"
head -c "$CP_BYTES" /dev/zero >"$T/big" || die "cannot create $T/big"
# Over TCP (the daemon's mTLS, nginx, Portcullis) the docker CLI asks for gzip (Go's
# HTTP transport adds `Accept-Encoding: gzip`; the CLI turns that off only for unix
# sockets), and dockerd then compresses `docker cp` out: the daemon's own mTLS is the
# like-for-like anchor of the copy out, the unix socket is not.
# How busy the machine was during a copy, and the proxy's own CPU per GB copied: on two
# shared cores a copy that already keeps both busy directly can only slow down when a
# third process (any proxy) joins the path.
cp_pids() {
    case $1 in
        pc) echo "${PC_PID[d]}" ;;
        pc-tls) echo "$PC_PID_MAIN" ;;
        nginx | nginx-tls) nginx_pids ;;
    esac
}
cp_start() {
    CP_SYS0=$(sys_ticks)
    local pids
    pids=$(cp_pids "$1")
    CP_CPU0=0
    # shellcheck disable=SC2086
    if [[ -n $pids ]]; then CP_CPU0=$(cpu_ticks $pids); fi
}
cp_end() { # cp_end DIRECTION TARGET
    record "busy-cp-$1/$2" "$(busy_pct "$CP_SYS0" "$(sys_ticks)")"
    local pids
    pids=$(cp_pids "$2")
    if [[ -n $pids ]]; then
        # shellcheck disable=SC2086
        record "cpu-per-gb-cp-$1/$2" "$(awk -v t="$(($(cpu_ticks $pids) - CP_CPU0))" -v hz="$CLK_TCK" -v b="$CP_BYTES" 'BEGIN { printf "%.2f", t / hz / (b / 1e9) }')"
    fi
}
for ((round = 1; round <= CP_ROUNDS; round++)); do
    for t in "${STREAM_TARGETS[@]}"; do
        log "docker cp out, $t (round $round/$CP_ROUNDS)"
        rm -rf "$T/cpout" && mkdir "$T/cpout"
        cp_start "$t"
        t0=$(now)
        # shellcheck disable=SC2046
        timeout "$CP_TIMEOUT" env $(cli_env "$t") docker cp "$CTR:/tmp/big" "$T/cpout/big" >"$T/cp.err" 2>&1 ||
            die "docker cp out through $t failed: $(tail -n 5 "$T/cp.err")"
        t1=$(now)
        cp_end out "$t"
        size=$(stat -c %s "$T/cpout/big" 2>/dev/null || echo 0)
        [[ $size == "$CP_BYTES" ]] || die "docker cp out through $t: got $size of $CP_BYTES bytes"
        record "cp-out/$t" "$(mbps "$CP_BYTES" "$(elapsed "$t0" "$t1")")"
        rm -rf "$T/cpout"

        log "docker cp in, $t (round $round/$CP_ROUNDS)"
        timeout 60 docker -H "unix://$T/docker.sock" exec "$CTR" rm -f /tmp/in >/dev/null 2>&1 || true
        cp_start "$t"
        t0=$(now)
        # shellcheck disable=SC2046
        timeout "$CP_TIMEOUT" env $(cli_env "$t") docker cp "$T/big" "$CTR:/tmp/in" >"$T/cp.err" 2>&1 ||
            die "docker cp in through $t failed: $(tail -n 5 "$T/cp.err")"
        t1=$(now)
        cp_end in "$t"
        size=$(timeout 60 docker -H "unix://$T/docker.sock" exec "$CTR" stat -c %s /tmp/in 2>/dev/null || echo 0)
        [[ $size == "$CP_BYTES" ]] || die "docker cp in through $t: the container has $size of $CP_BYTES bytes"
        record "cp-in/$t" "$(mbps "$CP_BYTES" "$(elapsed "$t0" "$t1")")"
    done
done
timeout 60 docker -H "unix://$T/docker.sock" exec "$CTR" rm -f /tmp/in /tmp/big >/dev/null 2>&1 || true
rm -f "$T/big"

# ---------------------------------------------------------------------------
# 5. Tenants (issue 17): one tenant's list on a daemon of TENANTS x TENANT_CTRS
#    containers, and the cost of quota lookups on create
# ---------------------------------------------------------------------------
log "tenants: creating $((TENANTS * TENANT_CTRS)) containers of $TENANTS tenants (one running each)"
timeout 600 python3 "$HERE/dockerapi.py" populate --target "unix:$T/docker.sock" --image bench:latest \
    --tenants "$TENANTS" --per-tenant "$TENANT_CTRS" --running 1 >"$T/populate.out" 2>&1 ||
    die "creating the tenants' containers failed: $(tail -n 5 "$T/populate.out")"
# The daemon's own label filter, as a client asking directly would send it.
OWNER_FILTER=$(python3 -c 'import json, urllib.parse; print(urllib.parse.quote(json.dumps({"label": ["io.portcullis.owner=tenant3"]}, separators=(",", ":")), safe=""))')
TENANT_TLS_ARGS=(--cacert "$TENANT_CLIENT/ca.pem" --cert "$TENANT_CLIENT/cert.pem" --key "$TENANT_CLIENT/key.pem")
set_target ten direct "http://localhost" --unix-socket "$T/docker.sock"
set_target ten dtls "https://127.0.0.1:$P_DTLS" "${TLS_ARGS[@]}"
set_target ten pc-ten "https://${PC_ADDR[ten]}" "${TENANT_TLS_ARGS[@]}"
TENANT_TARGETS=(direct dtls pc-ten)
tenant_path() { # tenant_path list|listall TARGET -> the request path
    local all=""
    [[ $1 == listall ]] && all="all=1&"
    if [[ $2 == pc-ten ]]; then
        [[ -n $all ]] && echo "/containers/json?all=1" || echo "/containers/json"
    else
        echo "/containers/json?${all}filters=$OWNER_FILTER"
    fi
}
# Every path answers exactly tenant3's containers: all of them, or its running one.
for q in list listall; do
    want=1
    [[ $q == listall ]] && want=$TENANT_CTRS
    for t in "${TENANT_TARGETS[@]}"; do
        # shellcheck disable=SC2086
        timeout 60 oha --no-tui --output-format json -n 1 -c 1 ${OHA_ARGS[ten/$t]} "${BASE[ten/$t]}$(tenant_path "$q" "$t")" >"$T/oha.json" 2>"$T/oha.err" ||
            die "oha against $t (tenant $q) failed: $(tail -n 5 "$T/oha.err")"
        oha_parse "$T/oha.json" >/dev/null 2>"$T/parse.err" || die "tenant $q through $t: $(tail -n 1 "$T/parse.err")"
        curl_args=(--unix-socket "$T/docker.sock")
        case $t in
            dtls) curl_args=(--cacert "$CLIENT/ca.pem" --cert "$CLIENT/cert.pem" --key "$CLIENT/key.pem") ;;
            pc-ten) curl_args=("${TENANT_TLS_ARGS[@]}") ;;
        esac
        timeout 60 curl -sf --max-time 30 "${curl_args[@]}" "${BASE[ten/$t]}$(tenant_path "$q" "$t")" >"$T/list.json" ||
            die "GET /containers/json (tenant $q) through $t failed"
        python3 - "$T/list.json" "$want" <<'EOF' || die "tenant $q through $t: wrong answer"
import json, sys
rows = json.load(open(sys.argv[1]))
owners = {(r.get("Labels") or {}).get("io.portcullis.owner") for r in rows}
if len(rows) != int(sys.argv[2]) or owners - {"tenant3"}:
    sys.exit(f"{len(rows)} containers (want {sys.argv[2]}) of owners {sorted(map(str, owners))}")
EOF
    done
done
for ((round = 1; round <= TENANT_ROUNDS; round++)); do
    log "tenants: HTTP round $round/$TENANT_ROUNDS (${HTTP_SECS}s per run)"
    for q in list listall; do
        for c in 1 32; do
            for t in "${TENANT_TARGETS[@]}"; do
                json=$(oha_run ten "$t" "$(tenant_path "$q" "$t")" "$c" "$HTTP_SECS")
                vals=$(oha_parse "$json" 2>"$T/parse.err") ||
                    die "$t (tenant $q c=$c): $(tail -n 1 "$T/parse.err")"
                read -r rps p50 p99 _ <<<"$vals"
                key=http/ten/$q/c$c/$t
                record "$key/rps" "$rps"
                record "$key/p50" "$p50"
                record "$key/p99" "$p99"
            done
        done
    done
done
# The quota is counted: tenant3 holds TENANT_CTRS containers, its quota is one more.
# shellcheck disable=SC2046
QCTR=$(timeout 60 env $(cli_env pc-tq) docker create --network none bench:latest true 2>"$T/quota.err") ||
    die "the last create within tenant3's quota was refused: $(tail -n 3 "$T/quota.err")"
# shellcheck disable=SC2046
if timeout 60 env $(cli_env pc-tq) docker create --network none bench:latest true >/dev/null 2>"$T/quota.err"; then
    die "a create beyond tenant3's quota of $((TENANT_CTRS + 1)) containers was allowed"
fi
grep -q 'PC-1043' "$T/quota.err" || die "a create beyond the quota failed without PC-1043: $(tail -n 3 "$T/quota.err")"
# shellcheck disable=SC2046
timeout 60 env $(cli_env pc-tq) docker rm "$QCTR" >/dev/null 2>"$T/quota.err" ||
    die "tenant3 could not remove its own container: $(tail -n 3 "$T/quota.err")"
cycle_rounds tcycle dtls pc-ten pc-tq

# ---------------------------------------------------------------------------
# 6. Idle attach sessions with mutual TLS: memory per session
# ---------------------------------------------------------------------------
attach_sessions() { # attach_sessions TARGET PIDS...
    local t=$1 before with n alive out=$T/attach-$1.out
    shift
    rm -f "$T/attach.stop"
    sleep 1
    before=$(rss_sum "$@")
    log "attach: opening $SESSIONS idle sessions through $t"
    # shellcheck disable=SC2046
    timeout 400 python3 "$HERE/dockerapi.py" attach $(api_target "$t") --container "$CTR" \
        --sessions "$SESSIONS" --stop-file "$T/attach.stop" --hold 300 >"$out" 2>&1 &
    local apid=$!
    PIDS+=("$apid")
    for ((i = 0; i < 1800; i++)); do
        grep -q '^ready' "$out" && break
        kill -0 "$apid" 2>/dev/null || die "attach client through $t failed: $(tail -n 5 "$out")"
        sleep 0.1
    done
    grep -q '^ready' "$out" || die "attach sessions through $t did not open within 180s"
    sleep 2
    with=$(rss_sum "$@")
    touch "$T/attach.stop"
    wait "$apid" || die "attach client through $t failed: $(tail -n 5 "$out")"
    alive=$(sed -n 's/^alive //p' "$out")
    [[ $alive == "$SESSIONS" ]] || die "only ${alive:-0} of $SESSIONS attach sessions through $t stayed open"
    record "attach-kib/$t" "$(awk -v a="$before" -v b="$with" -v n="$SESSIONS" 'BEGIN { printf "%.1f", (b - a) / n }')"
    record "attach-rss/$t" "$before $with"
}
# A fresh Portcullis (mTLS, dockerd upstream) so that freed buffers from the runs
# above cannot absorb the sessions' memory.
start_portcullis att "$T/docker.sock" tls
attach_sessions pc-att "${PC_PID[att]}"
# shellcheck disable=SC2046
attach_sessions nginx-tls $(nginx_pids)
record "rss-end" "$(vm_kib "$PC_PID_MAIN" VmRSS)"
record "hwm-end" "$(vm_kib "$PC_PID_MAIN" VmHWM)"
record "attach-hwm" "$(vm_kib "${PC_PID[att]}" VmHWM)"

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
CPU_MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
{
    echo "mode=$MODE"
    echo "command=$COMMAND"
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "machine=$(nproc) CPUs ($CPU_MODEL), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r)"
    echo "software=portcullis $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?'), dockerd $(dockerd --version | awk '{ print $3 }' | tr -d ,), docker CLI $(docker --version | awk '{ print $3 }' | tr -d ,), $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(oha --version)"
    echo "load=$LOAD"
    echo "sizes=HTTP ${HTTP_SECS}s x $HTTP_ROUNDS rounds (tenant rows x $TENANT_ROUNDS); create+remove ${CYCLE_SECS}s x $CYCLE_ROUNDS; exec streams $((STREAM_BYTES >> 20)) MiB x $STREAM_ROUNDS; docker cp $((CP_BYTES / 1000000)) MB x $CP_ROUNDS; $SESSIONS attach sessions"
    echo "tenants=$((TENANTS * TENANT_CTRS)) containers of $TENANTS tenants ($TENANT_CTRS each, one of them running) on the daemon"
    echo "elapsed=$(($(date +%s) - START_SECS))"
} >"$T/meta"
if [[ -n $RAW ]]; then
    { cat "$RESULTS"; sed 's/^/meta:/' "$T/meta"; } >"$RAW" || die "cannot write $RAW"
    log "raw results written to $RAW (re-render: python3 benches/load/report.py --raw $RAW)"
fi
python3 "$HERE/report.py" "$RESULTS" "$T/meta" >"$T/table.md" || die "report.py failed"
cat "$T/table.md"
if [[ -n $OUT ]]; then
    cp "$T/table.md" "$OUT" || die "cannot write $OUT"
    log "table written to $OUT"
fi
log "done in $(($(date +%s) - START_SECS))s"
