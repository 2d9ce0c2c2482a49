#!/usr/bin/env python3
"""The benchmark suite of issue #6 (run by `just bench` through scripts/bench.sh).

Measures ftpkit against curl, lftp and suppaftp on the interop vsftpd
(plain and explicit TLS) on loopback, and (case proftpd-tls, issue #11)
many small uploads on one session to the interop ProFTPD over TLS 1.3, interleaving the tools run by run
(for each run: every tool once, in an order rotated per run), and prints
one table: median, min and max of each case, CPU seconds per GiB, peak
RSS, and ftpkit's ratio to each peer. Writes docs/performance.md.

Every measured run is one child process, measured with os.wait4: wall time
(from spawn to exit, connection set-up included, for every tool alike),
user+sys CPU and ru_maxrss.

Environment (defaults in brackets):
  RUNS [5]               runs per case and tool
  BENCH_SIZE_MIB [1024]  size of the large file
  BENCH_HUGE_MIB [10240] size of the sparse file of the memory case
  BENCH_FILES [1000]     small files; BENCH_FILE_KIB [4] their size
  BENCH_PROFTPD_FILES [BENCH_FILES]  small files of the proftpd-tls case
  BENCH_P [4]            parallelism (ftpkit mirror/pool, lftp mirror -P, segments)
  BENCH_CASES [large,small,proftpd-tls,segmented,memory,limits,parsers,latency]
  BENCH_SMALL_SECURITY [plain]  plain, tls or plain,tls for the small-file case
  BENCH_LARGE_SECURITY [plain,tls,pureftpd-tls]  servers of the large case
                         (pureftpd-tls: Pure-FTPd TLS 1.3, when PUREFTPD_TLS runs)
  BENCH_SEG_SECURITY [plain,tls]
  BENCH_LAT_RTT_MS [10,50]  round-trip times of the latency case (delay proxy)
  BENCH_LAT_FILES [200]  its small files; BENCH_LAT_MIB [256] its large file
                         (the issue's size: ftpkit splits it from 20 ms)
  BENCH_LAT_SECURITY [plain]  plain, tls or plain,tls for the latency case
  BENCH_DIR [/tmp/ftpkit-bench]  local test data (big files removed at the end)
  BENCH_DOC [docs/performance.md]; BENCH_DOC=- prints no document
  BENCH_COMMAND          the command line recorded in the document
Needs: `source /tmp/ftpkit-interop/env` values in the environment (or the
file), crates/bench/target/release/{ftpkit-bench,ftpkit}, curl, lftp; the
proftpd-tls case needs the PROFTPD_TLS instance. Installs nothing.

Case proftpd-tls: BENCH_PROFTPD_FILES x BENCH_FILE_KIB files uploaded on ONE session
(one control connection) to PROFTPD_TLS, each run into a new remote
directory (removed before and after each run): ftpkit (`ftpkit-bench ftpkit
small-up-loop`, one Client, TLS 1.3, then capped at TLS 1.2), Python ftplib
(FTP_TLS whose data connections resume the control session; OpenSSL offers
the same ticket every time) and lftp `mirror -R` (one connection; GnuTLS,
TLS 1.3, also re-offers the control session on every data connection). ProFTPD issues two TLS 1.3 tickets at login
and none per upload, and refuses data connections that do not resume the
control session, so with single-use tickets ftpkit renews its session when
it runs out; the renewals (`refreshes=N`) are reported with its rows. A
renewal soon after another session ended waits ~0.4 s for ProFTPD's
greeting (its master's accept stall after a child exits: interop/README.md).

`python3 scripts/bench.py ftplib-small-up PORT LOCAL_DIR REMOTE_DIR` is the
measured ftplib client of that case (run as a child by this script).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def ftplib_small_up(port: str, local_dir: str, remote_dir: str) -> None:
    """One FTP_TLS session: MKD, then STOR of every file of local_dir, each
    data connection resuming the control connection's TLS session (stock
    ftplib.FTP_TLS does not offer it: ProFTPD would answer 425). Otherwise
    stock: no TCP_NODELAY, so each upload waits ~40 ms in unwrap() (its
    close_notify sits behind Nagle until the server's delayed ACK; measured
    here: 42 ms per upload, 0.1 ms with TCP_NODELAY)."""
    import ftplib
    import ssl

    class ReuseFTP_TLS(ftplib.FTP_TLS):
        def ntransfercmd(self, cmd, rest=None):
            conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
            if self._prot_p:
                conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
            return conn, size

    ctx = ssl.create_default_context(cafile=os.environ["FTPKIT_INTEROP_CA"])
    ftp = ReuseFTP_TLS(context=ctx, timeout=60)
    ftp.connect("127.0.0.1", int(port))  # the certificate has IP:127.0.0.1
    ftp.login(os.environ["FTPKIT_INTEROP_USER"], os.environ["FTPKIT_INTEROP_PASS"])
    ftp.prot_p()
    ftp.voidcmd("TYPE I")
    ftp.mkd(remote_dir)
    t0, n, total = time.perf_counter(), 0, 0
    for path in sorted(Path(local_dir).iterdir()):
        with open(path, "rb") as f:
            ftp.storbinary(f"STOR {remote_dir}/{path.name}", f)
        n += 1
        total += path.stat().st_size
    tls = ftp.sock.version()
    ftp.quit()
    print(f"bytes={total} files={n} secs={time.perf_counter() - t0:.4f} tls={tls}")


if __name__ == "__main__" and sys.argv[1:2] == ["ftplib-small-up"]:
    ftplib_small_up(*sys.argv[2:5])
    sys.exit(0)

ROOT = Path(__file__).resolve().parent.parent
BENCH_TARGET = ROOT / "crates" / "bench" / "target"
BENCH_BIN = BENCH_TARGET / "release" / "ftpkit-bench"
CLI_BIN = BENCH_TARGET / "release" / "ftpkit"
PROXY_BIN = BENCH_TARGET / "release" / "ftpkit-delay-proxy"
CRITERION = BENCH_TARGET / "criterion"
MARKER = "<!-- Everything below is generated by scripts/bench.py; edit above this line. -->"

GIB = 1 << 30
MIB = 1 << 20


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


RUNS = env_int("RUNS", 5)
SIZE = env_int("BENCH_SIZE_MIB", 1024) * MIB
HUGE = env_int("BENCH_HUGE_MIB", 10240) * MIB
FILES = env_int("BENCH_FILES", 1000)
FILE_SIZE = env_int("BENCH_FILE_KIB", 4) * 1024
PROFTPD_FILES = env_int("BENCH_PROFTPD_FILES", FILES)
P = env_int("BENCH_P", 4)
CASES = os.environ.get("BENCH_CASES", "large,small,proftpd-tls,segmented,memory,limits,parsers,latency").split(",")
# The latency case (issue #15): round-trip times, files, file size, security.
LAT_RTTS = [int(x) for x in os.environ.get("BENCH_LAT_RTT_MS", "10,50").split(",")]
LAT_FILES = env_int("BENCH_LAT_FILES", 200)
LAT_BIG = env_int("BENCH_LAT_MIB", 256) * MIB
LAT_SEC = os.environ.get("BENCH_LAT_SECURITY", "plain").split(",")
# The delay proxy's own address (a loopback address the servers do not use).
LAT_HOST = "127.79.0.1"
SMALL_SEC = os.environ.get("BENCH_SMALL_SECURITY", "plain").split(",")
LARGE_SEC = os.environ.get("BENCH_LARGE_SECURITY", "plain,tls,pureftpd-tls").split(",")
SEG_SEC = os.environ.get("BENCH_SEG_SECURITY", "plain,tls").split(",")
DATA = Path(os.environ.get("BENCH_DIR", "/tmp/ftpkit-bench"))
DOC = os.environ.get("BENCH_DOC", str(ROOT / "docs" / "performance.md"))


def load_env() -> dict[str, str]:
    env = dict(os.environ)
    path = Path(env.get("FTPKIT_INTEROP_DIR", "/tmp/ftpkit-interop")) / "env"
    if "FTPKIT_INTEROP_VSFTPD_PORT" not in env:
        if not path.exists():
            sys.exit(f"bench.py: {path} missing: start the servers (scripts/bench.sh does)")
        for line in path.read_text().splitlines():
            k, sep, v = line.partition("=")
            if sep:
                env[k.strip()] = v.strip()
    return env


ENV = load_env()
USER, PASS, CA = ENV["FTPKIT_INTEROP_USER"], ENV["FTPKIT_INTEROP_PASS"], ENV["FTPKIT_INTEROP_CA"]
SERVERS = {
    "plain": (int(ENV["FTPKIT_INTEROP_VSFTPD_PORT"]), Path(ENV["FTPKIT_INTEROP_VSFTPD_ROOT"])),
    "tls": (int(ENV["FTPKIT_INTEROP_VSFTPD_TLS_PORT"]), Path(ENV["FTPKIT_INTEROP_VSFTPD_TLS_ROOT"])),
}
# Issue #15 judges TLS RETR on Pure-FTPd TLS 1.3 (the faster TLS server, where
# the client shows its own cost): the large case adds it when it runs.
if "FTPKIT_INTEROP_PUREFTPD_TLS_PORT" in ENV:
    SERVERS["pureftpd-tls"] = (int(ENV["FTPKIT_INTEROP_PUREFTPD_TLS_PORT"]),
                               Path(ENV["FTPKIT_INTEROP_PUREFTPD_TLS_ROOT"]))


def security(sec: str) -> str:
    """The security of the server key `sec` (plain, tls, pureftpd-tls):
    "plain" or "tls" (explicit TLS)."""
    return "plain" if sec == "plain" else "tls"


def tls(sec: str) -> bool:
    return security(sec) == "tls"


# The proftpd-tls case's server (None when PROFTPD_TLS was not started).
PROFTPD_TLS = ((int(ENV["FTPKIT_INTEROP_PROFTPD_TLS_PORT"]), Path(ENV["FTPKIT_INTEROP_PROFTPD_TLS_ROOT"]))
               if "FTPKIT_INTEROP_PROFTPD_TLS_PORT" in ENV else None)
HOST = "127.0.0.1"
# Every remote name this script creates starts with this prefix.
PFX = "bench-"

# lftp: verify the certificate against the CA, require TLS on control and
# data connections; in plain mode do not try AUTH TLS. Fail instead of
# retrying, overwrite local files.
LFTP_COMMON = "set net:max-retries 1; set net:persist-retries 0; set cmd:fail-exit true; set xfer:clobber true"
LFTP_SEC = {
    "plain": "set ftp:ssl-allow false",
    "tls": (
        f"set ftp:ssl-allow true; set ftp:ssl-force true; set ftp:ssl-protect-data true; "
        f"set ssl:verify-certificate true; set ssl:check-hostname true; set ssl:ca-file {CA}"
    ),
}


# ----- measuring ---------------------------------------------------------------


class Failed(Exception):
    pass


def measure(argv: list[str], stdout=subprocess.DEVNULL) -> dict:
    """Runs argv as one child; returns wall, cpu (user+sys) and maxrss (bytes).

    Wall time and CPU come from os.wait4. The child runs under
    `ftpkit-bench rusage`, a 3 MiB wrapper that reports the child's own peak
    RSS: Linux keeps a process's peak RSS across exec, so wait4 on a child
    forked by this (30 MiB) Python process reports at least Python's RSS.
    The wrapper's ~3 MiB is the floor of the RSS column."""
    log = DATA / "last-run.log"
    rufile = DATA / "last-run.rusage"
    rm(rufile)
    with open(log, "w+b") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(BENCH_BIN), "rusage", str(rufile), *argv], stdout=stdout, stderr=err,
                                env=ENV, stdin=subprocess.DEVNULL)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read()[-2000:].decode(errors="replace")
            raise Failed(f"{' '.join(argv)}\nexit {proc.returncode}\n{tail}")
    maxrss_kib = int(rufile.read_text().split()[0])
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss": maxrss_kib * 1024}


