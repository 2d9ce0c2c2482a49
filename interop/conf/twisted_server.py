"""One Twisted FTP server instance (twisted.protocols.ftp) for the ftpkit
interop suite.

Started by interop/servers.sh with the venv's python:
    python twisted_server.py --name N --port P --root DIR --pasv MIN-MAX \
        --user U --password-file F [--run-as USER]
It runs in the foreground, logs to stderr (servers.sh redirects it to the
runtime dir) and listens on 127.0.0.1 only, passive data ports included.
Plain FTP only: Twisted's FTP server has no TLS.

Known behaviour of the server itself (docs/server-quirks.md, TWISTED-*): no
REST (502), no MLSD/MLST, no ABOR, after PASV/EPSV it reads no further
command until the data connection is open (or 10 s pass), NLST needs an
argument, command lines are decoded as latin-1 and names sent back as UTF-8.
"""

import argparse
import hmac
import os
import sys

from twisted.cred import credentials, error, portal
from twisted.cred.checkers import ICredentialsChecker
from twisted.internet import defer, reactor
from twisted.protocols import ftp
from twisted.python import filepath, log
from zope.interface import implementer

HOST = "127.0.0.1"


@implementer(ICredentialsChecker)
class OneUser:
    """One user name and password (str: Twisted's FTP passes both decoded
    as latin-1)."""

    credentialInterfaces = (credentials.IUsernamePassword,)

    def __init__(self, user, password):
        self.user = user
        self.password = password

    def requestAvatarId(self, creds):
        user = creds.username
        if isinstance(user, bytes):
            user = user.decode("latin-1")
        if user == self.user and creds.checkPassword(self.password):
            return defer.succeed(user)
        return defer.fail(error.UnauthorizedLogin())


class Realm(ftp.BaseFTPRealm):
    """Every authenticated user gets the instance root as its home ("/")."""

    def __init__(self, root):
        super().__init__(root)
        self.root = filepath.FilePath(root)

    def getHomeDirectory(self, avatarId):
        return self.root


class LoopbackFTP(ftp.FTP):
    """Passive data ports on 127.0.0.1 only (stock Twisted listens on all
    IPv4 addresses for PASV and on "::" for EPSV)."""

    def getDTPPort(self, factory, interface=""):
        return super().getDTPPort(factory, interface=HOST)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--pasv", required=True, help="MIN-MAX passive port range")
    ap.add_argument("--user", required=True)
    ap.add_argument("--password-file", required=True)
    ap.add_argument("--run-as", help="drop root to this user after binding")
    args = ap.parse_args()

    log.startLogging(sys.stderr, setStdout=False)
    os.umask(0o022)

    with open(args.password_file, encoding="ascii") as f:
        password = f.read().strip()

    p = portal.Portal(Realm(args.root), [OneUser(args.user, password)])
    factory = ftp.FTPFactory(p)
    factory.protocol = LoopbackFTP
    factory.allowAnonymous = False
    factory.timeOut = 3600  # control idle timeout
    factory.welcomeMessage = "ftpkit interop %s (Twisted FTP) ready." % args.name
    lo, hi = (int(x) for x in args.pasv.split("-"))
    factory.passivePortRange = range(lo, hi + 1)

    reactor.listenTCP(args.port, factory, interface=HOST)
    if args.run_as:
        # The port is bound: drop root so that uploaded files belong to the
        # test user, as on the other servers.
        import pwd

        pw = pwd.getpwnam(args.run_as)
        os.setgroups([])
        os.setgid(pw.pw_gid)
        os.setuid(pw.pw_uid)
        os.environ["HOME"] = args.root
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
