"""Turns `cargo test` lines of the interop suite into a server x scenario x
mode matrix (Markdown). Reads the log on stdin."""
import re
import sys
from collections import defaultdict

rows = defaultdict(dict)
scenarios = []
for line in sys.stdin:
    m = re.match(r"^test (?:(\w+)::)?(\w+) \.\.\. (ok|FAILED)", line)
    if not m:
        continue
    server, test, result = m.groups()
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

passed = sum(v == "pass" for r in rows.values() for v in r.values())
failed = sum(v != "pass" for r in rows.values() for v in r.values())
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
