"""Smoke-test every running interop instance with Python's ftplib.

    interop/servers.sh check        (runs this with the interop venv)
    python3 interop/smoke.py [ENV_FILE] [NAME...]

For each instance in the env file written by `servers.sh start`: login, PWD,
STOR/RETR in passive and active mode (checked byte for byte against the file
on disk under the instance's root), REST+STOR resume, APPE, SIZE, MLSD (or
LIST where the server has no MLSD), DELE, a wrong password. On TLS instances
also: plain FTP is refused, and whether a data connection that does NOT
resume the control connection's TLS session is accepted (reported, since
vsftpd and ProFTPD refuse it by design). On the *CLIENTCERT instances: no
client certificate and a rogue one are refused, the test CA's is accepted.

Exit status 0 when every instance behaves as expected.
"""

import ftplib
import io
import os
import socket
import ssl
import sys
import time

FILE_SIZE = 1 << 20


def load_env(path):
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line and not line.startswith("#"):
                k, v = line.split("=", 1)
                env[k] = v
    return env


class ReuseFTP_TLS(ftplib.FTP_TLS):
    """FTP_TLS whose data connections resume the control connection's TLS
    session (stock ftplib does not: vsftpd then answers 522, ProFTPD 425)."""

    reuse_session = True

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            session = self.sock.session if self.reuse_session else None
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=session)
        return conn, size


class ImplicitFTP_TLS(ReuseFTP_TLS):
    """Implicit FTPS: TLS from the first byte of the control connection."""

    def connect(self, host="", port=0, timeout=-999, source_address=None):
        if host:
            self.host = host
        if port:
            self.port = port
        if timeout != -999:
            self.timeout = timeout
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.af = sock.family
        self.sock = self.context.wrap_socket(sock, server_hostname=self.host)
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome


class Instance:
    def __init__(self, env, name):
        self.env = env
        self.name = name
        self.port = int(env[f"FTPKIT_INTEROP_{name}_PORT"])
        self.root = env[f"FTPKIT_INTEROP_{name}_ROOT"]
        self.tls = env[f"FTPKIT_INTEROP_{name}_TLS"]
        self.user = env["FTPKIT_INTEROP_USER"]
        self.password = env["FTPKIT_INTEROP_PASS"]

    def context(self, cert=None, key=None):
        ctx = ssl.create_default_context(cafile=self.env["FTPKIT_INTEROP_CA"])
        if cert:  # "" = explicitly none
            ctx.load_cert_chain(cert, key)
        return ctx

    def default_cert(self):
        if self.name.endswith("CLIENTCERT"):
            return self.env["FTPKIT_INTEROP_CLIENT_CERT"], self.env["FTPKIT_INTEROP_CLIENT_KEY"]
        return None, None

    def connect(self, password=None, cert=None, key=None, reuse=True, login=True):
        if cert is None and key is None:
            cert, key = self.default_cert()
        if self.tls == "none":
            ftp = ftplib.FTP(timeout=20)
            ftp.connect("127.0.0.1", self.port)
        else:
            cls = ImplicitFTP_TLS if self.tls == "implicit" else ReuseFTP_TLS
            ftp = cls(context=self.context(cert, key), timeout=20)
            ftp.reuse_session = reuse
            ftp.connect("localhost", self.port)
        if login:
            ftp.login(self.user, self.password if password is None else password)
            if self.tls != "none":
                ftp.prot_p()
        return ftp


def stor(ftp, name, data, cmd="STOR", rest=None):
    ftp.storbinary(f"{cmd} {name}", io.BytesIO(data), rest=rest)


def retr(ftp, name):
    buf = io.BytesIO()
    ftp.retrbinary(f"RETR {name}", buf.write)
    return buf.getvalue()


def on_disk(inst, name):
    with open(os.path.join(inst.root, name), "rb") as f:
        return f.read()