class Row:
    def __init__(self, case: str, tool: str, unit: str, amount: float, cpu_per: float | None = None):
        self.case, self.tool, self.unit = case, tool, unit
        self.amount = amount  # bytes (MB/s), files (files/s) or lines (Mlines/s)
        self.cpu_per = cpu_per  # bytes per which CPU is reported (GiB), or None
        self.runs: list[dict] = []
        self.ref: Row | None = None  # the ftpkit row this one is compared with
        self.note = ""  # shown after the tool's name (e.g. ftpkit's session refreshes)
        self.failed = ""  # a peer that could not run the case: why (no runs then)

    def rates(self) -> list[float]:
        div = {"MB/s": 1e6, "files/s": 1.0, "Mlines/s": 1e6}[self.unit]
        return [self.amount / r["wall"] / div for r in self.runs]

    @property
    def median(self) -> float:
        return statistics.median(self.rates())

    def cpu(self) -> float | None:
        if self.cpu_per is None or not self.runs:
            return None
        return statistics.median(r["cpu"] for r in self.runs) / (self.amount / self.cpu_per)

    def rss(self) -> float | None:
        return max(r["rss"] for r in self.runs) / MIB if self.runs and self.runs[0].get("rss") else None

    def ratio(self) -> float | None:
        if self.ref is None or not self.runs or not self.ref.runs:
            return None
        return self.ref.median / self.median


