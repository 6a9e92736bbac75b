#!/usr/bin/env python3
"""Recording relay and corpus writer for fuzz/capture.sh (see there for the workflow).

  capture.py relay OUTDIR UPSTREAM LABEL=SOCKET [LABEL=SOCKET ...]
      Listen on each SOCKET, forward bytes both ways to the UPSTREAM unix socket and
      append the client->daemon bytes of connection n to OUTDIR/<LABEL>-<n>.bin.
      Runs until SIGTERM/SIGINT.

  capture.py sdk BASE_URL PORT
      Drive the Python docker SDK at BASE_URL (publishing on PORT and PORT+1).

  capture.py corpus OUTDIR CORPUS
      Parse the HTTP/1.1 requests out of the recordings and (re)write the captured
      seeds under CORPUS/{decide,json_view,classify}/<label>-<sha8>. Older captured
      seeds (names <label>-<8 hex>) are removed first; other files are kept.
"""
import asyncio
import hashlib
import json
import os
import re
import signal
import sys
import time

LABELS = ("cli", "compose", "sdk")
MAX_BODY = 64 * 1024  # larger JSON bodies are not useful seeds


# --------------------------------------------------------------------------- relay

async def _pump(reader, writer, record):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            if record is not None:
                record.write(data)
                record.flush()
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            if writer.can_write_eof():
                writer.write_eof()  # keep half-closes (docker exec -i, cp) intact
        except (ConnectionError, OSError, RuntimeError):
            pass


def relay(outdir, upstream, pairs):
    counter = {"n": 0}

    def handler(label):
        async def handle(creader, cwriter):
            counter["n"] += 1
            path = os.path.join(outdir, "%s-%05d.bin" % (label, counter["n"]))
            try:
                ureader, uwriter = await asyncio.open_unix_connection(upstream)
            except OSError as e:
                print("relay: upstream connect failed: %s" % e, file=sys.stderr)
                cwriter.close()
                return
            with open(path, "wb") as record:
                await asyncio.gather(
                    _pump(creader, uwriter, record), _pump(ureader, cwriter, None)
                )
            for w in (uwriter, cwriter):
                try:
                    w.close()
                except (ConnectionError, OSError):
                    pass

        return handle

    async def main():
        stop = asyncio.get_running_loop().create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(
                sig, lambda: stop.done() or stop.set_result(None)
            )
        servers = []
        for pair in pairs:
            label, sock = pair.split("=", 1)
            servers.append(await asyncio.start_unix_server(handler(label), path=sock))
        print("relay: ready", flush=True)
        await stop
        for s in servers:
            s.close()

    asyncio.run(main())


# --------------------------------------------------------------------------- parse

