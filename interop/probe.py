"""Record, command by command, what a plain-FTP interop instance answers.

    python3 interop/probe.py [ENV_FILE] NAME [NAME...]
    python3 interop/probe.py --host 127.0.0.1 --port P --user U --password W NAME

Raw sockets, not ftplib: every reply line is printed as the server sent it,
with the data connection's bytes, so quirks show up exactly (used to write
the INETUTILS-* and TWISTED-* sections of docs/server-quirks.md): login,
FEAT, MKD/STOR/LIST/NLST/MLSD/SIZE/MDTM with names that have blanks, REST in
both orders, RNFR/RNTO, DELE, RMD, ABOR idle and during a 32 MiB RETR, and
whether a command is read while a passive data connection is pending. Works
in a directory `probe-<pid>` of its own under the root and removes it at
the end.
Exit status 0 unless the connection or the login fails.

The user and password of an instance are FTPKIT_INTEROP_<NAME>_USER/_PASS
from the env file (falling back to FTPKIT_INTEROP_USER/_PASS).
"""

import argparse
import os
import re
import socket
import sys
import time

TIMEOUT = 15


def load_env(path):
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line and not line.startswith("#") and "=" in line:
                k, v = line.split("=", 1)
                env[k] = v
    return env


class Probe:
    def __init__(self, host, port, out):
        self.host = host
        self.port = port
        self.out = out
        self.sock = socket.create_connection((host, port), TIMEOUT)
        self.buf = b""
        self.pending = None  # (kind, host, port) from the last PASV/EPSV/PORT

    # -- control connection ------------------------------------------------
    def readline(self, timeout=TIMEOUT):
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError("control connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def reply(self, timeout=TIMEOUT):
        """One complete reply: [lines]; code of the last line."""
        lines = [self.readline(timeout)]
        first = lines[0]
        if len(first) >= 4 and first[3:4] == b"-":
            end = first[:3] + b" "
            while True:
                line = self.readline(timeout)
                lines.append(line)
                if line.startswith(end):
                    break
        for l in lines:
            self.out(f"   < {l.decode('latin-1')}")
        return lines

    def send(self, cmd, shown=None):
        self.out(f"   > {shown or cmd}")
        self.sock.sendall(cmd.encode("latin-1") + b"\r\n")

    def cmd(self, cmd, shown=None, timeout=TIMEOUT):
        self.send(cmd, shown)
        t0 = time.monotonic()
        lines = self.reply(timeout)
        dt = time.monotonic() - t0
        if dt > 1:
            self.out(f"     (reply after {dt:.1f} s)")
        return lines

    # -- data connections --------------------------------------------------
    def pasv(self, kind="PASV"):
        lines = self.cmd(kind)
        last = lines[-1].decode("latin-1")
        if kind == "PASV" and last.startswith("227"):
            m = re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", last)
            h = ".".join(m.group(i) for i in range(1, 5))
            p = int(m.group(5)) * 256 + int(m.group(6))
            self.out(f"     (advertised {h}:{p})")
            return socket.create_connection((self.host, p), TIMEOUT)
        if kind.startswith("EPSV") and last.startswith("229"):
            m = re.search(r"\(\|\|\|(\d+)\|\)", last)
            return socket.create_connection((self.host, int(m.group(1))), TIMEOUT)
        return None

    def active(self, kind="PORT"):
        ls = socket.socket()
        ls.bind((self.host, 0))
        ls.listen(1)
        ls.settimeout(TIMEOUT)
        p = ls.getsockname()[1]
        if kind == "PORT":
            arg = self.host.replace(".", ",") + f",{p >> 8},{p & 255}"
        else:
            arg = f"|1|{self.host}|{p}|"
        lines = self.cmd(f"{kind} {arg}")
        if not lines[-1].startswith(b"2"):
            ls.close()
            return None
        return ls

    def transfer(self, cmd, data_sock=None, upload=None, kind="PASV", shown=None, rest=None):
        """Opens a data connection (kind: PASV, EPSV, PORT, EPRT), sends
        `REST rest` if given (after PASV/EPSV/PORT/EPRT, as ftplib does),
        then cmd, moves the bytes, returns (replies, received bytes)."""
        listener = None
        if data_sock is None:
            if kind in ("PASV", "EPSV"):
                data_sock = self.pasv(kind)
            else:
                listener = self.active(kind)
            if data_sock is None and listener is None:
                return None, b""
        if rest is not None:
            self.cmd(f"REST {rest}")
        self.send(cmd, shown)
        first = self.reply()
        if not first[-1][:1] == b"1":
            if data_sock:
                data_sock.close()
            if listener:
                listener.close()
            return first, b""
        if listener:
            data_sock, _ = listener.accept()
            listener.close()
        got = b""
        data_sock.settimeout(TIMEOUT)
        if upload is not None:
            data_sock.sendall(upload)
            data_sock.shutdown(socket.SHUT_WR)
            try:
                while data_sock.recv(4096):
                    pass
            except OSError:
                pass
        else:
            while True:
                chunk = data_sock.recv(65536)
                if not chunk:
                    break
                got += chunk
        data_sock.close()
        if upload is None:
            text = got.decode("latin-1")
            shown_lines = text.splitlines() or ["(empty)"]
            self.out(f"     [data {len(got)} bytes]")
            for l in shown_lines[:20]:
                self.out(f"     | {l!r}" if not l.isprintable() else f"     | {l}")
        final = self.reply()
        return first + final, got

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


ABOR_SIZE = 32 << 20  # larger than the loopback socket buffers


def abort_tests(p, out):
    """ABOR during a RETR: plain while still reading, plain after closing
    the data connection, and after Telnet IP + Synch (urgent data)."""
    out(f"-- ABOR during RETR ({ABOR_SIZE >> 20} MiB file)")
    p.cmd("TYPE I")
    p.transfer("STOR big.bin", upload=os.urandom(ABOR_SIZE), kind="PASV", shown="STOR big.bin")
    for variant in ("plain, data kept open and read", "plain, data closed first", "IAC IP + IAC DM (urgent), data kept open"):
        out(f"-- ABOR variant: {variant}")
        ds = p.pasv("PASV")
        if ds is None:
            return
        p.send("RETR big.bin")
        first = p.reply()
        if not first[-1].startswith(b"1"):
            ds.close()
            continue
        ds.settimeout(TIMEOUT)
        got = len(ds.recv(65536))
        if variant.startswith("IAC"):
            p.sock.sendall(b"\xff\xf4\xff")
            p.sock.send(b"\xf2", socket.MSG_OOB)
            out("   > IAC IP IAC DM(urgent)")
        if "closed first" in variant:
            ds.close()
            out("     (data connection closed by the client)")
        p.send("ABOR")
        t0 = time.monotonic()
        if "closed first" not in variant:
            # Read the data connection for a while, as a client would.
            ds.settimeout(0.5)
            try:
                while time.monotonic() - t0 < 3:
                    chunk = ds.recv(1 << 20)
                    if not chunk:
                        break
                    got += len(chunk)
            except socket.timeout:
                pass
        n = 0
        try:
            while n < 3:
                p.reply(timeout=3)
                out(f"     ({time.monotonic() - t0:.2f} s after ABOR)")
                n += 1
        except socket.timeout:
            pass
        if "closed first" not in variant:
            try:
                ds.settimeout(5)
                while True:
                    chunk = ds.recv(1 << 20)
                    if not chunk:
                        break
                    got += len(chunk)
            except OSError:
                pass
            ds.close()
            out(f"     (data received in all: {got} of {ABOR_SIZE} bytes)")
            try:
                while True:
                    p.reply(timeout=3)
            except socket.timeout:
                pass
        p.cmd("NOOP")
    p.cmd("DELE big.bin")


def run(name, host, port, user, password, out):
    d = f"probe-{os.getpid()}"
    out(f"== {name} {host}:{port} user {user}")

    # Wrong password: code and delay (own connection).
    p = Probe(host, port, out)
    p.reply()
    p.cmd(f"USER {user}")
    t0 = time.monotonic()
    p.cmd("PASS wrong-password", shown="PASS (wrong)")
    out(f"     (wrong password answered after {time.monotonic() - t0:.2f} s)")
    p.close()

    p = Probe(host, port, out)
    out("-- greeting")
    p.reply()
    out("-- before login")
    p.cmd("FEAT")
    p.cmd("PWD")
    out("-- login")
    p.cmd(f"USER {user}")
    t0 = time.monotonic()
    lines = p.cmd(f"PASS {password}", shown="PASS ****")
    out(f"     (login answered after {time.monotonic() - t0:.2f} s)")
    if not lines[-1].startswith(b"230"):
        raise RuntimeError("login failed")
    for c in ("FEAT", "SYST", "PWD", "OPTS UTF8 ON", "TYPE I", "STAT", "HELP"):
        out(f"-- {c}")
        p.cmd(c)

    out("-- working directory of our own")
    p.cmd(f"MKD {d}")
    p.cmd(f"CWD {d}")
    p.cmd("PWD")
    out("-- MKD with a space")
    p.cmd("MKD c d")
    p.cmd("PWD")
    body = b"0123456789abcdefghij\n" * 5  # 105 bytes
    p.cmd("MKD plain")
    p.transfer("STOR plain/inner.txt", upload=b"inner\n", kind="PASV")
    out("-- STOR into 'c d' (PASV)")
    p.transfer("STOR c d/f1.txt", upload=body, kind="PASV")
    out("-- STOR into the root (EPSV)")
    p.transfer("STOR root.txt", upload=body, kind="EPSV")
    out("-- STOR, active (PORT)")
    p.transfer("STOR active.txt", upload=b"active\n", kind="PORT")
    out("-- STOR, active (EPRT)")
    p.transfer("STOR eprt.txt", upload=b"eprt\n", kind="EPRT")
    out("-- STOR a UTF-8 name (e-acute, 2 bytes C3 A9)")
    p.transfer("STOR \u00c3\u00a9.txt", upload=b"utf8\n", kind="PASV", shown="STOR <C3 A9>.txt")
    out("-- APPE")
    p.transfer("APPE root.txt", upload=b"appended\n", kind="PASV")
    for c in ("LIST", "LIST c d", "LIST c\\ d", "LIST root.txt", "LIST -la", "LIST -la c d",
              "NLST", "NLST c d", "NLST plain", "NLST root.txt", "NLST *.txt", "NLST -la",
              "MLSD", "MLSD c d"):
        out(f"-- {c}")
        p.transfer(c, kind="PASV")
    out("-- MLST")
    p.cmd("MLST root.txt")
    out("-- SIZE / MDTM")
    for c in ("SIZE root.txt", "SIZE c d/f1.txt", "SIZE c d", "SIZE missing", "MDTM root.txt",
              "MDTM c d/f1.txt", "MDTM missing", "TYPE A", "SIZE root.txt", "TYPE I"):
        p.cmd(c)
    out("-- RETR")
    p.transfer("RETR c d/f1.txt", kind="PASV")
    out("-- EPSV, REST 100, RETR (ftplib's order)")
    p.transfer("RETR root.txt", kind="EPSV", rest=100)
    out("-- PASV, REST 100, RETR")
    p.transfer("RETR root.txt", kind="PASV", rest=100)
    out("-- REST 100, then PASV, RETR (REST before PASV)")
    p.cmd("REST 100")
    p.transfer("RETR root.txt", kind="PASV")
    out("-- PASV, REST 100, STOR (resume an upload)")
    p.transfer("STOR root.txt", upload=b"XXXX\n", kind="PASV", rest=100)
    p.cmd("SIZE root.txt")
    out("-- REST 100, then PASV, STOR")
    p.cmd("REST 100")
    p.transfer("STOR root.txt", upload=b"YYYY\n", kind="PASV")
    p.cmd("SIZE root.txt")
    out("-- RETR of a missing file, STOR into a missing directory")
    p.transfer("RETR missing", kind="PASV")
    p.transfer("STOR nodir/x.txt", upload=b"x\n", kind="PASV")
    out("-- RNFR/RNTO")
    p.cmd("RNFR root.txt")
    p.cmd("RNTO c d/moved.txt")
    p.cmd("RNFR missing")
    p.cmd("RNTO missing2")
    p.cmd("RNFR c d/moved.txt")
    p.cmd("RNTO renamed back.txt")
    out("-- CWD into 'c d', CDUP")
    p.cmd("CWD c d")
    p.cmd("PWD")
    p.cmd("CDUP")
    p.cmd("PWD")
    out("-- RMD of a non-empty directory")
    p.cmd("RMD c d")
    out("-- DELE")
    p.cmd("DELE c d/f1.txt")
    p.cmd("DELE missing")
    p.cmd("DELE renamed back.txt")
    for n in ("active.txt", "eprt.txt"):
        p.cmd(f"DELE {n}")
    p.cmd("DELE \u00c3\u00a9.txt", shown="DELE <C3 A9>.txt")
    p.cmd("DELE plain/inner.txt")
    p.cmd("RMD plain")
    out("-- RMD")
    p.cmd("RMD c d")
    p.cmd("RMD c d")
    out("-- ABOR with no transfer, NOOP")
    p.cmd("ABOR")
    p.cmd("NOOP")
    for kind in ("PASV", "EPSV"):
        out(f"-- {kind}, then NOOP before connecting (is NOOP read before the data connection?)")
        lines = p.cmd(kind)
        last = lines[-1].decode("latin-1")
        m = re.search(r"\(\|\|\|(\d+)\|\)", last) or re.search(r"(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)", last)
        if not m:
            continue
        port = int(m.group(1)) if kind == "EPSV" else int(m.group(5)) * 256 + int(m.group(6))
        p.send("NOOP")
        t0 = time.monotonic()
        try:
            p.reply(timeout=3)
            out(f"     (NOOP answered after {time.monotonic() - t0:.2f} s without a data connection)")
            continue
        except socket.timeout:
            out("     (no reply within 3 s; now connecting the data connection)")
        ds = socket.create_connection((p.host, port), TIMEOUT)
        t0 = time.monotonic()
        p.reply(timeout=20)
        out(f"     (reply {time.monotonic() - t0:.2f} s after the data connection opened)")
        ds.close()
    out(f"-- PASV, no data connection, no command: what comes in 15 s?")
    p.cmd("PASV")
    p.send("NOOP")
    t0 = time.monotonic()
    try:
        p.reply(timeout=15)
        out(f"     (first reply after {time.monotonic() - t0:.1f} s)")
        p.reply(timeout=5)
        out(f"     (second reply after {time.monotonic() - t0:.1f} s)")
    except socket.timeout:
        out(f"     (nothing more after {time.monotonic() - t0:.1f} s)")
    abort_tests(p, out)
    out("-- cleanup")
    p.cmd("CDUP")
    p.cmd(f"RMD {d}")
    p.cmd("QUIT")
    p.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("env", nargs="?", default=None)
    ap.add_argument("names", nargs="*")
    ap.add_argument("--host")
    ap.add_argument("--port", type=int)
    ap.add_argument("--user")
    ap.add_argument("--password")
    a = ap.parse_args()
    names = list(a.names)
    env_path = os.environ.get("FTPKIT_INTEROP_DIR", "/tmp/ftpkit-interop") + "/env"
    if a.env and os.path.sep in a.env:
        env_path = a.env
    elif a.env:
        names.insert(0, a.env)
    out = lambda s: print(s, flush=True)  # noqa: E731
    rc = 0
    if a.port:
        run(names[0] if names else "server", a.host or "127.0.0.1", a.port, a.user, a.password, out)
        return 0
    env = load_env(env_path)
    for name in names:
        user = env.get(f"FTPKIT_INTEROP_{name}_USER", env["FTPKIT_INTEROP_USER"])
        password = env.get(f"FTPKIT_INTEROP_{name}_PASS", env["FTPKIT_INTEROP_PASS"])
        try:
            run(name, env["FTPKIT_INTEROP_HOST"], int(env[f"FTPKIT_INTEROP_{name}_PORT"]), user, password, out)
        except Exception as e:  # noqa: BLE001 - report and go on
            out(f"!! {name}: {type(e).__name__}: {e}")
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