ROWS: list[Row] = []


def interleave(case: str, unit: str, amount: float, tools: list[tuple], cpu_per=None, ref=0) -> list[Row]:
    """tools: (name, argv, before, stdout) with before() run untimed before each run.
    Row `ref` is ftpkit's; the others get ratios against it."""
    rows = [Row(case, t[0], unit, amount, cpu_per) for t in tools]
    for i, r in enumerate(rows):
        if i != ref:
            r.ref = rows[ref]
    order = list(range(len(tools)))
    for run in range(RUNS):
        rot = order[run % len(order):] + order[: run % len(order)]
        for i in rot:
            name, argv, before, stdout = tools[i]
            if before:
                before()
            res = measure(argv, stdout if stdout is not None else subprocess.DEVNULL)
            rows[i].runs.append(res)
            print(f"  [{case}] run {run + 1}/{RUNS} {name}: {amount / res['wall'] / {'MB/s': 1e6, 'files/s': 1, 'Mlines/s': 1e6}[unit]:.1f} {unit}"
                  f" cpu {res['cpu']:.2f}s rss {res['rss'] / MIB:.1f} MiB", file=sys.stderr, flush=True)
    ROWS.extend(rows)
    return rows


# ----- helpers -----------------------------------------------------------------


def rm(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def remover(*paths: Path):
    return lambda: [rm(p) for p in paths]


def publish(src: Path, dst: Path) -> None:
    """Puts a test file into a server root (hard link: same inode, no copy)."""
    rm(dst)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
    os.chmod(dst, 0o644)


def publish_tree(src: Path, dst: Path) -> None:
    """Puts a directory of test files into a server root, readable by the
    server's user."""
    rm(dst)
    shutil.copytree(src, dst)
    os.chmod(dst, 0o755)
    for f in dst.iterdir():
        os.chmod(f, 0o644)


def make_random(path: Path, size: int) -> None:
    if path.exists() and path.stat().st_size == size:
        return
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 16 * MIB)
            f.write(os.urandom(n))
            left -= n


def url(sec: str, path: str) -> str:
    port, _ = SERVERS[sec]
    return f"ftp://{USER}:{PASS}@{HOST}:{port}/{path}"


def curl(sec: str) -> list[str]:
    return ["curl", "-sS", "--fail"] + (["--ssl-reqd", "--cacert", CA] if tls(sec) else [])


def lftp(sec: str, script: str, port: int | None = None, host: str = HOST) -> list[str]:
    port = port or SERVERS[sec][0]
    extra = ""
    if host != HOST:
        # Through the delay proxy: EPSV (so the data connection goes to the
        # proxy, the control peer), and the certificate's chain is still
        # verified but not its names (the proxy's address is not in it).
        extra = "; set ftp:prefer-epsv yes" + ("; set ssl:check-hostname false" if tls(sec) else "")
    return ["lftp", "-u", f"{USER},{PASS}", "-p", str(port), "-e",
            f"{LFTP_COMMON}; {LFTP_SEC[security(sec)]}{extra}; {script}; bye", host]


def rclone(sec: str, port: int, transfers: int, src: str, dst: str) -> list[str]:
    """rclone's FTP backend (EPSV) through an on-the-fly remote. Over TLS it
    cannot be given a CA file: it runs with --ftp-no-check-certificate, and
    with --ftp-disable-tls13: rclone 1.60's TLS 1.3 handshake with vsftpd
    fails at once (`remote error: tls: illegal parameter`), its TLS 1.2 one
    works."""
    obscured = subprocess.run(["rclone", "obscure", PASS], check=True, capture_output=True, text=True).stdout.strip()
    argv = ["rclone", "copy", "--ftp-host", LAT_HOST, "--ftp-port", str(port), "--ftp-user", USER,
            "--ftp-pass", obscured, "--transfers", str(transfers), "--checkers", str(max(8, transfers)),
            "--ftp-disable-mlsd", "-q", src, dst]
    if tls(sec):
        argv += ["--ftp-explicit-tls", "--ftp-no-check-certificate", "--ftp-disable-tls13"]
    return argv


def bench(*args) -> list[str]:
    return [str(BENCH_BIN), *map(str, args)]


def sec_args(sec: str) -> list[str]:
    return [str(SERVERS[sec][0]), security(sec)]


# ----- the cases ---------------------------------------------------------------


def case_large(big: Path) -> None:
    for sec in [s for s in LARGE_SEC if s in SERVERS]:
        _, root = SERVERS[sec]
        remote = f"{PFX}big.bin"
        publish(big, root / remote)
        gib = f"{SIZE / GIB:g} GiB" if SIZE >= GIB else f"{SIZE // MIB} MiB"
        interleave(f"RETR {gib} {sec}", "MB/s", SIZE, [
            ("ftpkit", bench("ftpkit", "get", *sec_args(sec), remote), None, None),
            ("curl", curl(sec) + ["-o", "/dev/null", url(sec, remote)], None, None),
            ("lftp", lftp(sec, f"get {remote} -o /dev/null"), None, None),
            ("suppaftp", bench("suppaftp", "get", *sec_args(sec), remote), None, None),
        ], cpu_per=GIB)
        up = {t: f"{PFX}up-{t}.bin" for t in ("ftpkit", "curl", "lftp", "suppaftp")}
        interleave(f"STOR {gib} {sec}", "MB/s", SIZE, [
            ("ftpkit", bench("ftpkit", "put", *sec_args(sec), big, up["ftpkit"]), remover(root / up["ftpkit"]), None),
            ("curl", curl(sec) + ["-T", str(big), url(sec, up["curl"])], remover(root / up["curl"]), None),
            ("lftp", lftp(sec, f"put {big} -o {up['lftp']}"), remover(root / up["lftp"]), None),
            ("suppaftp", bench("suppaftp", "put", *sec_args(sec), big, up["suppaftp"]), remover(root / up["suppaftp"]), None),
        ], cpu_per=GIB)
        for name in up.values():
            rm(root / name)


