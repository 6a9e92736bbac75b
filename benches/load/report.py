#!/usr/bin/env python3
"""Turn the results of benches/load.sh into a markdown table and a check of issue 6's targets.

Usage: report.py RESULTS.tsv META

RESULTS.tsv holds `key<TAB>value` lines (a key repeats once per round; the median is
reported). META holds `name=value` lines about the run.
"""
import statistics
import sys
from collections import defaultdict


def load(results_path, meta_path):
    values = defaultdict(list)
    with open(results_path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            key, _, value = line.partition("\t")
            values[key].append(value)
    meta = {}
    with open(meta_path) as f:
        for line in f:
            name, _, value = line.rstrip("\n").partition("=")
            meta[name] = value
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


UPSTREAMS = {"syn": "synthetic", "dockerd": "dockerd"}
ENDPOINTS = {"ping": "`GET /_ping`", "list": "`GET /containers/json`"}


def main():
    values, meta = load(sys.argv[1], sys.argv[2])
    r = Results(values)
    rows = []
    checks = []

    def http_cell(prefix):
        rps, p50, p99 = (r.med(f"{prefix}/{m}") for m in ("rps", "p50", "p99"))
        return rps, p50, f"{fmt_rate(rps)}/s, {fmt_latency(p50, p99)}"

    for up, up_name in UPSTREAMS.items():
        for ep, ep_name in ENDPOINTS.items():
            for c in (1, 32):
                base = f"http/{up}/{ep}/c{c}"
                d_rps, d_p50, d_cell = http_cell(f"{base}/direct")
                for tls, suffix in (("plain", ""), ("mTLS", "-tls")):
                    n_rps, _, n_cell = http_cell(f"{base}/nginx{suffix}")
                    p_rps, p_p50, p_cell = http_cell(f"{base}/pc{suffix}")
                    rr = ratio(p_rps, d_rps)
                    added = None if p_p50 is None or d_p50 is None else p_p50 - d_p50
                    extra = f" (p50 {added:+.0f} µs)" if added is not None else ""
                    rows.append(
                        (
                            f"{up_name} {ep_name} c={c}, {tls}",
                            d_cell,
                            f"{n_cell} ({fmt_ratio(ratio(n_rps, d_rps))})",
                            p_cell,
                            fmt_ratio(rr) + extra,
                        )
                    )
                    if up == "syn" and c == 32:
                        want = 0.5 if tls == "plain" else 0.4
                        checks.append(
                            (
                                f"req/s ≥ {want}× direct at c=32, {tls}, synthetic {ep_name}",
                                rr is not None and rr >= want,
                                fmt_ratio(rr),
                            )
                        )
                    if up == "syn" and c == 1 and added is not None:
                        checks.append(
                            (
                                f"added p50 ≤ 40 µs at c=1, {tls}, synthetic {ep_name}",
                                added <= 40,
                                f"{added:+.0f} µs",
                            )
                        )

    for up, up_name in (("syn", "synthetic"),):
        for ep, ep_name in ENDPOINTS.items():
            for tls, suffix in (("plain", ""), ("mTLS", "-tls")):
                base = f"http/{up}/{ep}/c32"
                n = r.med(f"{base}/nginx{suffix}/cpu_us")
                p = r.med(f"{base}/pc{suffix}/cpu_us")
                if n is None and p is None:
                    continue
                rows.append(
                    (
                        f"CPU µs per request, {up_name} {ep_name} c=32, {tls}",
                        "",
                        "n/a" if n is None else f"{n:.0f} (all workers)",
                        "n/a" if p is None else f"{p:.0f}",
                        fmt_ratio(ratio(p, n)) + " of nginx" if p and n else "",
                    )
                )

    def simple_row(name, key, unit_fmt=lambda x: f"{x:.1f}", check=None):
        d = r.med(f"{key}/direct")
        for tls, suffix in (("plain", ""), ("mTLS", "-tls")):
            n = r.med(f"{key}/nginx{suffix}")
            p = r.med(f"{key}/pc{suffix}")
            n_cell = "lost data" if r.lost(f"{key}/nginx{suffix}") else (
                "n/a" if n is None else f"{unit_fmt(n)} ({fmt_ratio(ratio(n, d))})"
            )
            rows.append(
                (
                    f"{name}, {tls}",
                    "n/a" if d is None else unit_fmt(d),
                    n_cell,
                    "n/a" if p is None else unit_fmt(p),
                    fmt_ratio(ratio(p, d)),
                )
            )
            if check is not None:
                rr = ratio(p, d)
                checks.append((f"{check}, {tls}", rr is not None and rr >= 0.9, fmt_ratio(rr)))

    simple_row("container create + remove, ops/s (dockerd)", "cycle", lambda x: f"{x:.1f}")
    sizes = meta.get("sizes", "")
    simple_row("exec stream out, MB/s (docker CLI)", "exec-out", check="exec stream out ≥ 0.9× direct")
    simple_row("exec stream in, MB/s (docker CLI)", "exec-in", check="exec stream in ≥ 0.9× direct")
    simple_row("docker cp out, MB/s", "cp-out", check="docker cp out ≥ 0.9× direct")
    simple_row("docker cp in, MB/s", "cp-in", check="docker cp in ≥ 0.9× direct")
    dt = r.med("cp-out/direct-tcp")
    for tls, suffix in (("plain", ""), ("mTLS", "-tls")):
        n = r.med(f"cp-out/nginx{suffix}")
        p = r.med(f"cp-out/pc{suffix}")
        rows.append(
            (
                f"docker cp out, MB/s, {tls}, against dockerd over TCP (the CLI asks for gzip over TCP)",
                "n/a" if dt is None else f"{dt:.1f}",
                "n/a" if n is None else f"{n:.1f} ({fmt_ratio(ratio(n, dt))})",
                "n/a" if p is None else f"{p:.1f}",
                fmt_ratio(ratio(p, dt)),
            )
        )

    def busy_row(name, key):
        for tls, suffix in (("plain", ""), ("mTLS", "-tls")):
            d = r.med(f"{key}/direct")
            n = r.med(f"{key}/nginx{suffix}")
            p = r.med(f"{key}/pc{suffix}")
            pct = lambda x: "n/a" if x is None else f"{x:.0f} %"
            rows.append((f"{name}, {tls}", pct(d), pct(n), pct(p), ""))

    busy_row("machine CPU busy during exec stream out (all CPUs)", "busy-exec-out")
    busy_row("machine CPU busy during exec stream in (all CPUs)", "busy-exec-in")
    busy_row("machine CPU busy during docker cp out (all CPUs)", "busy-cp-out")
    busy_row("machine CPU busy during docker cp in (all CPUs)", "busy-cp-in")
    def proxy_row(name, nginx_cell, pc_cell):
        # A row with no direct value: what each proxy itself spends.
        rows.append((name, "", nginx_cell, pc_cell, ""))

    for direction in ("out", "in"):
        for tls, suffix in (("plain", ""), ("mTLS", "-tls")):
            n = r.med(f"cpu-per-gb-cp-{direction}/nginx{suffix}")
            p = r.med(f"cpu-per-gb-cp-{direction}/pc{suffix}")
            proxy_row(
                f"proxy CPU seconds per GB of docker cp {direction}, {tls}",
                "n/a" if n is None else f"{n:.2f} (all workers)",
                "n/a" if p is None else f"{p:.2f}",
            )

    rss_idle = r.med("rss-idle")
    hwm_idle = r.med("hwm-idle")
    delta = r.med("rss-stream-delta")
    rows.append(
        (
            "Portcullis idle after start, VmRSS / VmHWM (MiB)",
            "",
            "",
            f"{rss_idle / 1024:.1f} / {hwm_idle / 1024:.1f}" if rss_idle and hwm_idle else "n/a",
            "",
        )
    )
    rows.append(
        (
            "Portcullis RSS growth during the exec streams, max − before (MiB)",
            "",
            "",
            "n/a" if delta is None else f"{delta / 1024:.1f}",
            "",
        )
    )
    n_sessions = sizes.rsplit(";", 1)[-1].strip() if sizes else "sessions"
    att_p = r.med("attach-kib/pc-att")
    att_n = r.med("attach-kib/nginx-tls")
    rows.append(
        (
            f"memory per idle attach session, mTLS ({n_sessions}; fresh Portcullis), KiB",
            "",
            "n/a" if att_n is None else f"{att_n:.1f} (all workers)",
            "n/a" if att_p is None else f"{att_p:.1f}",
            "",
        )
    )
    for tls, suffix in (("plain", ""), ("mTLS", "-tls")):
        cpu_p = r.raw(f"cpu-per-gib/pc{suffix}")
        cpu_n = r.raw(f"cpu-per-gib/nginx{suffix}")
        proxy_row(
            f"CPU seconds (user+sys) per GiB of exec streams, {tls}",
            (cpu_n[0] + " (all workers)") if cpu_n and cpu_n[0] != "n/a" else "n/a (lost data)",
            cpu_p[0] if cpu_p else "n/a",
        )
    rss_end, hwm_end = r.med("rss-end"), r.med("hwm-end")
    if rss_end and hwm_end:
        rows.append(
            (
                "Portcullis at the end, VmRSS / VmHWM (MiB)",
                "",
                "",
                f"{rss_end / 1024:.1f} / {hwm_end / 1024:.1f}",
                "",
            )
        )

    checks.append(
        (
            "≤ 8 MiB RSS idle",
            rss_idle is not None and rss_idle <= 8192,
            "n/a" if rss_idle is None else f"{rss_idle / 1024:.1f} MiB",
        )
    )
    checks.append(
        (
            "≤ 32 KiB per idle attach session with mTLS",
            att_p is not None and att_p <= 32,
            "n/a" if att_p is None else f"{att_p:.1f} KiB",
        )
    )
    checks.append(
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
        "- HTTP cells: req/s, p50/p99 latency (oha, keep-alive); direct = the upstream's unix "
        "socket; ratios are to direct, `p50 +N µs` is the latency Portcullis adds. Medians over rounds."
    )
    out.append(
        "- Streams: docker CLI `exec` (one stream each way) and `docker cp` against dockerd, "
        "every byte counted; \"lost data\" = nginx did not deliver every byte. Memory and CPU "
        "from /proc/PID/status and /proc/PID/stat."
    )
    out.append("")
    out.append("| measurement | direct | nginx | portcullis | ratio |")
    out.append("|---|---|---|---|---|")
    for row in rows:
        out.append("| " + " | ".join(row) + " |")
    out.append("")
    title = "Issue 6 targets" + (" (short run: indicative only)" if short else "")
    out.append(f"### {title}")
    out.append("")
    for name, ok, value in checks:
        out.append(f"- {'met' if ok else 'NOT MET'}: {name} — {value}")
    print("\n".join(out))


if __name__ == "__main__":
    main()