def check_instance(inst):
    """Returns (failures, notes)."""
    fails, notes = [], []

    def expect(cond, what):
        if not cond:
            fails.append(what)

    data = os.urandom(FILE_SIZE)
    ftp = inst.connect()
    try:
        expect(ftp.pwd() == "/", f"PWD is {ftp.pwd()!r}, not '/'")
        for mode, pasv in (("pasv", True), ("active", False)):
            ftp.set_pasv(pasv)
            name = f"smoke-{mode}.bin"
            try:
                stor(ftp, name, data)
                expect(on_disk(inst, name) == data, f"{mode} STOR: file on disk differs")
                expect(retr(ftp, name) == data, f"{mode} RETR: bytes differ")
            except (ftplib.Error, OSError) as e:
                fails.append(f"{mode} STOR/RETR: {e}")
        ftp.set_pasv(True)

        # REST + STOR (resume an upload), then APPE.
        half = FILE_SIZE // 2
        stor(ftp, "smoke-resume.bin", data[:half])
        try:
            stor(ftp, "smoke-resume.bin", data[half:], rest=half)
            expect(on_disk(inst, "smoke-resume.bin") == data, "REST+STOR: file on disk differs")
        except ftplib.Error as e:
            fails.append(f"REST+STOR: {e}")
        try:
            stor(ftp, "smoke-resume.bin", data, cmd="APPE")
            expect(on_disk(inst, "smoke-resume.bin") == data + data, "APPE: file on disk differs")
        except ftplib.Error as e:
            fails.append(f"APPE: {e}")
        ftp.voidcmd("TYPE I")
        expect(ftp.size("smoke-resume.bin") == 2 * FILE_SIZE, "SIZE wrong")
        # REST + RETR
        buf = io.BytesIO()
        ftp.retrbinary("RETR smoke-pasv.bin", buf.write, rest=half)
        expect(buf.getvalue() == data[half:], "REST+RETR: bytes differ")

        try:
            names = {n for n, _ in ftp.mlsd()}
            notes.append("MLSD ok")
        except ftplib.error_perm as e:
            notes.append(f"no MLSD ({str(e)[:3]})")
            lines = []
            ftp.retrlines("LIST", lines.append)
            names = {l.split()[-1] for l in lines if l.strip()}
        expect({"smoke-pasv.bin", "smoke-active.bin", "smoke-resume.bin"} <= names, f"listing: {sorted(names)}")
        ftp.mkd("smoke-dir")
        expect(os.path.isdir(os.path.join(inst.root, "smoke-dir")), "MKD: no dir on disk")
        ftp.rmd("smoke-dir")
        for n in ("smoke-pasv.bin", "smoke-active.bin", "smoke-resume.bin"):
            ftp.delete(n)
        left = [n for n in os.listdir(inst.root) if n.startswith("smoke-")]
        expect(not left, f"still on disk after DELE/RMD: {left}")
        ftp.quit()
    finally:
        ftp.close()

    # Wrong password: refused, and how long the refusal takes.
    t0 = time.monotonic()
    try:
        inst.connect(password="wrong").quit()
        fails.append("wrong password accepted")
    except ftplib.error_perm as e:
        notes.append(f"bad pass {str(e)[:3]} in {time.monotonic() - t0:.1f}s")

    if inst.tls != "none":
        # Plain FTP must be refused.
        if inst.tls == "explicit":
            try:
                p = ftplib.FTP(timeout=10)
                p.connect("127.0.0.1", inst.port)
                p.login(inst.user, inst.password)
                fails.append("plain (no TLS) login accepted")
                p.close()
            except (ftplib.Error, OSError, EOFError) as e:
                notes.append(f"plain refused ({str(e)[:3]})")
        # Data connection without resuming the control session.
        ftp = inst.connect(reuse=False)
        try:
            try:
                ftp.retrlines("LIST", lambda _l: None)
                notes.append("reuse NOT required")
            except (ftplib.Error, OSError) as e:
                notes.append(f"reuse required ({str(e)[:3]})")
        finally:
            ftp.close()

    if inst.name.endswith("CLIENTCERT"):
        rogue = (inst.env["FTPKIT_INTEROP_ROGUE_CLIENT_CERT"], inst.env["FTPKIT_INTEROP_ROGUE_CLIENT_KEY"])
        for label, cert in (("no client cert", ("", "")), ("rogue client cert", rogue)):
            try:
                c = inst.connect(cert=cert[0], key=cert[1])
                c.retrlines("LIST", lambda _l: None)
                c.close()
                fails.append(f"{label} accepted")
            except (ftplib.Error, OSError, EOFError):
                notes.append(f"{label} refused")
    return fails, notes


def main():
    args = sys.argv[1:]
    env_path = os.environ.get("FTPKIT_INTEROP_DIR", "/tmp/ftpkit-interop") + "/env"
    if args and os.path.sep in args[0]:
        env_path = args.pop(0)
    env = load_env(env_path)
    names = args or env["FTPKIT_INTEROP_INSTANCES"].split(",")
    bad = 0
    for name in names:
        inst = Instance(env, name)
        t0 = time.monotonic()
        try:
            fails, notes = check_instance(inst)
        except Exception as e:  # noqa: BLE001 - report and go on
            fails, notes = [f"{type(e).__name__}: {e}"], []
        status = "ok  " if not fails else "FAIL"
        bad += bool(fails)
        print(f"{status} {name:<18} {inst.port} {inst.tls:<8} {time.monotonic() - t0:5.2f}s  {'; '.join(notes)}")
        for f in fails:
            print(f"       - {f}")
    print(f"{len(names) - bad} passed, {bad} failed")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