def parse_requests(stream):
    """Yield (method, target, headers, body) for each request in a client byte stream.
    Stops at the first request carrying Upgrade: (attach, exec start, session): what
    follows it is a raw stream, not HTTP."""
    pos = 0
    while pos < len(stream):
        end = stream.find(b"\r\n\r\n", pos)
        if end < 0:
            return
        head = stream[pos:end].decode("latin-1").split("\r\n")
        pos = end + 4
        parts = head[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return
        method, target = parts[0], parts[1]
        headers = {}
        for line in head[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = bytearray()
            while True:
                eol = stream.find(b"\r\n", pos)
                if eol < 0:
                    return
                size = int(stream[pos:eol].split(b";")[0].strip() or b"0", 16)
                pos = eol + 2
                if size == 0:
                    # trailers, then an empty line
                    end = stream.find(b"\r\n", pos)
                    while end > pos:
                        pos = end + 2
                        end = stream.find(b"\r\n", pos)
                    pos = (end + 2) if end >= 0 else len(stream)
                    break
                body += stream[pos:pos + size]
                pos += size + 2
            body = bytes(body)
        else:
            n = int(headers.get("content-length", "0") or 0)
            body = stream[pos:pos + n]
            pos += n
        yield method, target, headers, body
        if "upgrade" in headers:
            return


def json_body(body):
    if not body or len(body) > MAX_BODY:
        return False
    try:
        json.loads(body.decode("utf-8"))
        return True
    except (UnicodeDecodeError, ValueError):
        return False


VERSION = re.compile(r"^/v[0-9]+(\.[0-9]+)?(?=/)")


def strip_version(path):
    return VERSION.sub("", path)


def json_view_selector(method, path):
    """The json_view schema index for a route, or None."""
    if method != "POST":
        return None
    p = strip_version(path)
    if p == "/containers/create":
        return 0
    if p == "/services/create" or re.fullmatch(r"/services/[^/]+/update", p):
        return 1
    if re.fullmatch(r"/containers/[^/]+/exec", p):
        return 2
    if p == "/volumes/create":
        return 3
    if p == "/networks/create":
        return 4
    return None


# Path segments that are verbs/collections rather than object names or ids.
FIXED = set(
    """containers images volumes networks exec services nodes tasks secrets configs
    plugins swarm system distribution session build commit auth info version events
    _ping json create prune start stop restart kill wait attach logs top stats changes
    export resize rename update pause unpause archive inspect history push tag get load
    search connect disconnect init join leave unlock unlockkey df""".split()
)


def route_key(method, target):
    """Dedupe key for classify: method, path with names/ids abstracted, query keys."""
    path, _, query = target.partition("?")
    ver = "/v" if VERSION.match(path) else ""
    segs = strip_version(path).split("/")
    norm = [s if s in FIXED or s == "" else "{}" for s in segs]
    keys = sorted({kv.split("=", 1)[0] for kv in query.split("&") if kv})
    return (method, ver + "/".join(norm), tuple(keys))


def write_corpus(outdir, corpus):
    dirs = {t: os.path.join(corpus, t) for t in ("decide", "json_view", "classify")}
    captured = re.compile(r"^(%s)-[0-9a-f]{8}$" % "|".join(LABELS))
    seen = {}
    for t, d in dirs.items():
        os.makedirs(d, exist_ok=True)
        for name in os.listdir(d):
            if captured.match(name):
                os.unlink(os.path.join(d, name))
        # Hand-written seeds count as already present.
        seen[t] = {
            hashlib.sha256(open(os.path.join(d, n), "rb").read()).hexdigest()
            for n in os.listdir(d)
        }
    routes = set()
    counts = {t: 0 for t in dirs}
    stats = {"connections": 0, "requests": 0}

    def put(target, label, data):
        h = hashlib.sha256(data).hexdigest()
        if h in seen[target]:
            return
        seen[target].add(h)
        with open(os.path.join(dirs[target], "%s-%s" % (label, h[:8])), "wb") as f:
            f.write(data)
        counts[target] += 1

    def order(name):
        label, _, n = name[:-4].rpartition("-")
        return (LABELS.index(label) if label in LABELS else 99, int(n))

    names = sorted((n for n in os.listdir(outdir) if n.endswith(".bin")), key=order)
    for name in names:
        label = name[:-4].rpartition("-")[0]
        with open(os.path.join(outdir, name), "rb") as f:
            stream = f.read()
        stats["connections"] += 1
        for method, target, _headers, body in parse_requests(stream):
            stats["requests"] += 1
            line = ("%s %s" % (method, target)).encode("latin-1")
            key = route_key(method, target)
            if key not in routes:
                routes.add(key)
                put("classify", label, line)
            if json_body(body):
                put("decide", label, line + b"\n" + body)
                sel = json_view_selector(method, target.partition("?")[0])
                if sel is not None:
                    put("json_view", label, bytes([sel]) + body)
    print(
        "corpus: %d connections, %d requests -> %s new captured seeds"
        % (stats["connections"], stats["requests"],
           ", ".join("%s %d" % (t, n) for t, n in counts.items()))
    )
    if counts["decide"] == 0:
        sys.exit("corpus: no JSON request bodies were captured")

# --------------------------------------------------------------------------- SDK

def sdk(base_url, port):
    """The Python docker SDK workflow (high- and low-level API)."""
    import io
    import tarfile
    import docker
    from docker.types import (EndpointSpec, Healthcheck, IPAMConfig, IPAMPool, Mount,
                              Resources, RestartPolicy, ServiceMode, Ulimit, UpdateConfig)

    port = int(port)
    client = docker.DockerClient(base_url=base_url, timeout=120)
    api = client.api
    failed = []

    def step(name, fn, expect_error=False):
        try:
            return fn()
        except Exception as e:  # one failing step must not hide the others
            if expect_error:
                return None
            failed.append(name)
            print("sdk: step failed: %s: %s" % (name, e), file=sys.stderr)
            return None

    step("ping", client.ping)
    step("version", client.version)
    step("volume", lambda: client.volumes.create(
        "sdk-vol", driver="local", driver_opts={"type": "tmpfs", "device": "tmpfs",
                                               "o": "size=1m"}, labels={"team": "a"}))
    step("volume2", lambda: client.volumes.create("sdk-data"))
    step("network", lambda: client.networks.create(
        "sdk-net", driver="bridge", labels={"team": "a"}, attachable=True,
        options={"com.docker.network.bridge.enable_icc": "true"},
        ipam=IPAMConfig(pool_configs=[IPAMPool(subnet="10.233.0.0/24",
                                               gateway="10.233.0.1")])))
    step("network-internal", lambda: client.networks.create("sdk-internal", internal=True,
                                                            check_duplicate=True))
    step("run-echo", lambda: client.containers.run("busybox:latest", "echo hi", remove=True))
    c = step("run", lambda: client.containers.run(
        "busybox:latest", ["sleep", "300"], detach=True, name="sdk-app",
        environment={"MODE": "sdk", "A": "1"},
        volumes={"sdk-data": {"bind": "/data", "mode": "rw"}},
        mounts=[Mount("/cache", "sdk-vol", type="volume", read_only=True),
                Mount("/scratch", None, type="tmpfs", tmpfs_size=1 << 20)],
        ports={"80/tcp": ("127.0.0.1", port), "81/udp": None},
        cap_drop=["ALL"], cap_add=["CHOWN"], security_opt=["no-new-privileges"],
        read_only=True, tmpfs={"/run": "size=1m"},
        ulimits=[Ulimit(name="nofile", soft=1024, hard=2048)],
        labels={"app": "sdk"}, restart_policy={"Name": "on-failure", "MaximumRetryCount": 2},
        healthcheck=Healthcheck(test=["CMD", "true"], interval=5 * 10**9, retries=2),
        network="sdk-net", mem_limit="64m", nano_cpus=500000000, pids_limit=100,
        user="1000", working_dir="/tmp", hostname="sdkapp", dns=["192.0.2.53"],
        extra_hosts={"db.test": "192.0.2.10"}, init=True, stop_signal="SIGTERM",
        log_config={"Type": "json-file", "Config": {"max-size": "1m"}}))
    if c is not None:
        step("exec", lambda: c.exec_run("ls /data"))
        step("exec-env", lambda: c.exec_run(["sh", "-c", "echo $X"], environment={"X": "1"},
                                            user="0", workdir="/tmp"))
        step("exec-priv", lambda: c.exec_run("true", privileged=True))
        step("exec-detach", lambda: c.exec_run("sleep 1", detach=True))
        step("logs", lambda: c.logs(tail=5, timestamps=True))
        step("top", c.top)
        step("stats", lambda: c.stats(stream=False))
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            data = b"from sdk\n"
            info = tarfile.TarInfo("sdk.txt")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        step("put_archive", lambda: c.put_archive("/data", buf.getvalue()))
        step("get_archive", lambda: b"".join(c.get_archive("/data/sdk.txt")[0]))
        step("update", lambda: c.update(cpu_shares=256, mem_limit="128m", memswap_limit="256m"))
        step("commit", lambda: c.commit("sdk-snap", "1", message="snap",
                                        changes=["ENV SNAP=1"], conf={"Labels": {"s": "1"}}))
        step("connect", lambda: client.networks.get("sdk-internal").connect(
            c, aliases=["sdk"], links=None))
        step("disconnect", lambda: client.networks.get("sdk-internal").disconnect(c))
        step("stop", lambda: c.stop(timeout=1))
        step("remove", lambda: c.remove(v=True))
    step("list", lambda: client.containers.list(all=True, filters={"label": "app=sdk"}))
    # Host-access requests (created only).
    for name, kw in [
        ("sdk-priv", {"privileged": True}),
        ("sdk-hostnet", {"network_mode": "host", "pid_mode": "host", "ipc_mode": "host"}),
        ("sdk-rootbind", {"volumes": {"/": {"bind": "/host", "mode": "rw"}},
                          "cap_add": ["SYS_ADMIN", "ALL"],
                          "security_opt": ["seccomp=unconfined"],
                          "devices": ["/dev/null:/dev/xnull:rwm"]}),
        ("sdk-sock", {"mounts": [Mount("/var/run/docker.sock", "/var/run/docker.sock",
                                       type="bind")], "userns_mode": "host"}),
    ]:
        # sdk-sock: the daemon rejects the missing bind source; the body is captured.
        step("create " + name, lambda: client.containers.create(
            "busybox:latest", "true", name=name, **kw).remove(force=True),
            expect_error=name == "sdk-sock")
    # Low-level API with a host config.
    def lowlevel():
        hc = api.create_host_config(binds={"sdk-data": {"bind": "/d", "mode": "ro"}},
                                    port_bindings={8080: 18131}, oom_kill_disable=True,
                                    shm_size="16m", sysctls={"net.ipv4.ip_forward": "1"},
                                    group_add=["10"], device_cgroup_rules=["c 1:3 rwm"])
        r = api.create_container("busybox:latest", "true", name="sdk-low", host_config=hc,
                                 labels=["low"], stdin_open=True, tty=True,
                                 networking_config=api.create_networking_config({
                                     "sdk-net": api.create_endpoint_config(
                                         aliases=["low"], ipv4_address="10.233.0.50")}))
        api.remove_container(r["Id"], force=True)
    step("lowlevel", lowlevel)
    step("images", lambda: client.images.list())
    step("image", lambda: client.images.get("busybox:latest").history())
    step("tag", lambda: client.images.get("busybox:latest").tag("sdk/bb", "1"))
    step("rmi", lambda: client.images.remove("sdk/bb:1"))
    step("rmi-snap", lambda: client.images.remove("sdk-snap:1"))
    step("build", lambda: client.images.build(
        fileobj=io.BytesIO(b"FROM busybox:latest\nLABEL sdk=1\n"), tag="sdk-build:1",
        buildargs={"A": "1"}, labels={"b": "1"}, rm=True))
    step("rmi-build", lambda: client.images.remove("sdk-build:1"))
    # Swarm services.
    if step("swarm-init", lambda: client.swarm.init(advertise_addr="127.0.0.1",
                                                    listen_addr="127.0.0.1:2377")):
        svc = step("service", lambda: client.services.create(
            "busybox:latest", ["sleep", "300"], name="sdk-svc", env=["A=1"],
            labels={"team": "a"}, container_labels={"c": "d"},
            mounts=["sdk-svcvol:/data:rw", Mount("/scratch", None, type="tmpfs")],
            resources=Resources(cpu_limit=500000000, mem_limit=64 << 20),
            restart_policy=RestartPolicy(condition="on-failure", max_attempts=3),
            update_config=UpdateConfig(parallelism=1, order="start-first"),
            endpoint_spec=EndpointSpec(ports={port + 1: 80}),
            mode=ServiceMode("replicated", replicas=2), user="1000", workdir="/tmp",
            hostname="svc", constraints=["node.role==manager"], cap_drop=["ALL"],
            read_only=True, healthcheck=Healthcheck(test=["CMD", "true"])))
        if svc is not None:
            def fresh(fn):
                # The orchestrator bumps the service version right after a change;
                # retry "update out of sequence" with the current version.
                for attempt in range(10):
                    svc.reload()
                    try:
                        return fn()
                    except docker.errors.APIError as e:
                        if "out of sequence" not in str(e) or attempt == 9:
                            raise
                        time.sleep(0.5)
            step("service-update", lambda: fresh(lambda: svc.update(
                env=["A=2", "B=3"], labels={"x": "y"}, force_update=True)))
            step("service-scale", lambda: fresh(lambda: svc.scale(1)))
            step("service-tasks", svc.tasks)
            step("service-remove", svc.remove)
        step("service-host", lambda: client.services.create(
            "busybox:latest", ["sleep", "300"], name="sdk-host", mode="global",
            mounts=["/:/host:rw"], networks=["host"], cap_add=["ALL"]).remove())
        step("swarm-leave", lambda: client.swarm.leave(force=True))
    step("network-rm", lambda: [n.remove() for n in client.networks.list(
        names=["sdk-net", "sdk-internal"])])
    step("volume-rm", lambda: [v.remove(force=True) for v in client.volumes.list(
        filters={"name": "sdk-"})])
    step("prune", lambda: client.containers.prune(filters={"until": "1h"}))
    client.close()
    if failed:
        sys.exit("sdk: %d step(s) failed: %s" % (len(failed), ", ".join(failed)))


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "relay":
        relay(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif len(sys.argv) == 4 and sys.argv[1] == "sdk":
        sdk(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 4 and sys.argv[1] == "corpus":
        write_corpus(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
