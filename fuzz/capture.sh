#!/usr/bin/env bash
# Regenerate the captured part of the fuzz seed corpus from real Docker clients.
#
#   sudo fuzz/capture.sh            # needs root, dockerd, docker, docker-compose (v1),
#                                   # busybox-static and python3 with the `docker` SDK
#                                   # (pip install docker)
#
# A private dockerd runs under a temporary directory (never /var/run/docker.sock).
# A recording relay (fuzz/capture.py) sits in front of it on one unix socket per
# client; the docker CLI, docker-compose and the Python SDK run broad workflows through
# it, and the HTTP requests they sent are written as seeds:
#   corpus/decide/<client>-<sha8>     `METHOD TARGET\n` + JSON body, for every JSON body
#   corpus/json_view/<client>-<sha8>  schema selector byte + body, for container create,
#                                     service create/update, exec create, volume create
#                                     and network create
#   corpus/classify/<client>-<sha8>   `METHOD TARGET`, one per distinct route + query keys
# Earlier captured seeds (<client>-<8 hex>) are replaced; hand-written seeds are kept.
# Container ids and names in paths differ from run to run, so a rerun changes names.
# A failing client step is reported and skipped; the capture still writes what it got.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
corpus="$here/corpus"
py="${PYTHON:-python3}"

