"""Turns `cargo test` lines of the interop suite into a server x scenario x
mode matrix (Markdown). Reads the log on stdin."""
import re
import sys
from collections import defaultdict

rows = defaultdict(dict)
scenarios = []
# Fault-proxy cases (tests/faults.rs: fault_plain::case, fault_tls::case) and
# the load test (tests/load.rs) get tables of their own.
faults = defaultdict(dict)
load = {}
binary = ""
for line in sys.stdin:
    r = re.match(r"^\s*Running tests/(\w+)\.rs", line)
    if r:
        binary = r.group(1)
        continue
    m = re.match(r"^test (?:(\w+)::)?(\w+) \.\.\. (ok|FAILED)", line)
    if not m:
        continue
    server, test, result = m.groups()
    verdict = "pass" if result == "ok" else "**FAIL**"
    if binary == "faults":
        faults[test][server or "-"] = verdict
        continue
    if binary == "load":
        load[test] = verdict
        continue
    server = server or "tls_negative"
    server = re.sub(r"_(gib|resume)$", "", server)
    if server == "tls_negative":
        server, scenario = "negative", test
    else:
        scenario = test
    if scenario not in scenarios:
        scenarios.append(scenario)
    rows[server][scenario] = "pass" if result == "ok" else "**FAIL**"

def cols(prefix_order):
    return [s for s in scenarios if s in prefix_order]

every = [v for r in rows.values() for v in r.values()]
every += [v for r in faults.values() for v in r.values()] + list(load.values())
passed = sum(v == "pass" for v in every)
failed = sum(v != "pass" for v in every)
print(f"{passed} passed, {failed} failed")
print()
main = [s for s in scenarios if rows and any(s in r for k, r in rows.items() if k != "negative")]
print("| server | " + " | ".join(main) + " |")
print("|---" * (len(main) + 1) + "|")
for server in sorted(k for k in rows if k != "negative"):
    print(f"| {server} | " + " | ".join(rows[server].get(s, "-") for s in main) + " |")
if "negative" in rows:
    print()
    print("| negative and cross-cutting case | result |")
    print("|---|---|")
    for s, v in rows["negative"].items():
        print(f"| {s} | {v} |")
if faults:
    print()
    print("| fault case (vsftpd through the fault proxy) | plain | TLS |")
    print("|---|---|---|")
    for case, r in sorted(faults.items()):
        print(f"| {case} | {r.get('fault_plain', '-')} | {r.get('fault_tls', '-')} |")
if load:
    print()
    print("| load case | result |")
    print("|---|---|")
    for case, v in load.items():
        print(f"| {case} | {v} |")
