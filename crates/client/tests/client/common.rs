//! Helpers the client tests share.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ftpkit::ops::{self, FileOptions, FileReport, MirrorOptions};
use ftpkit::tls::SystemRoots;
use ftpkit::{Client, Config, Credentials, ListLine, Security, Timeouts, Upload};
use ftpkit_testkit::{Script, ScriptedServer, ServerTls, TestPki, Transcript};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The user the scripts expect.
pub(crate) const USER: &str = "alice";
/// Its password.
pub(crate) const PASSWORD: &str = "s3cret";

/// A configuration for `server` (as `localhost`, logging in as
/// [`USER`]), every deadline `deadline`, trusting no system root.
pub(crate) fn config(server: &ScriptedServer, security: Security, deadline: Duration) -> Config {
    let mut c = Config::new("localhost");
    c.port = server.port();
    c.security = security;
    c.credentials = Some(Credentials::new(USER, PASSWORD));
    c.timeouts = Timeouts::all(deadline);
    c.tls.system_roots = SystemRoots::Exclude;
    c
}

/// [`config`] with explicit TLS, trusting `pki`'s CA.
pub(crate) fn explicit(server: &ScriptedServer, pki: &TestPki, deadline: Duration) -> Config {
    let mut c = config(server, Security::Explicit, deadline);
    c.tls.ca_certificates = vec![pki.ca_cert_der()];
    c
}

/// The plain login of [`USER`], with `feat` as the FEAT reply's lines.
pub(crate) fn logged_in(feat: &str) -> Script {
    Script::logged_in(USER, PASSWORD, Script::feat_reply(feat))
}

/// The explicit-TLS login of [`USER`], with no features.
pub(crate) fn tls_login() -> Script {
    Script::logged_in_tls(USER, PASSWORD, "211 none\r\n")
}

/// The greeting and `AUTH TLS`, for the test to answer.
pub(crate) fn auth_tls() -> Script {
    Script::new().send("220 hi\r\n").expect_line("AUTH TLS")
}

/// [`auth_tls`] accepted, then a TLS handshake that must fail.
pub(crate) fn failed_handshake() -> Script {
    auth_tls().reply("234 go\r\n").start_tls_expect_failure()
}

/// The explicit-TLS login of [`USER`] up to `PROT P`, answered `reply`.
pub(crate) fn tls_login_to_prot(reply: &str) -> Script {
    auth_tls()
        .reply("234 go\r\n")
        .start_tls()
        .expect_line(format!("USER {USER}"))
        .reply("331 pw\r\n")
        .expect_line(format!("PASS {PASSWORD}"))
        .reply("230 in\r\n")
        .expect_line("PBSZ 0")
        .reply("200 ok\r\n")
        .expect_line("PROT P")
        .reply(reply)
}

/// Connects a client trusting `pki` with explicit TLS to a server playing
/// `script` (with `pki`'s certificate), which must fail: the error, and
/// what the server saw.
pub(crate) async fn refused_explicit(script: Script, pki: &TestPki) -> (ftpkit::Error, Transcript) {
    let server = ScriptedServer::start_tls(script, ServerTls::new(pki)).await;
    let e = Client::connect(explicit(&server, pki, Duration::from_secs(3)))
        .await
        .unwrap_err();
    (e, server.finish().await)
}

/// `c` is broken for good: a `NOOP` fails without being sent.
pub(crate) async fn assert_broken(c: &mut Client) {
    assert!(c.is_broken());
    assert_eq!(
        c.noop().await.unwrap_err().kind(),
        ftpkit::ErrorKind::Broken
    );
}

/// Reads the whole of `path`, which must download without error.
pub(crate) async fn download(c: &mut Client, path: &str) -> Vec<u8> {
    let mut dl = c.retr(path).await.unwrap();
    read_all(&mut dl).await.unwrap()
}

