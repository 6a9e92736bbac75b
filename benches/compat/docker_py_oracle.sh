#!/usr/bin/env bash
# Compatibility oracle: docker-py's own integration tests, direct and through Portcullis.
#
#   benches/compat/docker_py_oracle.sh DOCKER_PY_CHECKOUT [--only FILE_OR_NODE]... [--out FILE]
#
# Starts a private dockerd (own sockets, data and exec root) and one Portcullis with
# throwaway mutual-TLS certificates and two policies: policies/permissive.toml (audit
# only, for the client certificate with O=auditors) and policies/default.toml (every
# other client). The images the tests expect (alpine:3.10, alpine:latest, busybox:latest,
# hello-world:latest) are tagged from one busybox rootfs made with `docker import`.
# Then docker-py's tests/integration (swarm, service, secret, config, node and plugin
# files excluded: they need a swarm or the internet) run with pytest three ways:
#   direct     dockerd's own mutual-TLS listener (same CA and client certificate as
#              the audit run, so the SDK environment differs only in DOCKER_HOST)
#   audit      through Portcullis, permissive (audit-only) policy
#   default    through Portcullis, default policy
# and the per-test outcomes are compared; every test whose outcome differs from the
# direct run is printed, with the first line of its failure.
# ORACLE_UNIX=1 adds a fourth run, direct on the unix socket (`unix` in the table).
# PORTCULLIS_BIN=path uses that binary (else `cargo build` debug in this worktree).
# DOCKER_TEST_API_VERSION defaults to 1.41 (the daemon here is 20.10).
set -euo pipefail
usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; }
[[ $# -ge 1 ]] || { usage; exit 2; }
PY=$(cd "$1" && pwd); shift
ONLY=(); OUT=""
while (($#)); do
    case $1 in
        --only) ONLY+=("$2"); shift ;;
        --out) OUT=$2; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
[[ -d $PY/tests/integration ]] || { echo "$PY is not a docker-py checkout" >&2; exit 2; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
python3 -c 'import pytest' 2>/dev/null || pip install -q pytest pytest-timeout
python3 -c "import pytest_timeout, paramiko, websocket" 2>/dev/null || pip install -q pytest-timeout paramiko websocket-client

if [[ -n ${PORTCULLIS_BIN:-} ]]; then
    PORTCULLIS=$PORTCULLIS_BIN
else
    (cd "$ROOT" && cargo build --quiet --bin portcullis)
    PORTCULLIS=${CARGO_TARGET_DIR:-$ROOT/target}/debug/portcullis
fi

T=$(mktemp -d /tmp/pcoracle.XXXXXX)
PIDS=()
cleanup() {
    set +e
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    if [[ -n ${DOCKERD_PID:-} ]]; then
        docker -H "unix://$T/docker.sock" ps -aq 2>/dev/null | xargs -r docker -H "unix://$T/docker.sock" rm -f >/dev/null 2>&1
        kill "$DOCKERD_PID" 2>/dev/null
        for _ in $(seq 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$DOCKERD_PID" 2>/dev/null
    fi
    grep -o "$T[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$T" 2>/dev/null
}
trap cleanup EXIT
wait_for() { # wait_for SECONDS WHAT CMD...
    local n=$1 what=$2; shift 2
    for _ in $(seq $((n * 4))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.25; done
    echo "timed out waiting for $what" >&2; exit 1
}

export DOCKER_CONFIG=$T/cli
# requests lets REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE replace the SDK's ca.pem.
unset DOCKER_HOST DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH REQUESTS_CA_BUNDLE CURL_CA_BUNDLE
mkdir -p "$T/cli" "$T/rootfs/bin" "$T/rootfs/tmp" "$T/rootfs/etc"
"$PORTCULLIS" certs init --dir "$T/certs" >/dev/null
"$PORTCULLIS" certs client auditor --org auditors --dir "$T/certs" >/dev/null
"$PORTCULLIS" certs client tenant --dir "$T/certs" >/dev/null
# dockerd also listens with mutual TLS (Portcullis's server certificate and CA), so the
# direct run uses the same transport and client certificate as the proxied runs.
DPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dockerd --host "unix://$T/docker.sock" --host "tcp://127.0.0.1:$DPORT" --tlsverify \
    --tlscacert "$T/certs/ca.pem" --tlscert "$T/certs/server-cert.pem" \
    --tlskey "$T/certs/server-key.pem" --data-root "$T/data" --exec-root "$T/exec" \
    --pidfile "$T/docker.pid" --iptables=false --ip6tables=false </dev/null >"$T/dockerd.log" 2>&1 &
DOCKERD_PID=$!
wait_for 60 dockerd docker -H "unix://$T/docker.sock" version
wait_for 30 "dockerd's TLS listener" docker -H "tcp://127.0.0.1:$DPORT" --tlsverify \
    --tlscacert "$T/certs/ca.pem" --tlscert "$T/certs/clients/auditor/cert.pem" \
    --tlskey "$T/certs/clients/auditor/key.pem" version
D="docker -H unix://$T/docker.sock"
cp "$(command -v busybox)" "$T/rootfs/bin/busybox"
for a in $("$T/rootfs/bin/busybox" --list); do [[ $a == busybox ]] || ln -s busybox "$T/rootfs/bin/$a"; done
ln -s /bin/true "$T/rootfs/hello"
echo 'root:x:0:0:root:/root:/bin/sh' >"$T/rootfs/etc/passwd"
tar -C "$T/rootfs" -c . | $D import -c 'CMD ["/bin/sh"]' - alpine:3.10 >/dev/null
for tag in alpine:latest busybox:latest hello-world:latest; do $D tag alpine:3.10 "$tag"; done

mkdir -p "$T/policy"
cp "$ROOT/policies/permissive.toml" "$ROOT/policies/default.toml" "$T/policy/"
NO_COLOR=1 RUST_LOG=${RUST_LOG:-info} "$PORTCULLIS" serve --listen tcp://127.0.0.1:0 \
    --upstream "unix://$T/docker.sock" --policy "$T/policy" --ready-file "$T/pc.ready" \
    --admin-listen off --audit-log "$T/pc.audit" --data-dir "$T/pcdata" \
    --tls-cert "$T/certs/server-cert.pem" --tls-key "$T/certs/server-key.pem" \
    --tls-client-ca "$T/certs/ca.pem" </dev/null >"$T/pc.log" 2>&1 &
PIDS+=($!)
wait_for 60 Portcullis grep -q '^tcp://' "$T/pc.ready"
ADDR=$(sed -n 's#^tcp://##p' "$T/pc.ready" | head -n1)

TESTS=()
if ((${#ONLY[@]})); then
    TESTS=("${ONLY[@]}")
else
    for f in "$PY"/tests/integration/*_test.py; do
        case $(basename "$f") in
            *swarm*|*service*|*secret*|*config_test*|*nodes*|*plugin*) ;;
            *) TESTS+=("tests/integration/$(basename "$f")") ;;
        esac
    done
fi

run() { # run NAME, with DOCKER_* set by the caller
    echo "== pytest: $1 ($(date -u +%H:%M:%S))" >&2
    # A fresh client config per run: docker-py's context tests leave contexts behind.
    mkdir -p "$T/cli-$1"
    (cd "$PY" && DOCKER_CONFIG=$T/cli-$1 PYTHONPATH=$PY DOCKER_TEST_API_VERSION=${DOCKER_TEST_API_VERSION:-1.41} \
        timeout 3600 python3 -m pytest -p no:cacheprovider -q -x --maxfail=100000 --timeout 120 \
        --junitxml "$T/$1.xml" "${TESTS[@]}" >"$T/$1.out" 2>&1) || true
    tail -n 1 "$T/$1.out" >&2
    # Leave the daemon as the run found it.
    $D ps -aq | xargs -r $D rm -f >/dev/null 2>&1 || true
    $D network prune -f >/dev/null 2>&1 || true
    $D volume prune -f >/dev/null 2>&1 || true
}
DOCKER_HOST=tcp://127.0.0.1:$DPORT DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$T/certs/clients/auditor run direct
[[ ${ORACLE_UNIX:-} != 1 ]] || DOCKER_HOST=unix://$T/docker.sock run unix
DOCKER_HOST=tcp://$ADDR DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$T/certs/clients/auditor run audit
DOCKER_HOST=tcp://$ADDR DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=$T/certs/clients/tenant run default

COMMIT=$(cd "$ROOT" && git rev-parse --short HEAD)$(cd "$ROOT" && git diff --quiet HEAD || echo "+dirty")
python3 "$ROOT/benches/compat/compare.py" "$T" "$COMMIT" "$(cd "$PY" && git rev-parse --short HEAD)" "$T/pc.audit" | tee ${OUT:+"$OUT"}
