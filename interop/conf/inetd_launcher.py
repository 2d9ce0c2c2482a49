"""A minimal inetd for one service, for the ftpkit interop suite.

Started by interop/servers.sh (GNU inetutils ftpd, instance INETUTILS):
    python inetd_launcher.py --name N --port P -- /path/to/ftpd ARGS...
Listens on 127.0.0.1:P only; for each connection it forks a child whose
stdin and stdout are the accepted socket (as inetd's "nowait" services get
it) and execs the command there. stderr stays the launcher's (the instance
log). Children stay in the launcher's session, so `servers.sh stop` finds
them. Runs in the foreground until SIGTERM.
"""

import argparse
import os
import signal
import socket
import sys
import time

HOST = "127.0.0.1"


def log(name, msg):
    sys.stderr.write("%s %s inetd: %s\n" % (time.strftime("%Y-%m-%d %H:%M:%S"), name, msg))
    sys.stderr.flush()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not cmd:
        ap.error("no command after --")

    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((HOST, args.port))
    ls.listen(128)
    # The kernel reaps the children: no zombies, no waitpid loop.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log(args.name, "listening on %s:%d for %s" % (HOST, args.port, " ".join(cmd)))

    while True:
        try:
            conn, peer = ls.accept()
        except InterruptedError:
            continue
        pid = os.fork()
        if pid == 0:
            try:
                ls.close()
                fd = conn.fileno()
                os.dup2(fd, 0)
                os.dup2(fd, 1)
                if fd > 2:
                    os.close(fd)
                # Default signal dispositions for the service (SIG_IGN for
                # SIGCHLD would survive exec and break its waitpid calls).
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGPIPE, signal.SIG_DFL)
                os.execv(cmd[0], cmd)
            except BaseException as e:  # noqa: BLE001 - child: report, never return
                log(args.name, "exec %s failed: %s" % (cmd[0], e))
            os._exit(127)
        conn.close()
        log(args.name, "connection from %s:%d -> pid %d" % (peer[0], peer[1], pid))


if __name__ == "__main__":
    sys.exit(main())