def case_small(small: Path) -> None:
    for sec in SMALL_SEC:
        _, root = SERVERS[sec]
        src = f"{PFX}small-src"
        publish_tree(small, root / src)
        tools = [
            ("ftpkit mirror", "mirror", P),
            ("ftpkit mirror", "mirror", 1),
            ("ftpkit pool", "pool", P),
        ]
        up_rows, down_rows = [], []
        for t, how, p in tools:
            slug = f"ftpkit-{how}-{p}"
            rdir = f"{PFX}small-{slug}"
            up_rows.append((f"{t} -P{p}", bench("ftpkit", "small-up", *sec_args(sec), small, rdir, how, p),
                            remover(root / rdir), None))
            ldir = DATA / f"down-{slug}"
            down_rows.append((f"{t} -P{p}", bench("ftpkit", "small-down", *sec_args(sec), src, ldir, how, p),
                              remover(ldir), None))
        for label, extra, slug in (("lftp mirror", "", "lftp-1"), (f"lftp mirror -P{P}", f"-P {P} ", f"lftp-{P}")):
            rdir = f"{PFX}small-{slug}"
            up_rows.append((label, lftp(sec, f"mirror -R --no-perms {extra}{small} {rdir}"), remover(root / rdir), None))
            ldir = DATA / f"down-{slug}"
            down_rows.append((label, lftp(sec, f"mirror --no-perms {extra}{src} {ldir}"), remover(ldir), None))
        rdir, ldir = f"{PFX}small-suppaftp", DATA / "down-suppaftp"
        up_rows.append(("suppaftp loop", bench("suppaftp", "small-up", *sec_args(sec), small, rdir), remover(root / rdir), None))
        down_rows.append(("suppaftp loop", bench("suppaftp", "small-down", *sec_args(sec), src, ldir), remover(ldir), None))
        what = f"{FILES} x {FILE_SIZE // 1024} KiB"
        interleave(f"upload {what} {sec}", "files/s", FILES, up_rows)
        interleave(f"download {what} {sec}", "files/s", FILES, down_rows)
        for _, _, cleanup, _ in up_rows + down_rows:
            cleanup()
        rm(root / src)


