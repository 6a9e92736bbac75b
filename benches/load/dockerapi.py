#!/usr/bin/env python3
"""Small Docker Engine API clients for benches/load.sh (standard library only).

  cycle   create + remove containers over one keep-alive connection for N seconds
          and print {"ops": n, "seconds": s}.
  populate  create TENANTS x PER_TENANT containers labelled io.portcullis.owner=tenantK
          (K = 0..TENANTS-1), the first RUNNING of each tenant started (`sleep`), the
          rest created only; print {"created": n, "running": m}.
  attach  open N hijacked attach sessions (Connection: Upgrade, Upgrade: tcp), print
          "ready N" once all are open, idle until STOP_FILE exists (or --hold
          seconds pass), then print "alive K" (sessions still open) and exit.

A target is unix:/path/to/socket or tcp:HOST:PORT; with --cert/--key/--ca a tcp
target uses mutual TLS.
"""
import argparse
import asyncio
import http.client
import json
import os
import socket
import ssl
import sys
import time

API = "/v1.41"


def tls_context(args):
    if not args.cert:
        return None
    ctx = ssl.create_default_context(cafile=args.ca)
    ctx.load_cert_chain(args.cert, args.key)
    return ctx


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


def http_connection(args, timeout=60):
    kind, _, rest = args.target.partition(":")
    if kind == "unix":
        return UnixHTTPConnection(rest, timeout)
    host, _, port = rest.rpartition(":")
    ctx = tls_context(args)
    if ctx is None:
        return http.client.HTTPConnection(host, int(port), timeout=timeout)
    return http.client.HTTPSConnection(host, int(port), timeout=timeout, context=ctx)


def request(conn, method, path, body=None):
    headers = {"Host": "docker"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn.request(method, API + path, body=data, headers=headers)
    resp = conn.getresponse()
    payload = resp.read()
    return resp.status, payload


def cmd_cycle(args):
    conn = http_connection(args)
    body = {
        "Image": args.image,
        "Cmd": ["true"],
        "HostConfig": {"NetworkMode": "none"},
    }
    ops = 0
    start = time.monotonic()
    deadline = start + args.seconds
    while True:
        status, payload = request(conn, "POST", "/containers/create", body)
        if status != 201:
            sys.exit(f"cycle: create answered {status}: {payload[:300]!r}")
        cid = json.loads(payload)["Id"]
        status, payload = request(conn, "DELETE", f"/containers/{cid}?force=1")
        if status != 204:
            sys.exit(f"cycle: remove answered {status}: {payload[:300]!r}")
        ops += 1
        if time.monotonic() >= deadline or (args.max_ops and ops >= args.max_ops):
            break
    elapsed = time.monotonic() - start
    conn.close()
    print(json.dumps({"ops": ops, "seconds": elapsed, "ops_per_sec": round(ops / elapsed, 2)}))


def cmd_populate(args):
    conn = http_connection(args)
    created = running = 0
    for k in range(args.tenants):
        for i in range(args.per_tenant):
            start = i < args.running
            body = {
                "Image": args.image,
                "Cmd": ["sleep", "100000"] if start else ["true"],
                "Labels": {"io.portcullis.owner": f"tenant{k}"},
                "HostConfig": {"NetworkMode": "none"},
            }
            status, payload = request(conn, "POST", f"/containers/create?name=tenant{k}-{i}", body)
            if status != 201:
                sys.exit(f"populate: create answered {status}: {payload[:300]!r}")
            created += 1
            if start:
                cid = json.loads(payload)["Id"]
                status, payload = request(conn, "POST", f"/containers/{cid}/start")
                if status != 204:
                    sys.exit(f"populate: start answered {status}: {payload[:300]!r}")
                running += 1
    conn.close()
    print(json.dumps({"created": created, "running": running}))


async def open_attach(args, ctx, sem, sessions):
    kind, _, rest = args.target.partition(":")
    async with sem:
        if kind == "unix":
            reader, writer = await asyncio.open_unix_connection(rest)
        else:
            host, _, port = rest.rpartition(":")
            reader, writer = await asyncio.open_connection(
                host, int(port), ssl=ctx, server_hostname=host if ctx else None
            )
        req = (
            f"POST {API}/containers/{args.container}/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n"
            "Host: docker\r\n"
            "Content-Type: text/plain\r\n"
            "Connection: Upgrade\r\n"
            "Upgrade: tcp\r\n"
            "\r\n"
        )
        writer.write(req.encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            raise RuntimeError(f"attach answered {status!r}")
        sessions.append((reader, writer))


async def attach_main(args):
    ctx = tls_context(args)
    sem = asyncio.Semaphore(args.parallel)
    sessions = []
    tasks = [
        asyncio.create_task(open_attach(args, ctx, sem, sessions))
        for _ in range(args.sessions)
    ]
    results = await asyncio.wait_for(
        asyncio.gather(*tasks, return_exceptions=True), args.open_timeout
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        print(f"error {len(errors)} sessions failed; first: {errors[0]!r}", flush=True)
        sys.exit(1)
    print(f"ready {len(sessions)}", flush=True)
    deadline = time.monotonic() + args.hold
    while time.monotonic() < deadline and not os.path.exists(args.stop_file):
        await asyncio.sleep(0.2)
    alive = 0
    for reader, _ in sessions:
        # An idle session has nothing to read; EOF means the proxy dropped it.
        if not reader.at_eof():
            alive += 1
    print(f"alive {alive}", flush=True)
    for _, writer in sessions:
        writer.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=["cycle", "populate", "attach"])
    p.add_argument("--target", required=True)
    p.add_argument("--ca")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--image", default="bench:latest")
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--max-ops", type=int, default=0)
    p.add_argument("--container")
    p.add_argument("--tenants", type=int, default=10)
    p.add_argument("--per-tenant", type=int, default=20)
    p.add_argument("--running", type=int, default=1)
    p.add_argument("--sessions", type=int, default=100)
    p.add_argument("--parallel", type=int, default=32)
    p.add_argument("--open-timeout", type=float, default=120)
    p.add_argument("--hold", type=float, default=120)
    p.add_argument("--stop-file", default="/nonexistent")
    args = p.parse_args()
    if args.command == "cycle":
        cmd_cycle(args)
    elif args.command == "populate":
        cmd_populate(args)
    else:
        asyncio.run(attach_main(args))


if __name__ == "__main__":
    main()