/// Writes all of `data` to an upload and closes it.
pub(crate) async fn write_and_close(up: &mut Upload<'_>, data: &[u8]) {
    up.write_all(data).await.unwrap();
    up.shutdown().await.unwrap();
}

/// Calls every method of `c` that takes a path, name or other argument with
/// `bad` as that argument: what each returned, named by the method. None of
/// them may succeed.
pub(crate) async fn errors_for_argument(
    c: &mut Client,
    bad: &str,
) -> Vec<(&'static str, ftpkit::Error)> {
    vec![
        ("cwd", c.cwd(bad).await.unwrap_err()),
        ("mkdir", c.mkdir(bad).await.unwrap_err()),
        ("rmdir", c.rmdir(bad).await.unwrap_err()),
        ("delete", c.delete(bad).await.unwrap_err()),
        ("rename from", c.rename(bad, "ok").await.unwrap_err()),
        ("rename to", c.rename("ok", bad).await.unwrap_err()),
        ("size", c.size(bad).await.unwrap_err()),
        ("modified", c.modified(bad).await.unwrap_err()),
        ("site", c.site(bad).await.unwrap_err()),
        ("quote", c.quote(bad).await.unwrap_err()),
        ("retr", c.retr(bad).await.err().unwrap()),
        ("retr_from", c.retr_from(bad, 10).await.err().unwrap()),
        ("stor", c.stor(bad).await.err().unwrap()),
        ("stor_from", c.stor_from(bad, 10).await.err().unwrap()),
        ("appe", c.appe(bad).await.err().unwrap()),
        ("list", c.list(Some(bad)).await.unwrap_err()),
        ("mlsd", c.mlsd(Some(bad)).await.unwrap_err()),
        ("nlst", c.nlst(Some(bad)).await.unwrap_err()),
        ("login user", c.login(bad, "pw").await.unwrap_err()),
        ("login password", c.login("bob", bad).await.unwrap_err()),
        (
            "login account",
            c.login_with(Credentials::new("bob", "pw").with_account(bad))
                .await
                .unwrap_err(),
        ),
    ]
}

/// The rows of a listing of `path` by `ops::list_stream`, every one read
/// without error.
pub(crate) async fn list_rows(c: &mut Client, path: Option<&str>) -> Vec<ListLine> {
    ops::list_stream(c, path)
        .map(|r| r.unwrap())
        .collect()
        .await
}

/// The names of the entries among `rows`.
pub(crate) fn entry_names(rows: &[ListLine]) -> Vec<String> {
    rows.iter()
        .filter_map(|r| match r {
            ListLine::Entry(e) => Some(e.name.to_string()),
            _ => None,
        })
        .collect()
}

/// Mirror options with one session (the caller's own).
pub(crate) fn one_session() -> MirrorOptions {
    MirrorOptions {
        parallelism: 1,
        ..MirrorOptions::default()
    }
}

