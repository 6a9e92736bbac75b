#!/usr/bin/env python3
"""Turn the results of benches/load.sh into markdown tables and checks of the targets.

Usage: report.py RESULTS.tsv META
       report.py --raw RAW.tsv        (the file `load.sh --raw` writes: both in one)

RESULTS.tsv holds `key<TAB>value` lines (a key repeats once per round; the median is
reported). META holds `name=value` lines about the run (in a raw file: `meta:name=value`).

The headline targets are issue 19's, against the daemon's own mutual-TLS endpoint
(`dockerd --tlsverify`); issue 6's earlier targets (against the unix socket) follow.
"""
import statistics
import sys
from collections import defaultdict


def load(argv):
    values = defaultdict(list)
    meta = {}

    def result_line(line):
        key, _, value = line.partition("\t")
        values[key].append(value)

    def meta_line(line):
        name, _, value = line.partition("=")
        meta[name] = value

    if len(argv) == 2 and argv[0] == "--raw":
        with open(argv[1]) as f:
            for line in f:
                line = line.rstrip("\n")
                if line.startswith("meta:"):
                    meta_line(line[len("meta:"):])
                elif line:
                    result_line(line)
    elif len(argv) == 2:
        with open(argv[0]) as f:
            for line in f:
                line = line.rstrip("\n")
                if line:
                    result_line(line)
        with open(argv[1]) as f:
            for line in f:
                meta_line(line.rstrip("\n"))
    else:
        sys.exit(__doc__)
    return values, meta


class Results:
    def __init__(self, values):
        self.values = values

    def raw(self, key):
        return self.values.get(key, [])

    def lost(self, key):
        return "lost" in self.raw(key)

    def med(self, key):
        nums = []
        for v in self.raw(key):
            try:
                nums.append(float(v))
            except ValueError:
                pass
        return statistics.median(nums) if nums else None


def fmt_rate(x):
    if x is None:
        return "n/a"
    return f"{x / 1000:.1f}k" if x >= 10000 else f"{x:.0f}" if x >= 100 else f"{x:.1f}"


def fmt_latency(p50, p99):
    """p50/p99 in µs, or in ms when the tail reaches 10 ms."""
    if p50 is None or p99 is None:
        return "n/a"
    if p99 >= 10000:
        return f"{p50 / 1000:.1f}/{p99 / 1000:.1f} ms"
    return f"{p50:.0f}/{p99:.0f} µs"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    return "n/a" if r is None else f"{r:.2f}×"


# The columns of the main table: the unix socket, the daemon's own mutual TLS, then the
# proxies. Every cell after the first carries its ratio to the unix socket.
TARGETS = ["direct", "dtls", "nginx", "nginx-tls", "pc", "pc-tls"]
HEADER = [
    "unix socket",
    "daemon mTLS",
    "nginx",
    "nginx mTLS",
    "Portcullis",
    "Portcullis mTLS",
    "**Portcullis mTLS ÷ daemon mTLS**",
]
UPSTREAMS = {"syn": "synthetic", "dockerd": "dockerd"}
ENDPOINTS = {"ping": "`GET /_ping`", "list": "`GET /containers/json`"}
TENANT_QUERIES = {
    "list": "`GET /containers/json`",
    "listall": "`GET /containers/json?all=1`",
}
TENANT_TARGETS = ["direct", "dtls", "pc-ten"]