class DelayProxy:
    """The delay proxy in front of one server (crates/testkit/src/delay_proxy.rs)."""

    def __init__(self, sec: str, rtt_ms: int, upstream_port: int | None = None, listen: str = LAT_HOST):
        """In front of `sec`'s server, or of `upstream_port` on HOST (its
        passive range is then unused: `listen` must be another address)."""
        port = upstream_port or SERVERS[sec][0]
        pasv = ENV[{"plain": "FTPKIT_INTEROP_VSFTPD_PASV", "tls": "FTPKIT_INTEROP_VSFTPD_TLS_PASV"}[sec]]
        self.listen = listen
        self.stats_file = DATA / f"delay-{sec}-{rtt_ms}-{port}.stats"
        rm(self.stats_file)
        self.proc = subprocess.Popen(
            [str(PROXY_BIN), "--listen", listen, "--upstream", f"{HOST}:{port}", "--passive", pasv,
             "--rtt-ms", str(rtt_ms), "--stats", str(self.stats_file)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"control [\d.]+:(\d+)", line)
        if not m:
            self.proc.kill()
            raise Failed(f"delay proxy did not start: {line!r}")
        self.port = int(m.group(1))

    def stats(self) -> dict[str, int]:
        time.sleep(0.25)  # the proxy writes its counters every 100 ms
        return {k: int(v) for k, v in (l.split("=") for l in self.stats_file.read_text().split())}

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()
        rm(self.stats_file)


def proxy_ceiling(sec: str, rtt: int, amount: int) -> float:
    """The delay proxy's own throughput ceiling at `rtt`: MB/s of a raw TCP
    stream of `amount` bytes through a second proxy (on 127.79.0.2, same
    passive range: other address) from a local source, timed from connect
    to the last byte; no FTP, no login, no TLS."""
    import socket
    import threading

    src = socket.create_server((HOST, 0))
    src_port = src.getsockname()[1]

    def serve() -> None:
        conn, _ = src.accept()
        chunk = memoryview(bytes(1 << 20))
        left = amount
        with conn:
            while left > 0:
                n = min(left, len(chunk))
                conn.sendall(chunk[:n])
                left -= n
        src.close()

    try:
        proxy = DelayProxy(sec, rtt, upstream_port=src_port, listen="127.79.0.2")
    except Failed:
        src.close()
        raise
    try:
        threading.Thread(target=serve, daemon=True).start()
        buf = bytearray(1 << 20)
        got = 0
        t0 = time.perf_counter()
        with socket.create_connection((proxy.listen, proxy.port)) as c:
            while True:
                n = c.recv_into(buf)
                if n == 0:
                    break
                got += n
        wall = time.perf_counter() - t0
    finally:
        proxy.close()
    if got != amount:
        raise Failed(f"ceiling stream: {got} of {amount} bytes")
    return amount / wall / 1e6


def case_latency() -> None:
    """Issue #15 section 1: many small files and one large file through a
    delay proxy (every control and passive connection), so that round trips
    and sessions decide. Round trips per file are counted by the proxy."""
    if not PROXY_BIN.exists():
        raise Failed(f"{PROXY_BIN} missing: scripts/bench.sh builds it")
    small = DATA / "lat-src"
    rm(small)
    small.mkdir()
    for i in range(LAT_FILES):
        (small / f"f{i:05d}.bin").write_bytes(os.urandom(FILE_SIZE))
    big = DATA / "lat-big.bin"
    make_random(big, LAT_BIG)
    try:
        for sec in LAT_SEC:
            _, root = SERVERS[sec]
            src = f"{PFX}lat-src"
            publish_tree(small, root / src)
            publish(big, root / f"{PFX}lat-big.bin")
            for rtt in LAT_RTTS:
                latency_at(sec, rtt, small, src, root)
            rm(root / src)
            rm(root / f"{PFX}lat-big.bin")
    finally:
        rm(small)
        rm(big)


def latency_at(sec: str, rtt: int, small: Path, src: str, root: Path) -> None:
    proxy = DelayProxy(sec, rtt)
    ENV["FTPKIT_BENCH_HOST"] = LAT_HOST
    try:
        pa = [str(proxy.port), sec]
        what = f"{LAT_FILES} x {FILE_SIZE // 1024} KiB, {rtt} ms RTT {sec}"
        down, up = [], []
        # ftpkit with its defaults first (the sessions chosen from the RTT):
        # the row the ratios and targets compare with.
        for label, how, p in (("ftpkit mirror (auto)", "mirror", 0), (f"ftpkit mirror -P{P}", "mirror", P),
                              ("ftpkit mirror -P1", "mirror", 1)):
            slug = f"lat-ftpkit-{p or 'auto'}"
            down.append((label, bench("ftpkit", "small-down", *pa, src, DATA / f"down-{slug}", how, p), remover(DATA / f"down-{slug}")))
            up.append((label, bench("ftpkit", "small-up", *pa, small, f"{PFX}{slug}", how, p), remover(root / f"{PFX}{slug}")))
        for label, extra, slug in (("lftp mirror", "", "lat-lftp-1"), (f"lftp mirror -P{P}", f"-P {P} ", f"lat-lftp-{P}")):
            down.append((label, lftp(sec, f"mirror --no-perms {extra}{src} {DATA / ('down-' + slug)}", proxy.port, LAT_HOST), remover(DATA / f"down-{slug}")))
            up.append((label, lftp(sec, f"mirror -R --no-perms {extra}{small} {PFX}{slug}", proxy.port, LAT_HOST), remover(root / f"{PFX}{slug}")))
        for t in (4, 16):
            slug = f"lat-rclone-{t}"
            down.append((f"rclone copy --transfers {t}", rclone(sec, proxy.port, t, f":ftp:{src}", str(DATA / f"down-{slug}")), remover(DATA / f"down-{slug}")))
            up.append((f"rclone copy --transfers {t}", rclone(sec, proxy.port, t, str(small), f":ftp:{PFX}{slug}"), remover(root / f"{PFX}{slug}")))
        latency_rows(f"latency download {what}", "files/s", LAT_FILES, down, proxy)
        latency_rows(f"latency upload {what}", "files/s", LAT_FILES, up, proxy)
        remote = f"{PFX}lat-big.bin"
        out = DATA / "lat-out.bin"
        gone = remover(out, Path(f"{out}.lftp-pget-status"))
        # curl checks the certificate for "localhost", reached at the proxy.
        via = ["--connect-to", f"localhost:{proxy.port}:{LAT_HOST}:{proxy.port}"]
        # Every tool writes the file into a local file, as `ftpkit get
        # REMOTE LOCAL` does: ftpkit as it runs by default (segments chosen
        # from the size and the RTT), the reference row; ftpkit in one
        # stream (`ops::download_file`); curl and lftp `get`; and lftp's
        # own segmented `pget -n 4`.
        large = [
            ("ftpkit", bench("ftpkit", "get-auto", *pa, remote, out), gone),
            ("ftpkit one stream", bench("ftpkit", "get-file", *pa, remote, out), gone),
            ("curl", curl(sec) + via + ["-o", str(out), f"ftp://{USER}:{PASS}@localhost:{proxy.port}/{remote}"], gone),
            ("lftp", lftp(sec, f"get {remote} -o {out}", proxy.port, LAT_HOST), gone),
            ("lftp pget -n 4", lftp(sec, f"pget -n 4 {remote} -o {out}", proxy.port, LAT_HOST), gone),
        ]
        latency_rows(f"latency RETR {LAT_BIG // MIB} MiB, {rtt} ms RTT {sec}", "MB/s", LAT_BIG, large, proxy)
        gone()
        # The same file up, one stream each: `ftpkit put`, `curl -T`,
        # lftp's `put`.
        up_name = f"{PFX}lat-up.bin"
        big = DATA / "lat-big.bin"
        up_gone = remover(root / up_name)
        large_up = [
            ("ftpkit", bench("ftpkit", "put", *pa, big, up_name), up_gone),
            ("curl", curl(sec) + via + ["-T", str(big), f"ftp://{USER}:{PASS}@localhost:{proxy.port}/{up_name}"], up_gone),
            ("lftp", lftp(sec, f"put {big} -o {up_name}", proxy.port, LAT_HOST), up_gone),
        ]
        latency_rows(f"latency STOR {LAT_BIG // MIB} MiB, {rtt} ms RTT {sec}", "MB/s", LAT_BIG, large_up, proxy)
        if sec == LAT_SEC[0]:
            rates = [proxy_ceiling(sec, rtt, LAT_BIG) for _ in range(max(3, RUNS))]
            LIMITS[f"proxy-{rtt}"] = statistics.median(rates)
            print(f"  [latency] proxy ceiling at {rtt} ms: {LIMITS[f'proxy-{rtt}']:.1f} MB/s "
                  f"(raw stream of {LAT_BIG // MIB} MiB, median of {len(rates)})", file=sys.stderr, flush=True)
    finally:
        ENV.pop("FTPKIT_BENCH_HOST", None)
        proxy.close()


def latency_rows(case: str, unit: str, amount: float, tools: list[tuple], proxy: DelayProxy) -> None:
    """Like interleave, and each run's control round trips and data
    connections per file (or per run, for the large file) from the proxy."""
    rows = [Row(case, t[0], unit, amount) for t in tools]
    for r in rows[1:]:
        r.ref = rows[0]
    per: list[list[tuple[float, float]]] = [[] for _ in tools]
    for run in range(RUNS):
        rot = list(range(len(tools)))
        rot = rot[run % len(rot):] + rot[: run % len(rot)]
        for i in rot:
            name, argv, cleanup = tools[i]
            if cleanup:
                cleanup()
            if rows[i].failed:
                continue
            before = proxy.stats()
            try:
                res = measure(argv, subprocess.DEVNULL)
            except Failed as e:
                if i == 0:
                    raise
                # A peer that cannot do this case (rclone's TLS against
                # vsftpd): a row that says so, not the end of the bench.
                rows[i].failed = " ".join(" ".join(str(e).splitlines()[1:]).split())[:200]  # without the argv line
                print(f"  [{case}] {name}: FAILED, {rows[i].failed}", file=sys.stderr, flush=True)
                continue
            after = proxy.stats()
            rows[i].runs.append(res)
            n = amount if unit == "files/s" else 1
            rt = (after["control_round_trips"] - before["control_round_trips"]) / n
            dc = (after["data_connections"] - before["data_connections"]) / n
            per[i].append((rt, dc))
            rate = amount / res["wall"] / (1e6 if unit == "MB/s" else 1)
            print(f"  [{case}] run {run + 1}/{RUNS} {name}: {rate:.1f} {unit}, {rt:.2f} control round trips"
                  f" and {dc:.2f} data connections {'per file' if unit == 'files/s' else 'per run'}", file=sys.stderr, flush=True)
            if cleanup:
                cleanup()
    for r, p in zip(rows, per):
        if not p:
            continue
        rt = statistics.median(x for x, _ in p)
        dc = statistics.median(y for _, y in p)
        r.note = f"{rt:.1f} RTT + {dc:.1f} data conn. {'per file' if unit == 'files/s' else 'per run'}"
    ROWS.extend(rows)


def case_proftpd_tls() -> None:
    """Issue #11 section 5: PROFTPD_FILES small uploads on one session to ProFTPD over TLS."""
    if PROFTPD_TLS is None:
        raise Failed("case proftpd-tls: no PROFTPD_TLS in the env file: "
                     "bash interop/servers.sh start (all, or VSFTPD VSFTPD_TLS PROFTPD_TLS)")
    port, root = PROFTPD_TLS
    small = DATA / "p11-src"
    rm(small)
    small.mkdir()
    for i in range(PROFTPD_FILES):
        (small / f"f{i:05d}.bin").write_bytes(os.urandom(FILE_SIZE))
    outs = {}

    def tool(label: str, slug: str, argv_for) -> tuple:
        rdir = f"{PFX}p11-{slug}"
        out = None
        if label.startswith("ftpkit"):
            outs[label] = DATA / f"p11-{slug}.out"
            rm(outs[label])
            out = open(outs[label], "a")
        return (label, argv_for(rdir), remover(root / rdir), out)

    tools = [
        tool("ftpkit 1 session TLS 1.3", "ftpkit13",
             lambda d: bench("ftpkit", "small-up-loop", port, "tls", small, d)),
        tool("ftpkit 1 session TLS 1.2", "ftpkit12",
             lambda d: bench("ftpkit", "small-up-loop", port, "tls12", small, d)),
        tool("python ftplib 1 session", "ftplib",
             lambda d: [sys.executable, str(Path(__file__).resolve()), "ftplib-small-up", str(port), str(small), d]),
        tool("lftp mirror", "lftp",
             lambda d: lftp("tls", f"mirror -R --no-perms {small} {d}", port=port)),
    ]
    try:
        # Not "upload ...": the single-connection lftp target of the small case is not this case's.
        rows = interleave(f"ProFTPD TLS: upload {PROFTPD_FILES} x {FILE_SIZE // 1024} KiB, one session", "files/s",
                          PROFTPD_FILES, tools)
    finally:
        for _, _, cleanup, out in tools:
            cleanup()
            if out:
                out.close()
        rm(small)
    for r in rows:
        if r.tool in outs:
            refreshes = [int(m) for m in re.findall(r"refreshes=(\d+)", outs[r.tool].read_text())]
            if refreshes:
                r.note = (f"{refreshes[0]} refreshes per run" if len(set(refreshes)) == 1
                          else f"refreshes per run {'/'.join(map(str, refreshes))}")
            print(f"  [proftpd-tls] {r.tool}: session refreshes per run: {refreshes}", file=sys.stderr)
    for out in outs.values():
        rm(out)


def case_segmented(big: Path) -> None:
    out = DATA / "seg-out.bin"
    clean = remover(out, DATA / "seg-out.bin.part")
    for sec in SEG_SEC:
        _, root = SERVERS[sec]
        remote = f"{PFX}big.bin"
        publish(big, root / remote)
        interleave(f"segmented RETR to a file {sec}", "MB/s", SIZE, [
            (f"ftpkit {P} sessions", bench("ftpkit", "segmented", *sec_args(sec), remote, out, P), clean, None),
            ("ftpkit 1 stream", bench("ftpkit", "get-file", *sec_args(sec), remote, out), clean, None),
            ("curl", curl(sec) + ["-o", str(out), url(sec, remote)], clean, None),
            (f"lftp pget -n {P}", lftp(sec, f"pget -n {P} {remote} -o {out}"), clean, None),
        ], cpu_per=GIB)
        rm(root / remote)
    clean()


def case_memory(big: Path) -> None:
    """Peak RSS of the `ftpkit` CLI downloading to stdout (> /dev/null)."""
    plain_root = SERVERS["plain"][1]
    huge = f"{PFX}huge.bin"
    with open(plain_root / huge, "wb") as f:
        f.truncate(HUGE)  # sparse: the server reads zero pages
    os.chmod(plain_root / huge, 0o644)
    for sec, remote, size in (("plain", f"{PFX}big.bin", SIZE), ("tls", f"{PFX}big.bin", SIZE), ("plain", huge, HUGE)):
        port, root = SERVERS[sec]
        if remote != huge:
            publish(big, root / remote)
        scheme = "ftpes" if tls(sec) else "ftp"
        cli = [str(CLI_BIN), "get", f"{scheme}://{USER}:{PASS}@{HOST}:{port}/{remote}", "-"]
        if tls(sec):
            cli[1:1] = ["--ca-file", CA]
        label = f"{size / GIB:g} GiB" if size >= GIB else f"{size // MIB} MiB"
        tools = [("ftpkit CLI", cli, None, None)]
        if remote != huge:
            tools.append(("curl", curl(sec) + ["-o", "-", url(sec, remote)], None, None))
        interleave(f"memory: CLI get {label} {sec} > /dev/null", "MB/s", size, tools, cpu_per=GIB)
    rm(plain_root / huge)
    for sec in ("plain", "tls"):
        rm(SERVERS[sec][1] / f"{PFX}big.bin")


LIMITS: dict[str, float] = {}


def case_limits() -> None:
    size = 4 * GIB
    for name, argv, amount in (("loopback", bench("loopback", size), size), ("aes-gcm", bench("aes-gcm", 2 * GIB), 2 * GIB)):
        rates = []
        for _ in range(max(3, RUNS)):
            out = subprocess.run(argv, check=True, capture_output=True, text=True, env=ENV).stdout
            m = re.search(r"bytes=(\d+) .*secs=([\d.]+)", out)
            rates.append(int(m.group(1)) / float(m.group(2)) / 1e6)
        LIMITS[name] = statistics.median(rates)
        print(f"  [limits] {name}: {LIMITS[name]:.0f} MB/s (median of {len(rates)})", file=sys.stderr)


PARSERS: dict[str, dict[str, float]] = {}


def case_parsers() -> None:
    """Reads criterion's results (scripts/bench.sh runs `cargo bench` first)."""
    if not CRITERION.exists():
        print("  [parsers] no criterion results: run scripts/bench.sh (or cargo bench in crates/bench)", file=sys.stderr)
        return
    for est in sorted(CRITERION.glob("*/*/new/estimates.json")):
        group, func = est.parts[-4], est.parts[-3]
        meta = json.loads((est.parent / "benchmark.json").read_text())
        lines = meta["throughput"]["Elements"]
        ns = json.loads(est.read_text())["median"]["point_estimate"]
        PARSERS.setdefault(group, {})[func] = lines / (ns * 1e-9)


# ----- report ------------------------------------------------------------------


def fmt(v: float | None, spec: str = ".0f") -> str:
    return "" if v is None else format(v, spec)


def table() -> list[str]:
    head = ["case", "tool", "median", "min", "max", "unit", "CPU s/GiB", "peak RSS MiB", "ftpkit ÷ tool"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in ROWS:
        if r.failed:
            lines.append(f"| {r.case} | {r.tool} | failed: {r.failed} | | | {r.unit} | | | |")
            continue
        rates = r.rates()
        prec = ".0f" if r.median >= 100 else ".1f"
        ratio = r.ratio()
        lines.append("| " + " | ".join([
            r.case, f"{r.tool} ({r.note})" if r.note else r.tool, fmt(r.median, prec), fmt(min(rates), prec), fmt(max(rates), prec), r.unit,
            fmt(r.cpu(), ".2f"), fmt(r.rss(), ".1f"), "" if ratio is None else f"{ratio:.2f}x",
        ]) + " |")
    for group, funcs in PARSERS.items():
        ours = funcs.get("ftpkit")
        for tool, rate in sorted(funcs.items()):
            ratio = ours / rate if tool != "ftpkit" and ours else None
            lines.append(f"| parser {group} (100,000 lines) | {tool} | {rate / 1e6:.2f} | | | Mlines/s | | | "
                         f"{'' if ratio is None else f'{ratio:.2f}x'} |")
    for name, what in (("loopback", "raw TCP loopback, two processes"), ("aes-gcm", "AES-256-GCM seal, one core (ring)")):
        if name in LIMITS:
            lines.append(f"| limit: {what} | | {LIMITS[name]:.0f} | | | MB/s | | | |")
    for rtt in LAT_RTTS:
        if f"proxy-{rtt}" in LIMITS:
            lines.append(f"| limit: delay proxy at {rtt} ms RTT, raw TCP stream of {LAT_BIG // MIB} MiB | | "
                         f"{LIMITS[f'proxy-{rtt}']:.1f} | | | MB/s | | | |")
    return lines


def find(case_prefix: str, tool: str) -> Row | None:
    for r in ROWS:
        if r.case.startswith(case_prefix) and r.tool == tool and r.runs:
            return r
    return None


def targets() -> list[str]:
    out = []

    def check(ok: bool, text: str) -> None:
        out.append(f"- {'met' if ok else '**missed**'}: {text}")

    # Issue #15: many small files through the delay proxy, ftpkit with its
    # defaults (mirror -P{P}) against lftp -P{P} and rclone's default; one
    # session against lftp's one connection.
    for r in ROWS:
        if not (r.case.startswith("latency") and "KiB" in r.case):
            continue
        if r.failed:
            out.append(f"- not measured: {r.case}: {r.tool} failed ({r.failed})")
            continue
        if r.tool == f"lftp mirror -P{P}":
            check(r.ratio() >= 2.0, f"{r.case}: ftpkit {r.ratio():.2f}x lftp mirror -P{P} (target >= 2x)")
        if r.tool == "rclone copy --transfers 4":
            check(r.ratio() >= 1.5, f"{r.case}: ftpkit {r.ratio():.2f}x rclone copy (default transfers; target >= 1.5x)")
        if r.tool == "lftp mirror":
            one = find(r.case, "ftpkit mirror -P1")
            if one:
                q = one.median / r.median
                check(q >= 1.5, f"{r.case}: one ftpkit session {q:.2f}x lftp mirror on one connection (target >= 1.5x)")
    # Issue #15: the single large file at 50 ms, whole run (login included)
    # against the proxy's raw-stream ceiling.
    for r in ROWS:
        m = re.match(r"latency (?:RETR|STOR) \d+ MiB, (\d+) ms RTT", r.case)
        if m and r.tool == "ftpkit" and m.group(1) == "50" and "proxy-50" in LIMITS and r.runs:
            q = r.median / LIMITS["proxy-50"]
            check(q >= 0.95, f"{r.case}: ftpkit {r.median:.1f} MB/s, {q:.2f}x the proxy's raw-stream ceiling "
                             f"{LIMITS['proxy-50']:.1f} MB/s (target >= 0.95x; the run includes login and {r.note})")
    # Issue #15, part 3: TLS RETR on Pure-FTPd TLS 1.3, CPU per GiB at most
    # 0.75x suppaftp's and 0.6x curl's, throughput at least 1.3x suppaftp;
    # on vsftpd not below either.
    for r in ROWS:
        if not (r.case.startswith("RETR") and r.case.endswith("tls") and r.tool in ("curl", "suppaftp")):
            continue
        if r.ratio() is None:
            continue
        if r.case.endswith("pureftpd-tls"):
            f, c = r.ref.cpu(), r.cpu()
            cap = 0.75 if r.tool == "suppaftp" else 0.6
            check(f <= cap * c, f"{r.case}: CPU {f:.2f} s/GiB, {f / c:.2f}x {r.tool}'s {c:.2f} (target <= {cap}x)")
            if r.tool == "suppaftp":
                check(r.ratio() >= 1.3, f"{r.case}: ftpkit {r.ratio():.2f}x suppaftp (target >= 1.3x)")
        else:
            check(r.ratio() >= 1.0, f"{r.case} (vsftpd): ftpkit {r.ratio():.2f}x {r.tool} (target: not below)")
    for r in ROWS:
        if r.case.startswith(("RETR", "STOR")) and r.tool in ("curl", "suppaftp"):
            need = 1.0 if r.tool == "curl" else 1.2
            check(r.ratio() >= need, f"{r.case}: ftpkit {r.ratio():.2f}x {r.tool} (target >= {need}x)")
            if r.tool == "curl":
                f, c = r.ref.cpu(), r.cpu()
                check(f <= c, f"{r.case}: CPU {f:.2f} s/GiB vs curl {c:.2f} s/GiB (target <=)")
        if r.case.startswith(("upload", "download")) and r.tool == "lftp mirror":
            check(r.ratio() >= 3.0, f"{r.case}: {r.ref.tool} {r.ratio():.2f}x lftp mirror (single connection; target >= 3x)")
        if r.case.startswith("ProFTPD TLS") and r.tool in ("ftpkit 1 session TLS 1.2", "lftp mirror"):
            need = 0.8 if r.tool.startswith("ftpkit") else 1.0
            check(r.ratio() >= need, f"{r.case}: {r.ref.tool} {r.ratio():.2f}x {r.tool} (target >= {need}x; "
                                     f"{r.ref.note or 'refreshes not reported'})")
        if r.case.startswith("memory") and r.tool == "ftpkit CLI":
            check(r.rss() <= 16, f"{r.case}: peak RSS {r.rss():.1f} MiB (target <= 16 MiB)")
    # Issue #15: MLSD >= 5x, Unix LIST >= 8x, DOS >= 10x suppaftp (ftpkit's
    # borrowed entries; "ftpkit owned" is the owned form, shown beside).
    targets = {"mlsd": 5, "list_unix": 8, "list_dos": 10}
    for group, funcs in PARSERS.items():
        if "suppaftp" in funcs and "ftpkit" in funcs:
            ratio = funcs["ftpkit"] / funcs["suppaftp"]
            need = targets.get(group, 5)
            check(ratio >= need, f"parser {group}: ftpkit {ratio:.2f}x suppaftp (target >= {need}x)")
    return out


def version(argv: list[str], pattern: str = r".+") -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        text = (p.stdout + p.stderr).strip()
        m = re.search(pattern, text)
        return m.group(0).strip() if m else text.splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


def stamp(pkg: str) -> str:
    """A package version from servers.sh's install stamp."""
    path = Path(os.environ.get("FTPKIT_INTEROP_PREFIX", "/opt/ftpkit-interop")) / "installed.stamp"
    try:
        for line in path.read_text().splitlines():
            if line.startswith(pkg + "="):
                return line.split("=", 1)[1]
    except OSError:
        pass
    return "unknown"


def machine() -> list[str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            mem = int(line.split()[1]) * 1024
    dpkg = lambda pkg: version(["dpkg-query", "-W", "-f=${Version}", pkg])
    lock = (ROOT / "crates" / "bench" / "Cargo.lock").read_text()
    m = re.search(r'name = "suppaftp"\nversion = "([^"]+)"', lock)
    return [
        f"- CPU: {cpu}, {os.cpu_count()} logical cores; RAM {mem / GIB:.1f} GiB",
        f"- kernel: {platform.system()} {platform.release()}",
        f"- rustc: {version(['rustc', '--version'])}",
        f"- curl: {version(['curl', '--version'], r'curl [^ ]+ .*?(OpenSSL|GnuTLS)/[^ ]+')}",
        f"- lftp: {version(['lftp', '--version'], r'Version [^ ]+')} (Debian package {dpkg('lftp')})",
        f"- vsftpd: {dpkg('vsftpd')} (Debian package)",
        f"- suppaftp: {m.group(1) if m else 'unknown'} (features tokio-rustls-ring)",
        *([f"- ProFTPD: {stamp('proftpd-core')} (Debian package, mod_tls from proftpd-mod-crypto); "
           f"Python {platform.python_version()} ftplib with {__import__('ssl').OPENSSL_VERSION}"]
          if "proftpd-tls" in CASES else []),
        f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
    ]


def write_doc(command: str, tbl: list[str], tg: list[str]) -> None:
    path = Path(DOC)
    head = path.read_text().split(MARKER)[0].rstrip() + "\n\n" if path.exists() and MARKER in path.read_text() else "# Performance\n\n"
    sizes = (f"RUNS={RUNS}; large file {SIZE // MIB} MiB (random bytes); memory case also {HUGE // MIB} MiB (sparse); "
             f"{FILES} small files of {FILE_SIZE // 1024} KiB; parallelism {P}")
    body = [
        MARKER, "", "## Last run", "",
        "Machine:", "", *machine(), "",
        f"Command: `{command}`", "", f"Parameters: {sizes}.", "",
        *tbl, "",
        "The limits are references, not hard ceilings: the loopback figure is a write()/read() copy "
        "between two processes, and vsftpd sends downloads with sendfile(), which skips the "
        "sender's copy, so a plain RETR can exceed it. A TLS transfer moves every byte through "
        "AES-GCM once on each side, and client and server share the machine's cores.", "",
        "### Targets", "", *tg, "",
    ]
    path.write_text(head + "\n".join(body))
    print(f"wrote {path}", file=sys.stderr)


def main() -> None:
    for b in (BENCH_BIN,) + ((CLI_BIN,) if "memory" in CASES else ()):
        if not b.exists():
            sys.exit(f"bench.py: {b} missing: build it (scripts/bench.sh does)")
    DATA.mkdir(parents=True, exist_ok=True)
    big = DATA / "big.bin"
    small = DATA / "small"
    try:
        if {"large", "segmented", "memory"} & set(CASES):
            print(f"creating {big} ({SIZE // MIB} MiB)", file=sys.stderr)
            make_random(big, SIZE)
        if "small" in CASES:
            rm(small)
            small.mkdir()
            for i in range(FILES):
                (small / f"f{i:05d}.bin").write_bytes(os.urandom(FILE_SIZE))
        if "limits" in CASES:
            case_limits()
        if "large" in CASES:
            case_large(big)
        if "small" in CASES:
            case_small(small)
        if "proftpd-tls" in CASES:
            case_proftpd_tls()
        if "latency" in CASES:
            case_latency()
        if "segmented" in CASES:
            case_segmented(big)
        if "memory" in CASES:
            case_memory(big)
        if "parsers" in CASES:
            case_parsers()
    except Failed as e:
        sys.exit(f"bench.py: a measured run failed:\n{e}")
    finally:
        # Leave the servers' roots as found and drop the big local files.
        for _, root in list(SERVERS.values()) + ([PROFTPD_TLS] if PROFTPD_TLS else []):
            for p in root.glob(f"{PFX}*"):
                rm(p)
        for p in (big, small, DATA / "p11-src", DATA / "seg-out.bin", DATA / "seg-out.bin.part", *DATA.glob("down-*")):
            rm(p)
    tbl = table()
    print()
    print("\n".join(tbl))
    print()
    tg = targets()
    print("\n".join(tg))
    if DOC != "-":
        command = os.environ.get("BENCH_COMMAND", "just bench")
        write_doc(command, tbl, tg)


if __name__ == "__main__":
    main()
