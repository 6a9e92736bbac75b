#!/usr/bin/env python3
"""Compare per-test outcomes of the docker_py_oracle.sh runs (junit XML files).

compare.py DIR PORTCULLIS_COMMIT DOCKER_PY_COMMIT: reads DIR/{direct,audit,default}.xml
and prints the counts per run and every test whose outcome differs from the direct
run, with the Portcullis rule ids (PC-nnnn) and the first line of its failure.
"""
import datetime
import re
import sys
import xml.etree.ElementTree as ET

RUNS = ["direct", "audit", "default"]


def outcomes(path):
    out = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        state, text = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                state = "failed" if tag == "failure" else tag
                text = (el.get("message") or el.text or "").strip()
                break
        out[name] = (state, text)
    return out


def main():
    d, commit, pycommit = sys.argv[1:4]
    res = {r: outcomes(f"{d}/{r}.xml") for r in RUNS}
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"docker-py oracle, {now}, Portcullis {commit}, docker-py {pycommit}")
    print("| run | tests | passed | failed | error | skipped | differ from direct |")
    print("|---|---|---|---|---|---|---|")
    base = res["direct"]
    for r in RUNS:
        counts = {s: 0 for s in ("passed", "failed", "error", "skipped")}
        for s, _ in res[r].values():
            counts[s] += 1
        diff = sum(1 for t in set(base) | set(res[r]) if base.get(t, ("missing",))[0] != res[r].get(t, ("missing",))[0])
        print(f"| {r} | {len(res[r])} | {counts['passed']} | {counts['failed']} | {counts['error']} | {counts['skipped']} | {diff} |")
    for r in RUNS[1:]:
        print(f"\n## {r} vs direct")
        for t in sorted(set(base) | set(res[r])):
            a = base.get(t, ("missing", ""))
            b = res[r].get(t, ("missing", ""))
            if a[0] != b[0]:
                rules = sorted(set(re.findall(r"PC-\d{4}", b[1])))
                first = b[1].splitlines()[0][:200] if b[1] else ""
                print(f"- {t}: {a[0]} -> {b[0]} {' '.join(rules)} {first}")
    print("\n## failing both direct and through Portcullis (not reachable here)")
    for t in sorted(base):
        if base[t][0] in ("failed", "error") and all(res[r].get(t, ("",))[0] == base[t][0] for r in RUNS[1:]):
            print(f"- {t}: {base[t][1].splitlines()[0][:160] if base[t][1] else ''}")


if __name__ == "__main__":
    main()