need() { command -v "$1" >/dev/null 2>&1 || { echo "capture: $1 not found${2:+ ($2)}" >&2; exit 1; }; }
[ "$(id -u)" = 0 ] || { echo "capture: a private dockerd needs root" >&2; exit 1; }
need dockerd "apt-get install docker.io"
need docker
need docker-compose "apt-get install docker-compose"
need busybox "apt-get install busybox-static"
need "$py"
"$py" -c 'import docker' 2>/dev/null ||
  { echo "capture: $py cannot import docker (pip install docker)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/pccap.XXXXXX)   # short: unix socket paths are limited to 108 bytes
sock="$tmp/docker.sock"
dockerd_pid=""
relay_pid=""
failures=0

cleanup() {
  local status=$?
  set +e
  trap - EXIT INT TERM
  if [ -n "$relay_pid" ]; then kill "$relay_pid" 2>/dev/null; wait "$relay_pid" 2>/dev/null; fi
  if [ -n "$dockerd_pid" ] && kill -0 "$dockerd_pid" 2>/dev/null; then
    timeout 30 docker -H "unix://$sock" swarm leave --force >/dev/null 2>&1
    ids=$(timeout 30 docker -H "unix://$sock" ps -aq 2>/dev/null)
    [ -n "$ids" ] && timeout 60 docker -H "unix://$sock" rm -f $ids >/dev/null 2>&1
    kill -TERM "$dockerd_pid"
    for _ in $(seq 1 200); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$dockerd_pid" 2>/dev/null; then
      echo "capture: dockerd $dockerd_pid ignored SIGTERM; SIGKILL" >&2
      kill -KILL "$dockerd_pid"
    fi
    wait "$dockerd_pid" 2>/dev/null
  fi
  # Mounts dockerd/containerd left under the temp dir, deepest first.
  awk -v d="$tmp" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts |
    sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ private dockerd
mkdir -p "$tmp/cli-config" "$tmp/rec"
export DOCKER_CONFIG="$tmp/cli-config"
unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
dockerd --host "unix://$sock" --data-root "$tmp/data" --exec-root "$tmp/exec" \
  --pidfile "$tmp/docker.pid" </dev/null >"$tmp/dockerd.log" 2>&1 &
dockerd_pid=$!
direct() { timeout 120 docker -H "unix://$sock" "$@"; }
for i in $(seq 1 300); do
  direct version >/dev/null 2>&1 && break
  if ! kill -0 "$dockerd_pid" 2>/dev/null || [ "$i" = 300 ]; then
    echo "capture: dockerd did not come up; log tail:" >&2
    tail -30 "$tmp/dockerd.log" >&2
    exit 1
  fi
  sleep 0.1
done
echo "capture: dockerd $dockerd_pid on $sock"

mkdir -p "$tmp/rootfs/bin" "$tmp/rootfs/tmp"
cp "$(command -v busybox)" "$tmp/rootfs/bin/busybox"
for a in $(busybox --list); do
  [ "$a" = busybox ] || ln -s busybox "$tmp/rootfs/bin/$a"
done
tar -C "$tmp/rootfs" -c . | direct import -c 'CMD ["/bin/sh"]' - busybox:latest >/dev/null

# ------------------------------------------------------------------ recording relay
"$py" "$here/capture.py" relay "$tmp/rec" "$sock" \
  "cli=$tmp/cli.sock" "compose=$tmp/compose.sock" "sdk=$tmp/sdk.sock" \
  >"$tmp/relay.log" 2>&1 &
relay_pid=$!
for i in $(seq 1 100); do
  grep -q ready "$tmp/relay.log" 2>/dev/null && break
  kill -0 "$relay_pid" 2>/dev/null && [ "$i" != 100 ] ||
    { echo "capture: relay failed:" >&2; cat "$tmp/relay.log" >&2; exit 1; }
  sleep 0.1
done

# Run one client step (under a time limit; functions are exported); a failure is reported and counted, never fatal.
step() {
  local out
  if out=$(timeout "${STEP_TIMEOUT:-120}" bash -c '"$@"' _ "$@" </dev/null 2>&1); then return 0; fi
  failures=$((failures + 1))
  echo "capture: step failed: $*" >&2
  printf '%s\n' "$out" | tail -3 | sed 's/^/    /' >&2
}
# A step whose request the daemon is expected to reject (the request is still captured).
try() { timeout 120 bash -c '"$@"' _ "$@" </dev/null >/dev/null 2>&1 || true; }
# Same as step, with stdin from the first argument (a string).
step_in() {
  local input=$1 out; shift
  if out=$(printf '%s' "$input" | timeout 120 bash -c '"$@"' _ "$@" 2>&1); then return 0; fi
  failures=$((failures + 1))
  echo "capture: step failed: $* (with stdin)" >&2
  printf '%s\n' "$out" | tail -3 | sed 's/^/    /' >&2
}
cli() { DOCKER_HOST="unix://$tmp/cli.sock" DOCKER_BUILDKIT=0 docker "$@"; }
compose() { (cd "$tmp/compose" && DOCKER_HOST="unix://$tmp/compose.sock" docker-compose -p pccap "$@"); }
export tmp
export -f cli compose

# ------------------------------------------------------------------ docker CLI
echo "capture: docker CLI workflow"
step cli version
step cli info
step cli volume create --driver local --opt type=tmpfs --opt device=tmpfs \
  --opt o=size=1m,uid=1000 --label team=a --label tier=cache pc-tmpvol
step cli volume create pc-data
step cli volume ls --filter label=team=a
step cli volume inspect pc-data
step cli network create --driver bridge --subnet 10.231.0.0/24 --gateway 10.231.0.1 \
  --ip-range 10.231.0.128/25 --label team=a --attachable \
  --opt com.docker.network.bridge.enable_icc=true --opt com.docker.network.driver.mtu=1400 pc-net
step cli network create --internal --label team=b pc-internal
step cli network ls --filter driver=bridge
step cli network inspect pc-net

# Everything on one container create: the body is captured even if it cannot start.
step cli create --name pc-kitchen \
  -v pc-data:/data -v pc-tmpvol:/cache:ro,nocopy \
  --mount type=volume,src=pc-data,dst=/m,readonly,volume-label=x=y \
  --mount type=tmpfs,dst=/scratch,tmpfs-size=1048576,tmpfs-mode=1770 \
  --mount type=bind,src=/tmp,dst=/hosttmp,readonly \
  -e A=1 -e 'B=two words' --env-file /dev/null \
  -p 127.0.0.1:18080:80 -p 18081:81/udp -p 18082-18083:82-83 --expose 9000 \
  --restart on-failure:3 --cap-drop ALL --cap-add NET_BIND_SERVICE \
  --security-opt no-new-privileges --security-opt label=disable \
  --read-only --tmpfs /run:rw,noexec,nosuid,size=1m \
  --ulimit nofile=1024:2048 --ulimit nproc=512 \
  --memory 64m --memory-reservation 32m --memory-swap 128m --cpus 0.5 --cpu-shares 512 \
  --cpuset-cpus 0 --pids-limit 100 --blkio-weight 300 --shm-size 16m --oom-score-adj 100 \
  --label app=kitchen --label 'note=a "quoted" value' \
  --health-cmd 'test -e /tmp' --health-interval 5s --health-timeout 2s \
  --health-retries 3 --health-start-period 1s \
  --network pc-net --network-alias kitchen --ip 10.231.0.200 \
  --hostname kitchen --domainname example.test --user 1000:1000 --group-add 10 \
  --workdir /tmp --entrypoint /bin/sh --stop-signal SIGUSR1 --stop-timeout 5 \
  --log-driver json-file --log-opt max-size=1m --log-opt max-file=2 \
  --dns 192.0.2.53 --dns-search example.test --dns-option ndots:2 --add-host db.test:192.0.2.10 \
  --init --sysctl net.ipv4.ip_unprivileged_port_start=0 --tty --interactive --attach stdout \
  busybox:latest -c 'sleep 300'
step cli start pc-kitchen
step cli rm -f pc-kitchen

# Host-access requests the daemon accepts (created only; a policy should deny them).
step cli create --name pc-priv --privileged busybox:latest sleep 300
step cli create --name pc-caps --cap-add SYS_ADMIN --cap-add NET_ADMIN --cap-add ALL \
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined busybox:latest true
step cli create --name pc-hostnet --net host busybox:latest true
step cli create --name pc-hostns --pid host --ipc host --uts host --userns host \
  --cgroupns host busybox:latest true
step cli create --name pc-rootbind -v /:/host -v /etc:/hostetc:ro busybox:latest true
# The daemon rejects a missing bind source (no docker.sock here); the body is captured.
try cli create --name pc-sock --mount type=bind,src=/var/run/docker.sock,dst=/var/run/docker.sock \
  busybox:latest true
step cli create --name pc-rootmount --mount type=bind,src=/,dst=/host,bind-propagation=rshared \
  --device-cgroup-rule 'c 1:3 rwm' --oom-kill-disable busybox:latest true
step cli create --name pc-from --volumes-from pc-rootbind:ro --network container:pc-hostnet \
  busybox:latest true
step cli rm -f pc-priv pc-caps pc-hostnet pc-hostns pc-rootbind pc-rootmount pc-from

# A container that runs, for the lifecycle commands.
step cli run --rm busybox:latest echo hello
step cli run -d --name pc-app --network pc-net -v pc-data:/data -e MODE=test \
  --label app=pc --restart unless-stopped --cap-drop ALL --security-opt no-new-privileges \
  busybox:latest sleep 300
step cli run -d --name pc-ports -p 127.0.0.1:18090:80 --read-only --tmpfs /tmp \
  --ulimit nofile=512:512 --memory 64m --pids-limit 50 busybox:latest sleep 300
step cli exec pc-app ls /data
step_in "from stdin" cli exec -i pc-app cat
step cli exec -d -e X=1 -u 0 -w /tmp pc-app touch /tmp/flag
try cli exec --privileged pc-app true   # caps cannot be applied in some sandboxes
step cli logs pc-app
step cli logs --tail 5 --timestamps --since 1h pc-app
echo "copied" >"$tmp/copyme.txt"
step cli cp "$tmp/copyme.txt" pc-app:/tmp/copyme.txt
step cli cp pc-app:/tmp/copyme.txt "$tmp/copied.txt"
step cli ps
step cli ps -a --filter label=app=pc --filter status=running --format '{{.ID}} {{.Names}}'
step cli inspect pc-app
step cli container inspect --size pc-app
step cli top pc-app
step cli stats --no-stream pc-app
step cli port pc-ports
step cli diff pc-app
step cli update --cpu-shares 256 --restart no --memory 128m --memory-swap 256m pc-ports
step cli network connect --alias second --ip 10.231.0.201 pc-net pc-ports
step cli network disconnect pc-net pc-ports
step cli rename pc-ports pc-ports2
step cli pause pc-app
step cli unpause pc-app
step cli commit -c 'ENV COMMITTED=1' -c 'LABEL snap=1' -m snapshot pc-app pc-snap:1
step cli restart -t 1 pc-app
step cli kill -s SIGHUP pc-app
step cli stop -t 1 pc-app pc-ports2
step cli wait pc-app
step cli rm -v pc-app pc-ports2
step cli container prune -f --filter until=1h
step cli events --since 1m --until 0s --filter type=container

# Images and a legacy build.
step cli tag busybox:latest registry.example:5000/team/bb:1
step cli image inspect registry.example:5000/team/bb:1
step cli history busybox:latest
step cli images --filter reference='busybox*' --digests
step cli save -o "$tmp/bb.tar" busybox:latest
step cli load -i "$tmp/bb.tar"
mkdir -p "$tmp/build"
printf '%s\n' 'FROM busybox:latest' 'ARG GREETING=hi' 'ENV APP=pc' 'LABEL team=a' \
  'RUN echo "$GREETING" > /greeting' 'COPY hello.txt /hello.txt' 'USER 1000' \
  'HEALTHCHECK CMD test -e /greeting' 'CMD ["cat", "/greeting"]' >"$tmp/build/Dockerfile"
echo hello >"$tmp/build/hello.txt"
step cli build -t pc-build:1 --build-arg GREETING=hello --label built=capture \
  --no-cache --rm --network none "$tmp/build"
step cli rmi registry.example:5000/team/bb:1 pc-build:1 pc-snap:1
step cli image prune -f
step cli system df

# Swarm mode: services, secrets, configs, a stack.
step cli swarm init --advertise-addr 127.0.0.1 --listen-addr 127.0.0.1:2377
step cli node ls
step cli node update --label-add zone=a --availability active "$(direct info -f '{{.Swarm.NodeID}}')"
echo s3cret >"$tmp/secret.txt"
step cli secret create --label team=a pc-secret "$tmp/secret.txt"
step cli config create pc-config "$tmp/secret.txt"
step cli network create -d overlay --attachable --label team=a pc-overlay
step cli service create -d --no-resolve-image --name pc-svc --replicas 2 \
  -e A=1 --env B=2 --label team=a --container-label c=d \
  --mount type=volume,src=pc-svcvol,dst=/data,volume-driver=local \
  --mount type=tmpfs,dst=/scratch,tmpfs-size=1048576 \
  --publish published=18100,target=80,protocol=tcp,mode=ingress \
  --limit-memory 64m --limit-cpu 0.5 --reserve-memory 16m --reserve-cpu 0.1 \
  --limit-pids 100 --restart-condition on-failure --restart-max-attempts 3 \
  --restart-delay 5s --update-parallelism 1 --update-delay 2s --update-order start-first \
  --rollback-parallelism 1 --constraint node.role==manager --placement-pref spread=node.id \
  --cap-drop ALL --cap-add NET_BIND_SERVICE --user 1000 --workdir /tmp --hostname svc \
  --read-only --health-cmd 'true' --health-interval 10s --stop-signal SIGTERM \
  --secret source=pc-secret,target=app-secret,mode=0400 --config pc-config \
  --network pc-overlay --dns 192.0.2.53 --ulimit nofile=1024:2048 --sysctl net.core.somaxconn=1024 \
  --log-driver json-file --log-opt max-size=1m --init \
  busybox:latest sleep 300
step cli service create -d --no-resolve-image --name pc-host --mode global \
  --mount type=bind,src=/,dst=/host --mount type=bind,src=/var/run/docker.sock,dst=/run/docker.sock \
  --network host --cap-add ALL busybox:latest sleep 300
step cli service create -d --no-resolve-image --name pc-job --mode replicated-job \
  --max-concurrent 1 busybox:latest true
step cli service ls
step cli service ps pc-svc
step cli service inspect pc-svc
step cli service update -d --no-resolve-image --image busybox:latest --env-add C=3 \
  --env-rm A --label-add x=y --mount-add type=volume,src=pc-extra,dst=/extra \
  --publish-rm 18100 --limit-memory 128m --cap-add CHOWN --force pc-svc
step cli service scale -d pc-svc=1
step cli service rollback -d pc-svc
step cli service logs --tail 5 pc-svc
mkdir -p "$tmp/stack"
cat >"$tmp/stack/stack.yml" <<'YAML'
version: "3.8"
services:
  web:
    image: busybox:latest
    command: sleep 300
    environment: [MODE=stack]
    ports: ["18110:80"]
    volumes: ["stackdata:/data", "/tmp:/hosttmp:ro"]
    networks: [front]
    cap_drop: [ALL]
    deploy:
      replicas: 1
      resources: {limits: {cpus: "0.5", memory: 64M}}
      restart_policy: {condition: on-failure}
      labels: [team=a]
networks:
  front: {driver: overlay, attachable: true}
volumes:
  stackdata: {driver: local}
YAML
step cli stack deploy --resolve-image never -c "$tmp/stack/stack.yml" pcstack
step cli stack services pcstack
step cli stack rm pcstack
step cli service rm pc-svc pc-host pc-job
step cli secret rm pc-secret
step cli config rm pc-config
step cli network rm pc-overlay
step cli swarm leave --force

step cli network rm pc-net pc-internal
step cli volume rm pc-tmpvol
step cli volume prune -f
step cli network prune -f

# ------------------------------------------------------------------ docker-compose v1
echo "capture: docker-compose workflow"
mkdir -p "$tmp/compose/cfg" "$tmp/compose/ctx"
echo "key=value" >"$tmp/compose/cfg/app.conf"
printf '%s\n' 'FROM busybox:latest' 'RUN echo built > /built' 'CMD ["sleep", "300"]' \
  >"$tmp/compose/ctx/Dockerfile"
cat >"$tmp/compose/docker-compose.yml" <<'YAML'
version: "2.4"
services:
  web:
    image: busybox:latest
    command: ["sleep", "300"]
    depends_on: [db]
    volumes:
      - data:/data
      - ./cfg:/cfg:ro
      - type: tmpfs
        target: /scratch
    tmpfs: [/run]
    networks:
      front:
        aliases: [www]
      back: {}
    environment:
      MODE: compose
      EMPTY: ""
    env_file: []
    ports: ["127.0.0.1:18120:80", "18121:81/udp"]
    expose: ["9000"]
    cap_drop: [ALL]
    cap_add: [NET_BIND_SERVICE]
    security_opt: ["no-new-privileges:true"]
    read_only: true
    restart: unless-stopped
    labels: {team: a, tier: web}
    healthcheck:
      test: ["CMD", "test", "-e", "/data"]
      interval: 10s
      timeout: 2s
      retries: 3
    mem_limit: 64m
    cpus: 0.5
    pids_limit: 100
    ulimits:
      nofile: {soft: 1024, hard: 2048}
    user: "1000:1000"
    working_dir: /tmp
    hostname: web
    extra_hosts: ["db.test:192.0.2.10"]
    logging:
      driver: json-file
      options: {max-size: 1m}
  db:
    image: busybox:latest
    command: sleep 300
    volumes: ["db:/var/lib/db"]
    networks: [back]
    stop_signal: SIGTERM
    init: true
  built:
    build:
      context: ./ctx
      args: {GREETING: hi}
      labels: {built: compose}
    image: pccap-built:1
    networks: [back]
networks:
  front:
    driver: bridge
    ipam:
      config: [{subnet: 10.232.0.0/24}]
    labels: {team: a}
  back:
    internal: true
volumes:
  data:
    driver: local
    driver_opts: {type: tmpfs, device: tmpfs, o: size=1m}
  db:
    labels: {team: a}
YAML
step compose config -q
step compose build
step compose up -d
step compose ps
step compose exec -T web ls /data
step compose run --rm -T db echo one-off
step compose logs --tail 5
step compose restart -t 1 db
step compose stop -t 1
step compose down -v --rmi local -t 1

# ------------------------------------------------------------------ Python SDK
echo "capture: Python docker SDK workflow"
STEP_TIMEOUT=600 step "$py" "$here/capture.py" sdk "unix://$tmp/sdk.sock" 18130

# ------------------------------------------------------------------ corpus
kill "$relay_pid"; wait "$relay_pid" 2>/dev/null || true; relay_pid=""
"$py" "$here/capture.py" corpus "$tmp/rec" "$corpus"
for t in decide json_view classify; do
  echo "capture: corpus/$t: $(ls "$corpus/$t" | wc -l) files"
done
[ "$failures" = 0 ] || echo "capture: $failures client step(s) failed (see above)" >&2