/// The modification time of the local file `path`, in seconds since 1970.
pub(crate) fn mtime_secs(path: &Path) -> u64 {
    std::fs::metadata(path)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A new directory holding the partial download of its file `f.bin`, with
/// `partial` in it: the directory, and the path of `f.bin`.
pub(crate) fn partial_target(tag: &str, partial: &[u8]) -> (PathBuf, PathBuf) {
    let dir = temp_dir(tag);
    let target = dir.join("f.bin");
    let part = ops::part_path(&target);
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    std::fs::write(&part, partial).unwrap();
    (dir, target)
}

/// A new, empty directory under the system's temporary directory.
pub(crate) fn temp_dir(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let d = std::env::temp_dir().join(format!("ftpkit-test-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The passive transfers the scripts repeat, as steps of a [`Script`].
pub(crate) trait ScriptExt {
    /// `EPSV`, answered with the port of a new passive listener.
    fn epsv(self) -> Self;
    /// `PASV`, answered with the address of a new passive listener.
    fn pasv(self) -> Self;
    /// `EPSV` refused, so that `PASV` comes, for the test to answer.
    fn epsv_refused(self) -> Self;
    /// [`epsv_refused`](Self::epsv_refused), and `PASV` answered with the
    /// port of a listener on 127.0.0.1 but the host 127.0.0.2 (loopback,
    /// nothing listens there).
    fn foreign_pasv(self) -> Self;
    /// `line`, answered `150`, then `data` on a
    /// data connection accepted on the open listener, closed, and `226`.
    fn send_data(self, line: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Self;
    /// `line`, answered `150`, then a data connection accepted on the open
    /// listener and read to its end, and `226`.
    fn receive_data(self, line: impl AsRef<[u8]>) -> Self;
    /// `line` after [`epsv`](Self::epsv), answered `mark`, and its data
    /// connection accepted: a transfer the script goes on with.
    fn epsv_open(self, line: impl AsRef<[u8]>, mark: &str) -> Self;
    /// [`send_data`](Self::send_data) after [`epsv`](Self::epsv).
    fn epsv_send(self, line: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Self;
    /// [`receive_data`](Self::receive_data) after [`epsv`](Self::epsv).
    fn epsv_receive(self, line: impl AsRef<[u8]>) -> Self;
    /// `SIZE path`, answered `213 size`.
    fn sized(self, path: &str, size: u64) -> Self;
    /// `REST offset`, accepted with `350`.
    fn rest(self, offset: u64) -> Self;
    /// A `PORT` or `EPRT` command starting with `prefix` (the address the
    /// client listens on; the port is its own), accepted with `200`.
    fn active_address(self, prefix: &'static str) -> Self;
    /// `PWD`, answered with `path`.
    fn pwd(self, path: &str) -> Self;
    /// `NOOP`, answered `200`.
    fn noop(self) -> Self;
    /// `QUIT`, answered `221`.
    fn quit(self) -> Self;
    /// The `PWD` with which the client checks the session after an abort
    /// (answered `/`), then a `NOOP`.
    fn after_abort_noop(self) -> Self;
}

impl ScriptExt for Script {
    fn epsv(self) -> Self {
        self.expect("EPSV").passive_listen().reply_epsv()
    }

    fn pasv(self) -> Self {
        self.expect("PASV").passive_listen().reply_pasv()
    }

    fn epsv_refused(self) -> Self {
        self.expect("EPSV").reply("502 no EPSV\r\n").expect("PASV")
    }

    fn foreign_pasv(self) -> Self {
        self.epsv_refused()
            .passive_listen()
            .reply_pasv_with_host([127, 0, 0, 2])
    }

    fn send_data(self, line: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Self {
        self.expect_line(line)
            .reply("150 go\r\n")
            .data_accept()
            .data_send(data)
            .data_close()
            .reply("226 done\r\n")
    }

    fn receive_data(self, line: impl AsRef<[u8]>) -> Self {
        self.expect_line(line)
            .reply("150 go\r\n")
            .data_accept()
            .data_recv_to_end()
            .reply("226 stored\r\n")
    }

    fn epsv_open(self, line: impl AsRef<[u8]>, mark: &str) -> Self {
        self.epsv().expect_line(line).reply(mark).data_accept()
    }

    fn epsv_send(self, line: impl AsRef<[u8]>, data: impl AsRef<[u8]>) -> Self {
        self.epsv().send_data(line, data)
    }

    fn epsv_receive(self, line: impl AsRef<[u8]>) -> Self {
        self.epsv().receive_data(line)
    }

    fn sized(self, path: &str, size: u64) -> Self {
        self.expect_line(format!("SIZE {path}"))
            .reply(format!("213 {size}\r\n"))
    }

    fn rest(self, offset: u64) -> Self {
        self.expect_line(format!("REST {offset}"))
            .reply("350 restarting\r\n")
    }

    fn active_address(self, prefix: &'static str) -> Self {
        self.expect_matching(&format!("{prefix}<port>"), move |l| {
            l.text().starts_with(prefix)
        })
        .reply("200 ok\r\n")
    }

    fn pwd(self, path: &str) -> Self {
        self.expect_line("PWD").reply(format!("257 \"{path}\"\r\n"))
    }

    fn noop(self) -> Self {
        self.expect_line("NOOP").reply("200 ok\r\n")
    }

    fn quit(self) -> Self {
        self.expect("QUIT").reply("221 bye\r\n")
    }

    fn after_abort_noop(self) -> Self {
        self.pwd("/").noop()
    }
}

/// Starts a server playing `script` and connects a client to it with the
/// configuration `config` makes for that server.
pub(crate) async fn start(
    script: Script,
    config: impl FnOnce(&ScriptedServer) -> Config,
) -> (ScriptedServer, Client) {
    let server = ScriptedServer::start(script).await;
    let client = Client::connect(config(&server)).await.unwrap();
    (server, client)
}

/// Drops `client` (a [`Client`] or anything holding one), waits for
/// `server` to end and checks that its script ran as written; returns what
/// it saw.
pub(crate) async fn finish<C>(server: ScriptedServer, client: C) -> Transcript {
    drop(client);
    let t = server.finish().await;
    t.assert_ok();
    t
}

/// `ops::download_file` of `f.bin` to `target` with `opts`, from a server
/// playing `script` connected with the configuration `config` makes; the
/// script must run as written.
pub(crate) async fn download_file(
    script: Script,
    config: impl FnOnce(&ScriptedServer) -> Config,
    target: &Path,
    opts: &FileOptions,
) -> ftpkit::Result<FileReport> {
    let (server, mut c) = start(script, config).await;
    let r = ops::download_file(&mut c, "f.bin", target, opts).await;
    finish(server, c).await;
    r
}

/// Downloads `f` from a server playing `script`, connected with the
/// configuration `config` makes; the script must run as written. The
/// bytes, and what the server saw.
pub(crate) async fn download_from(
    script: Script,
    config: impl FnOnce(&ScriptedServer) -> Config,
) -> (Vec<u8>, Transcript) {
    let (server, mut c) = start(script, config).await;
    let got = download(&mut c, "f").await;
    (got, finish(server, c).await)
}

/// The session goes on: a `NOOP` works; then [`finish`].
pub(crate) async fn finish_after_noop(server: ScriptedServer, mut client: Client) -> Transcript {
    client.noop().await.unwrap();
    finish(server, client).await
}

/// Reads a download to its end, returning the bytes or the ftpkit error.
pub(crate) async fn read_all(dl: &mut ftpkit::Download<'_>) -> Result<Vec<u8>, ftpkit::Error> {
    let mut v = Vec::new();
    dl.read_to_end(&mut v)
        .await
        .map(|_| v)
        .map_err(ftpkit::Error::from_io_error)
}

/// Starts an in-process libunftp server on `root` (anonymous logins) and
/// waits until it listens; `passive`: its passive ports (libunftp's
/// default range when `None`).
pub(crate) async fn libunftp(root: &Path, passive: Option<RangeInclusive<u16>>) -> SocketAddr {
    let root = root.to_path_buf();
    let mut builder = libunftp::ServerBuilder::new(Box::new(move || {
        unftp_sbe_fs::Filesystem::new(root.clone()).unwrap()
    }))
    .greeting("ftpkit test server (libunftp)");
    if let Some(range) = passive {
        builder = builder.passive_ports(range);
    }
    let server = builder.build().unwrap();
    let addr = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap();
    tokio::spawn(server.listen(addr.to_string()));
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return addr;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("libunftp did not listen on {addr}");
}

/// A plain anonymous configuration for a [`libunftp`] server at `addr`.
pub(crate) fn libunftp_config(addr: SocketAddr) -> Config {
    let mut c = Config::new(addr.ip().to_string());
    c.port = addr.port();
    c.security = Security::None;
    c.credentials = Some(Credentials::new("anonymous", "test@"));
    c.timeouts = Timeouts::all(Duration::from_secs(10));
    c
}