def main():
    values, meta = load(sys.argv[1:])
    r = Results(values)
    rows = []  # main table: (name, cells per TARGETS, headline)
    tenant_rows = []
    checks19 = []
    checks6 = []

    def http(prefix):
        rps, p50, p99 = (r.med(f"{prefix}/{m}") for m in ("rps", "p50", "p99"))
        return rps, p50, p99

    def http_cell(prefix, base_rps=None, own_base=False):
        rps, p50, p99 = http(prefix)
        if rps is None:
            return "—"
        cell = f"{fmt_rate(rps)}/s, {fmt_latency(p50, p99)}"
        if not own_base:
            cell += f" ({fmt_ratio(ratio(rps, base_rps))})"
        return cell

    def headline(prefix_pc, prefix_anchor):
        """Ratio of req/s to the anchor, with the p50 difference."""
        p_rps, p_p50, _ = http(prefix_pc)
        a_rps, a_p50, _ = http(prefix_anchor)
        rr = ratio(p_rps, a_rps)
        if rr is None:
            return None, None, None, "—"
        added = None if p_p50 is None or a_p50 is None else p_p50 - a_p50
        extra = f" (p50 {added:+.0f} µs)" if added is not None else ""
        return rr, added, ratio(p_p50, a_p50), fmt_ratio(rr) + extra

    def http_checks(name, c, rr, added, p50_ratio):
        checks19.append((f"req/s ≥ 0.8× daemon mTLS, {name} c={c}", rr is not None and rr >= 0.8, fmt_ratio(rr)))
        if c == 1:
            checks19.append(
                (
                    f"p50 ≤ daemon mTLS + 60 µs, {name} c=1",
                    added is not None and added <= 60,
                    "n/a" if added is None else f"{added:+.0f} µs",
                )
            )
        else:
            checks19.append(
                (
                    f"p50 ≤ 2× daemon mTLS, {name} c={c}",
                    p50_ratio is not None and p50_ratio <= 2,
                    fmt_ratio(p50_ratio),
                )
            )

    # Small requests.
    for up, up_name in UPSTREAMS.items():
        for ep, ep_name in ENDPOINTS.items():
            for c in (1, 32):
                base = f"http/{up}/{ep}/c{c}"
                d_rps = r.med(f"{base}/direct/rps")
                cells = [http_cell(f"{base}/{t}", d_rps, own_base=(t == "direct")) for t in TARGETS]
                rr, added, p50_ratio, head = headline(f"{base}/pc-tls", f"{base}/dtls")
                rows.append((f"{up_name} {ep_name} c={c}", cells, head))
                if up == "dockerd":
                    http_checks(f"dockerd {ep_name}", c, rr, added, p50_ratio)
                # Issue 6: against the synthetic upstream's unix socket.
                if up == "syn":
                    for tls, suffix in (("plain", ""), ("mTLS", "-tls")):
                        p_rps, p_p50, _ = http(f"{base}/pc{suffix}")
                        _, s_p50, _ = http(f"{base}/direct")
                        r6 = ratio(p_rps, d_rps)
                        if c == 32:
                            want = 0.5 if tls == "plain" else 0.4
                            checks6.append(
                                (f"req/s ≥ {want}× direct at c=32, {tls}, synthetic {ep_name}", r6 is not None and r6 >= want, fmt_ratio(r6))
                            )
                        elif p_p50 is not None and s_p50 is not None:
                            a6 = p_p50 - s_p50
                            checks6.append((f"added p50 ≤ 40 µs at c=1, {tls}, synthetic {ep_name}", a6 <= 40, f"{a6:+.0f} µs"))

    def proxy_cells(fmt, keys):
        """Cells for the proxy columns only (nginx, nginx mTLS, Portcullis, Portcullis mTLS)."""
        cells = ["", ""]
        for t in ("nginx", "nginx-tls", "pc", "pc-tls"):
            v = keys(t)
            cells.append(fmt(v, t))
        return cells

    for ep, ep_name in ENDPOINTS.items():
        def fmt_cpu(v, t):
            if v is None:
                return "n/a"
            return f"{v:.0f} (all workers)" if t.startswith("nginx") else f"{v:.0f}"

        cells = proxy_cells(fmt_cpu, lambda t: r.med(f"http/syn/{ep}/c32/{t}/cpu_us"))
        if any(c not in ("", "n/a") for c in cells):
            rows.append((f"CPU µs per request, synthetic {ep_name} c=32", cells, ""))

    def value_row(name, key, fmt=lambda x: f"{x:.1f}", check=None):
        d = r.med(f"{key}/direct")
        cells = []
        for t in TARGETS:
            v = r.med(f"{key}/{t}")
            if r.lost(f"{key}/{t}"):
                cells.append("lost data")
            elif v is None:
                cells.append("n/a")
            elif t == "direct":
                cells.append(fmt(v))
            else:
                cells.append(f"{fmt(v)} ({fmt_ratio(ratio(v, d))})")
        rr = ratio(r.med(f"{key}/pc-tls"), r.med(f"{key}/dtls"))
        rows.append((name, cells, fmt_ratio(rr)))
        if check is not None:
            checks19.append((f"{check} ≥ 0.9× daemon mTLS", rr is not None and rr >= 0.9, fmt_ratio(rr)))
            for tls, suffix in (("plain", ""), ("mTLS", "-tls")):
                r6 = ratio(r.med(f"{key}/pc{suffix}"), d)
                checks6.append((f"{check} ≥ 0.9× direct, {tls}", r6 is not None and r6 >= 0.9, fmt_ratio(r6)))

    value_row("container create + remove, ops/s", "cycle")
    value_row("exec stream out, MB/s (docker CLI)", "exec-out", check="exec stream out")
    value_row("exec stream in, MB/s (docker CLI)", "exec-in", check="exec stream in")
    value_row("docker cp out, MB/s (gzip over TCP, not over unix)", "cp-out", check="docker cp out")
    value_row("docker cp in, MB/s", "cp-in", check="docker cp in")

    def busy_row(name, key):
        pct = lambda x: "n/a" if x is None else f"{x:.0f} %"
        rows.append((name, [pct(r.med(f"{key}/{t}")) for t in TARGETS], ""))

    busy_row("machine CPU busy during exec stream out (all CPUs)", "busy-exec-out")
    busy_row("machine CPU busy during exec stream in (all CPUs)", "busy-exec-in")
    busy_row("machine CPU busy during docker cp out (all CPUs)", "busy-cp-out")
    busy_row("machine CPU busy during docker cp in (all CPUs)", "busy-cp-in")

    def fmt_proxy(v, t, digits=2):
        if v is None:
            return "n/a"
        return f"{v:.{digits}f} (all workers)" if t.startswith("nginx") else f"{v:.{digits}f}"

    for direction in ("out", "in"):
        rows.append(
            (
                f"proxy CPU seconds per GB of docker cp {direction}",
                proxy_cells(fmt_proxy, lambda t: r.med(f"cpu-per-gb-cp-{direction}/{t}")),
                "",
            )
        )

    def cpu_gib(t):
        raw = r.raw(f"cpu-per-gib/{t}")
        return raw[0] if raw else None

    rows.append(
        (
            "proxy CPU seconds (user+sys) per GiB of exec streams",
            proxy_cells(
                lambda v, t: "n/a (lost data)" if v in (None, "n/a") else (v + " (all workers)" if t.startswith("nginx") else v),
                cpu_gib,
            ),
            "",
        )
    )

    def pc_only(name, cell):
        rows.append((name, ["", "", "", "", "", cell], ""))

    rss_idle = r.med("rss-idle")
    hwm_idle = r.med("hwm-idle")
    delta = r.med("rss-stream-delta")
    pc_only(
        "Portcullis idle after start, VmRSS / VmHWM (MiB)",
        f"{rss_idle / 1024:.1f} / {hwm_idle / 1024:.1f}" if rss_idle and hwm_idle else "n/a",
    )
    pc_only(
        "Portcullis RSS growth during the exec streams, max − before (MiB)",
        "n/a" if delta is None else f"{delta / 1024:.1f}",
    )
    sizes = meta.get("sizes", "")
    n_sessions = sizes.rsplit(";", 1)[-1].strip() if sizes else "sessions"
    att_p = r.med("attach-kib/pc-att")
    att_n = r.med("attach-kib/nginx-tls")
    rows.append(
        (
            f"memory per idle attach session ({n_sessions}; fresh Portcullis), KiB",
            ["", "", "", "n/a" if att_n is None else f"{att_n:.1f} (all workers)", "", "n/a" if att_p is None else f"{att_p:.1f}"],
            "",
        )
    )
    rss_end, hwm_end = r.med("rss-end"), r.med("hwm-end")
    if rss_end and hwm_end:
        pc_only("Portcullis at the end, VmRSS / VmHWM (MiB)", f"{rss_end / 1024:.1f} / {hwm_end / 1024:.1f}")

    # Tenants (issue 17).
    for q, q_name in TENANT_QUERIES.items():
        for c in (1, 32):
            base = f"http/ten/{q}/c{c}"
            d_rps = r.med(f"{base}/direct/rps")
            cells = [http_cell(f"{base}/{t}", d_rps, own_base=(t == "direct")) for t in TENANT_TARGETS]
            rr, added, p50_ratio, head = headline(f"{base}/pc-ten", f"{base}/dtls")
            tenant_rows.append((f"{q_name} c={c}", cells, head))
            http_checks(f"one tenant's {q_name}", c, rr, added, p50_ratio)
    t_d = r.med("tcycle/dtls")
    t_n = r.med("tcycle/pc-ten")
    t_q = r.med("tcycle/pc-tq")

    def ops(v, base):
        if v is None:
            return "n/a"
        return f"{v:.1f}" if base is None else f"{v:.1f} ({fmt_ratio(ratio(v, base))})"

    checks19.append(
        (
            "≤ 8 MiB RSS idle",
            rss_idle is not None and rss_idle <= 8192,
            "n/a" if rss_idle is None else f"{rss_idle / 1024:.1f} MiB",
        )
    )
    checks6.append(
        (
            "≤ 8 MiB RSS idle",
            rss_idle is not None and rss_idle <= 8192,
            "n/a" if rss_idle is None else f"{rss_idle / 1024:.1f} MiB",
        )
    )
    checks6.append(
        (
            "≤ 32 KiB per idle attach session with mTLS",
            att_p is not None and att_p <= 32,
            "n/a" if att_p is None else f"{att_p:.1f} KiB",
        )
    )
    checks6.append(
        (
            "RSS flat within 10 MiB across a stream",
            delta is not None and delta <= 10240,
            "n/a" if delta is None else f"{delta / 1024:.1f} MiB",
        )
    )

    short = meta.get("mode") == "short"
    out = []
    out.append(f"## Portcullis load benchmark ({meta.get('mode', '?')} mode)")
    out.append("")
    out.append(f"- command: `{meta.get('command', '')}`")
    out.append(f"- date: {meta.get('date', '')}; run took {meta.get('elapsed', '?')} s")
    out.append(f"- machine: {meta.get('machine', '')}; load average at the end {meta.get('load', '')}")
    out.append(f"- software: {meta.get('software', '')}")
    out.append(f"- sizes: {sizes}")
    out.append(
        "- HTTP cells: req/s, p50/p99 latency (oha, keep-alive); (N×) = req/s as a ratio to "
        "the unix socket. The last column is the headline: Portcullis with mutual TLS against "
        "the daemon's own mutual TLS (`dockerd --tlsverify`, same client certificate and oha "
        "flags), `p50 +N µs` the latency Portcullis adds to it. Medians over rounds."
    )
    out.append(
        "- Streams: docker CLI `exec` (one stream each way) and `docker cp` against dockerd, "
        "every byte counted; \"lost data\" = nginx did not deliver every byte. Over TCP the "
        "CLI asks for gzip and dockerd compresses `docker cp` out; over the unix socket it "
        "does not. Memory and CPU from /proc/PID/status and /proc/PID/stat (memory: the "
        "Portcullis mTLS process)."
    )
    out.append("")
    out.append("| measurement | " + " | ".join(HEADER) + " |")
    out.append("|---" * (len(HEADER) + 1) + "|")
    for name, cells, head in rows:
        out.append("| " + " | ".join([name] + cells + [head]) + " |")
    out.append("")
    out.append(
        f"Tenants (issue 17): {meta.get('tenants', 'the tenants')}; one tenant's (tenant3) "
        "containers, directly with the daemon's own label filter "
        "(`filters={\"label\":[\"io.portcullis.owner=tenant3\"]}`) and through Portcullis "
        "(`[tenants] isolate = true`, client certificate CN=tenant3, no filter: Portcullis "
        "adds it)."
    )
    out.append("")
    out.append(
        "| one tenant's list | unix socket, label filter | daemon mTLS, label filter "
        "| Portcullis mTLS as the tenant | **Portcullis ÷ daemon mTLS** |"
    )
    out.append("|---|---|---|---|---|")
    for name, cells, head in tenant_rows:
        out.append("| " + " | ".join([name] + cells + [head]) + " |")
    out.append("")
    out.append(
        "| container create + remove as tenant3, ops/s | daemon mTLS | Portcullis mTLS, tenants "
        "without quotas | Portcullis mTLS, tenants with quotas | **quotas ÷ without** |"
    )
    out.append("|---|---|---|---|---|")
    out.append(
        f"| (N×) = to daemon mTLS; quotas: `max_containers` (counted at each create), "
        f"`max_volumes`, `max_networks` | {ops(t_d, None)} | {ops(t_n, t_d)} | {ops(t_q, t_d)} "
        f"| {fmt_ratio(ratio(t_q, t_n))} |"
    )
    out.append("")
    note = " (short run: indicative only)" if short else ""
    out.append(f"### Issue 19 targets, against the daemon's own mutual TLS{note}")
    out.append("")
    for name, ok, value in checks19:
        out.append(f"- {'met' if ok else 'NOT MET'}: {name} — {value}")
    out.append("")
    out.append(f"### Issue 6 targets (earlier), against the unix socket{note}")
    out.append("")
    for name, ok, value in checks6:
        out.append(f"- {'met' if ok else 'NOT MET'}: {name} — {value}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
