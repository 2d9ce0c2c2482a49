"""One pyftpdlib instance for the ftpkit interop suite.

Started by interop/servers.sh with the venv's python:
    python pyftpdlib_server.py --port P --root DIR --pasv MIN-MAX \
        --user U --password-file F [--tls --cert C --key K]
It runs in the foreground, logs to stderr (servers.sh redirects it to the
runtime dir) and listens on 127.0.0.1 only.
"""

import argparse
import logging
import os
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--pasv", required=True, help="MIN-MAX passive port range")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--run-as", help="drop root to this user after binding")
    args = ap.parse_args()

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s " + args.name + " %(message)s",
    )
    os.umask(0o022)

    with open(args.password_file, encoding="ascii") as f:
        password = f.read().strip()

    authorizer = DummyAuthorizer()
    # e l r a d f m w M T: every read and write permission, including APPE
    # (a), STOR (w), REST for uploads (w), MKD (m), SITE CHMOD (M), MFMT (T).
    authorizer.add_user(args.user, password, args.root, perm="elradfmwMT")

    if args.tls:
        from OpenSSL import SSL
        from pyftpdlib.handlers import TLS_FTPHandler

        ctx = SSL.Context(SSL.TLS_SERVER_METHOD)
        ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
        ctx.set_options(SSL.OP_NO_COMPRESSION)
        ctx.use_certificate_chain_file(args.cert)
        ctx.use_privatekey_file(args.key)
        ctx.check_privatekey()

        class Handler(TLS_FTPHandler):
            pass

        Handler.ssl_context = ctx
        Handler.certfile = args.cert
        Handler.keyfile = args.key
        Handler.tls_control_required = True
        Handler.tls_data_required = True
    else:

        class Handler(FTPHandler):
            pass

    lo, hi = (int(x) for x in args.pasv.split("-"))
    Handler.authorizer = authorizer
    Handler.passive_ports = list(range(lo, hi + 1))
    Handler.masquerade_address = None  # PASV answers with 127.0.0.1
    Handler.permit_foreign_addresses = False  # PORT/EPRT only to the client
    Handler.permit_privileged_ports = False
    Handler.timeout = 3600  # control idle timeout

    class Dtp(Handler.dtp_handler):
        timeout = 3600  # data stall timeout

    Handler.dtp_handler = Dtp
    Handler.auth_failed_timeout = 0  # no 3 s sleep after a bad password
    Handler.banner = "ftpkit interop %s (pyftpdlib) ready." % args.name

    server = FTPServer(("127.0.0.1", args.port), Handler)
    server.max_cons = 256
    server.max_cons_per_ip = 0
    if args.run_as:
        # Key and password are loaded, the port is bound: drop root so that
        # uploaded files belong to the test user, as on the other servers.
        import pwd

        pw = pwd.getpwnam(args.run_as)
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
        os.environ["HOME"] = args.root
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
